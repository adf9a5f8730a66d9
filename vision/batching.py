"""Dynamic batching of concurrent queries: many request threads, one model thread, one forward pass.

A forward pass of one image costs nearly as much core time as a small batch on a CPU (and far more per
item on a GPU), so requests that arrive together are run together, the way Triton's dynamic batcher and
Ray Serve's ``@serve.batch`` do: a request thread preprocesses its own input (decode, resize, tokenize run
in parallel there), hands it over and waits; the model thread takes whatever is waiting, up to
``max_batch``, waiting at most ``max_wait`` for more when the batch is not full, and hands each request
its own vector.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

TOWERS = ("image", "text")


class Overloaded(RuntimeError):
    """The query waited past its deadline, or the batcher is shutting down: try again shortly."""


class ClientGone(RuntimeError):
    """The client hung up before its query reached the model; nobody is left to answer."""


class BatchObserver(Protocol):
    """What the batcher reports (the server turns it into metrics); every method must be cheap."""

    def batch_ran(self, tower: str, size: int, forward_seconds: float, waits: Sequence[float]) -> None: ...

    def query_dropped(self, tower: str, reason: str) -> None: ...


class TowerModel(Protocol):
    """The part of ``vision.embedder.Embedder`` the batcher needs."""

    def prepare_image(self, image: Image.Image) -> object: ...

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor: ...

    def encode_prepared(self, prepared: Sequence[object]) -> np.ndarray: ...

    def encode_tokens(self, tokens: torch.Tensor) -> np.ndarray: ...


@dataclass(frozen=True)
class BatchingConfig:
    max_batch: int = 16
    max_wait: float = 0.002      # seconds the model thread waits for a fuller batch
    queue_timeout: float = 10.0  # seconds a query may wait for the model before Overloaded


@dataclass
class _Query:
    tower: str
    payload: object  # a prepared image or token ids
    deadline: float
    still_wanted: Callable[[], bool]
    enqueued: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


def _always() -> bool:
    return True


class QueryBatcher:
    """One per process; thread-safe. ``close()`` answers every query already queued, then stops."""

    def __init__(self, model: TowerModel, config: BatchingConfig, observer: BatchObserver | None = None):
        if config.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model = model
        self.config = config
        self.observer = observer
        self._queue: queue.SimpleQueue[_Query | None] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="shoplens-model", daemon=True)
        self._thread.start()

    def encode_image(self, image: Image.Image, still_wanted: Callable[[], bool] = _always) -> np.ndarray:
        """The unit-norm vector of one RGB image.  :raise Overloaded, ClientGone: see the classes."""
        return self._submit("image", self.model.prepare_image(image), still_wanted)

    def encode_text(self, text: str, still_wanted: Callable[[], bool] = _always) -> np.ndarray:
        """The unit-norm vector of one text.  :raise Overloaded, ClientGone: see the classes."""
        return self._submit("text", self.model.tokenize([text])[0], still_wanted)

    def submit_images(self, images: Sequence[Image.Image],
                      still_wanted: Callable[[], bool] = _always) -> Callable[[], np.ndarray]:
        """Queue images together so that they share forward passes; the returned call waits for their
        ``(len(images), dim)`` unit vectors, so the request thread can do other work meanwhile.

        :raise Overloaded: here or from the returned call, which may also raise ClientGone.
        """
        prepared = [self.model.prepare_image(image) for image in images]  # all ready before the first is queued
        queries = [self._enqueue("image", payload, still_wanted) for payload in prepared]
        return lambda: np.stack([self._wait(query) for query in queries])

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking queries; the model thread answers those already queued, then exits."""
        if not self._closing.is_set():
            self._closing.set()
            self._queue.put(None)
        self._thread.join(timeout)

    def _submit(self, tower: str, payload: object, still_wanted: Callable[[], bool]) -> np.ndarray:
        return self._wait(self._enqueue(tower, payload, still_wanted))

    def _enqueue(self, tower: str, payload: object, still_wanted: Callable[[], bool]) -> _Query:
        if self._closing.is_set():
            raise Overloaded("The server is shutting down; try again in a moment.")
        query = _Query(tower, payload, time.monotonic() + self.config.queue_timeout, still_wanted)
        self._queue.put(query)
        return query

    def _wait(self, query: _Query) -> np.ndarray:
        try:
            return query.future.result(timeout=max(0.0, query.deadline - time.monotonic()))
        except FutureTimeout:
            query.future.cancel()  # the model thread skips it, or drops the vector if it is running
            raise Overloaded(f"The model is busy: the query waited more than {self.config.queue_timeout:g} s.") \
                from None

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drain_remaining()
                return
            batch, stop = self._gather(first)
            self._run(batch)
            if stop:
                self._drain_remaining()
                return

    def _gather(self, first: _Query) -> tuple[list[_Query], bool]:
        """The first query plus whatever else is waiting, up to max_batch; True when a stop was seen."""
        batch = [first]
        flush_at = time.monotonic() + self.config.max_wait
        while len(batch) < self.config.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = flush_at - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _drain_remaining(self) -> None:
        leftovers = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        for start in range(0, len(leftovers), self.config.max_batch):
            self._run(leftovers[start:start + self.config.max_batch])

    def _run(self, batch: list[_Query]) -> None:
        now = time.monotonic()
        live = []
        for query in batch:
            reason = self._drop_reason(query, now)
            if reason is None:
                live.append(query)
                continue
            if self.observer:
                self.observer.query_dropped(query.tower, reason)
            error = ClientGone("The client disconnected.") if reason == "client_gone" else Overloaded(
                f"The model is busy: the query waited more than {self.config.queue_timeout:g} s.")
            _settle(query.future, error=error)
        for tower in TOWERS:
            group = [query for query in live if query.tower == tower]
            if group:
                self._forward(tower, group)

    @staticmethod
    def _drop_reason(query: _Query, now: float) -> str | None:
        if query.future.cancelled():
            return "deadline"
        if now > query.deadline:
            return "deadline"
        try:
            wanted = query.still_wanted()
        except Exception:  # a broken liveness check must not take the batch down
            wanted = True
        return None if wanted else "client_gone"

    def _forward(self, tower: str, group: list[_Query]) -> None:
        started = time.monotonic()
        try:
            vectors = self._encode(tower, [query.payload for query in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0].future, error=exc)
                return
            log.warning("A batch of %d %s queries failed (%s); running them one by one", len(group), tower,
                        type(exc).__name__)
            for query in group:  # only the input that fails fails its request
                self._forward(tower, [query])
            return
        if self.observer:
            self.observer.batch_ran(tower, len(group), time.monotonic() - started,
                                    [started - query.enqueued for query in group])
        for query, vector in zip(group, vectors):
            _settle(query.future, result=vector)

    def _encode(self, tower: str, payloads: list) -> np.ndarray:
        if tower == "image":
            return self.model.encode_prepared(payloads)
        return self.model.encode_tokens(torch.stack(payloads))


def _settle(future: Future, result: np.ndarray | None = None, error: BaseException | None = None) -> None:
    """Answer a query unless its request gave up waiting (then nobody reads it)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
