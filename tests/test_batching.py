"""The micro-batcher: concurrent queries share forward passes without changing a single answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from tests.conftest import gradient_image, make_settings, product_image
from vision.batching import BatchingConfig, ClientGone, Overloaded, QueryBatcher


class Recorder:
    """A BatchObserver that keeps what it hears."""

    def __init__(self):
        self.batches: list[tuple[str, int]] = []
        self.dropped: list[tuple[str, str]] = []

    def batch_ran(self, tower, size, forward_seconds, waits):
        assert forward_seconds >= 0 and len(waits) == size
        self.batches.append((tower, size))

    def query_dropped(self, tower, reason):
        self.dropped.append((tower, reason))


class FakeTowers:
    """Vectors that encode the input's first value; a NaN input breaks any batch it is in; a gate holds passes."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.passes = 0

    def prepare_image(self, image):
        return float(image)

    def tokenize(self, texts):
        return torch.tensor([[len(text)] for text in texts], dtype=torch.float32)

    def _vectors(self, first_values):
        self.gate.wait(10)
        self.passes += 1
        if torch.isnan(first_values).any():
            raise ValueError("poisoned input")
        values = first_values.numpy().astype(np.float32)
        return np.stack([values, np.ones_like(values)], axis=1)

    def encode_prepared(self, prepared):
        return self._vectors(torch.tensor(prepared))

    def encode_tokens(self, tokens):
        return self._vectors(tokens[:, 0])


def run_together(batcher: QueryBatcher, calls, towers: FakeTowers | None = None):
    """Start every call in its own thread while the model is held, then let it go: they share passes."""
    if towers is not None:
        towers.gate.clear()
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call, batcher) for call in calls]
        time.sleep(0.3)
        if towers is not None:
            towers.gate.set()
        return [future.exception() or future.result() for future in futures]


def test_batched_vectors_equal_one_at_a_time_ones(embedder, shop_index):
    """Same vectors (cosine >= 0.9999) and the same top-10 from the index, batched or not."""
    from indexer.stores.index_store import IndexStore

    settings = make_settings(shop_index)
    store = IndexStore.open(shop_index, settings.vector_stores())
    images = [product_image(i, (120, 96)) for i in range(6)] + [gradient_image(seed=s) for s in range(4)]
    texts = ["red dress", "a leather bag", "shoes", "blue satin", "lipstick", "green coat"]
    alone = [embedder.encode_images([image])[0] for image in images] + [embedder.encode_texts([t])[0] for t in texts]
    recorder = Recorder()
    batcher = QueryBatcher(embedder, BatchingConfig(max_batch=16, max_wait=1.0), recorder)  # 16 queries fill it
    try:
        calls = [lambda b, image=image: b.encode_image(image) for image in images]
        calls += [lambda b, text=text: b.encode_text(text) for text in texts]
        together = run_together(batcher, calls)
    finally:
        batcher.close()
    assert max(size for _, size in recorder.batches) > 1, "nothing was batched"
    for single, batched in zip(alone, together):
        assert float(np.dot(single, batched)) >= 0.9999
        top_alone, top_batched = store.search(single, 10), store.search(batched, 10)
        assert [hit.product.id for hit in top_alone] == [hit.product.id for hit in top_batched]


def test_a_failing_input_fails_only_its_own_request():
    towers, recorder = FakeTowers(), Recorder()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=8, max_wait=0.05), recorder)
    values = [2.0, float("nan"), 4.0, 5.0]
    try:
        towers.gate.clear()
        with ThreadPoolExecutor(len(values) + 1) as pool:
            first = pool.submit(batcher.encode_image, 1.0)
            time.sleep(0.3)  # the model thread now holds the first query at the gate; the rest queue up
            futures = [pool.submit(batcher.encode_image, value) for value in values]
            time.sleep(0.3)
            towers.gate.set()
            results = [future.exception() or future.result() for future in futures]
            assert first.result()[0] == 1.0
    finally:
        towers.gate.set()
        batcher.close()
    assert isinstance(results[1], ValueError)
    assert [results[i][0] for i in (0, 2, 3)] == [2.0, 4.0, 5.0]
    assert towers.passes == 1 + 1 + len(values), "the failing batch was not retried one query at a time"


def test_a_lone_query_runs_at_once_without_waiting_for_a_batch():
    towers, recorder = FakeTowers(), Recorder()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=8, max_wait=5.0), recorder)
    try:
        started = time.monotonic()
        assert batcher.encode_image(1.0)[0] == 1.0 and batcher.encode_text("hello")[0] == 5
        assert time.monotonic() - started < 2.0, "a query nobody could join waited for a batch"
        assert recorder.batches == [("image", 1), ("text", 1)]
    finally:
        batcher.close()


def slow_photo(value: float, decoding: threading.Event, seconds: float = 0.3):
    """A ``load`` for encode_photo that takes a while, like decoding a big upload; a NaN one fails instead."""

    def load():
        decoding.set()
        time.sleep(seconds)
        if value != value:
            raise ValueError("not a photo")
        return value

    return load


@pytest.mark.parametrize("decodes", [True, False], ids=["photo-arrives", "photo-fails"])
def test_a_batch_waits_for_a_photo_still_decoding_and_no_longer(decodes):
    towers, recorder = FakeTowers(), Recorder()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=8, max_wait=5.0), recorder)
    decoding = threading.Event()
    try:
        with ThreadPoolExecutor(2) as pool:
            started = time.monotonic()
            slow = pool.submit(batcher.encode_photo, slow_photo(2.0 if decodes else float("nan"), decoding))
            decoding.wait(5)
            quick = pool.submit(batcher.encode_image, 1.0)  # queued while the other photo still decodes
            assert quick.result(5)[0] == 1.0
            assert time.monotonic() - started < 2.0, "the batch waited longer than the decode"
            if decodes:
                assert slow.result(5)[0] == 2.0
            else:
                assert isinstance(slow.exception(5), ValueError)
        assert recorder.batches == [("image", 2 if decodes else 1)]  # together, or the failed photo alone
        started = time.monotonic()
        assert batcher.encode_image(3.0)[0] == 3.0 and time.monotonic() - started < 2.0  # none left on its way
    finally:
        batcher.close()


def test_queries_past_their_deadline_are_dropped_not_run():
    towers, recorder = FakeTowers(), Recorder()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=4, max_wait=0.0, queue_timeout=0.2), recorder)
    try:
        towers.gate.clear()  # the model is stuck on the first query
        with ThreadPoolExecutor(3) as pool:
            first = pool.submit(batcher.encode_image, 1.0)
            time.sleep(0.05)
            late = pool.submit(batcher.encode_text, "too late")
            assert isinstance(late.exception(timeout=5), Overloaded)
            assert isinstance(first.exception(timeout=5), Overloaded)
            towers.gate.set()
        # queued after the late query, so answered only once the model thread has dealt with that one
        assert batcher.encode_text("fine now")[0] == len("fine now")
        assert ("text", "deadline") in recorder.dropped
        assert towers.passes == 2  # the first query and "fine now": the late one never reached the model
    finally:
        towers.gate.set()
        batcher.close()


def test_queries_whose_client_hung_up_are_dropped():
    towers, recorder = FakeTowers(), Recorder()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=4, max_wait=0.0), recorder)
    try:
        with pytest.raises(ClientGone):
            batcher.encode_image(3.0, still_wanted=lambda: False)
        assert recorder.dropped == [("image", "client_gone")] and towers.passes == 0
    finally:
        batcher.close()


def test_close_answers_what_is_queued_then_refuses():
    towers = FakeTowers()
    batcher = QueryBatcher(towers, BatchingConfig(max_batch=2, max_wait=0.0))
    towers.gate.clear()
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(batcher.encode_image, float(v)) for v in range(5)]
        time.sleep(0.2)
        closer = threading.Thread(target=batcher.close)
        closer.start()
        time.sleep(0.1)
        towers.gate.set()
        closer.join(10)
        assert sorted(float(f.result(timeout=5)[0]) for f in futures) == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(Overloaded):
        batcher.encode_image(1.0)


def test_an_overloaded_model_answers_503_with_retry_after(shop_index):
    from app import create_app

    app = create_app(make_settings(shop_index, queue_timeout=0.05), background_load=False)
    state = app.extensions["shoplens"]
    gate = threading.Event()
    real = state.embedder.encode_tokens
    state.embedder.encode_tokens = lambda tokens: (gate.wait(5), real(tokens))[1]
    try:
        with ThreadPoolExecutor(2) as pool:
            stuck = pool.submit(app.test_client().get, "/api/v1/search?q=first")
            time.sleep(0.1)
            response = app.test_client().get("/api/v1/search?q=second")
            gate.set()
            stuck.result(timeout=10)
    finally:
        gate.set()
        state.stop()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "overloaded"
    assert int(response.headers["Retry-After"]) > 0
