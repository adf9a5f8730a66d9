"""Dynamic batching of concurrent queries: many request threads, one model thread, one forward pass.

A forward pass of one image costs nearly as much core time as a small batch on a CPU (and far more per
item on a GPU), so requests that arrive together are run together, the way Triton's dynamic batcher and
Ray Serve's ``@serve.batch`` do: a request thread preprocesses its own input (decode, resize, tokenize run
in parallel there), hands it over and waits; the model thread takes whatever is waiting, up to
``max_batch``, and hands each request its own vector. The batcher knows which requests are still preparing
their input: a part-filled batch is held for those (at most ``max_wait``), and a lone query, with nobody on
the way, runs at once rather than paying the wait for a batch that cannot come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
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
    max_wait: float = 0.002      # seconds a part-filled batch waits for queries still being prepared
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
        self._changed = threading.Condition()  # guards what follows; notified on each arrival and on close
        self._pending: deque[_Query] = deque()
        self._arriving = 0  # queries whose input a request thread is still preparing
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="shoplens-model", daemon=True)
        self._thread.start()

    def encode_image(self, image: Image.Image, still_wanted: Callable[[], bool] = _always) -> np.ndarray:
        """The unit-norm vector of one RGB image.  :raise Overloaded, ClientGone: see the classes."""
        return self.encode_photo(lambda: image, still_wanted)

    def encode_photo(self, load: Callable[[], Image.Image], still_wanted: Callable[[], bool] = _always) -> np.ndarray:
        """The vector of the image ``load`` returns (it decodes an upload): while it runs, a batch about to start
        may wait for this query.  :raise Overloaded, ClientGone:, or whatever ``load`` raises."""
        [query] = self._queue("image", lambda: [self.model.prepare_image(load())], 1, still_wanted)
        return self._wait(query)

    def encode_text(self, text: str, still_wanted: Callable[[], bool] = _always) -> np.ndarray:
        """The unit-norm vector of one text.  :raise Overloaded, ClientGone: see the classes."""
        [query] = self._queue("text", lambda: [self.model.tokenize([text])[0]], 1, still_wanted)
        return self._wait(query)

    def submit_images(self, images: Sequence[Image.Image],
                      still_wanted: Callable[[], bool] = _always) -> Callable[[], np.ndarray]:
        """Queue images together so that they share forward passes; the returned call waits for their
        ``(len(images), dim)`` unit vectors, so the request thread can do other work meanwhile.

        :raise Overloaded: here or from the returned call, which may also raise ClientGone.
        """
        queries = self._queue("image", lambda: [self.model.prepare_image(image) for image in images], len(images),
                              still_wanted)  # all prepared before the first is queued
        return lambda: np.stack([self._wait(query) for query in queries])

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking queries; the model thread answers those already queued, then exits."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _queue(self, tower: str, prepare: Callable[[], list[object]], count: int,
               still_wanted: Callable[[], bool]) -> list[_Query]:
        """Run ``prepare`` (decode, resize, tokenize) as ``count`` arriving queries, then queue what it made."""
        with self._changed:
            if self._closing:
                raise Overloaded("The server is shutting down; try again in a moment.")
            self._arriving += count
        try:
            payloads = prepare()
        except BaseException:
            self._arrived([], count)  # no batch waits for these any longer
            raise
        deadline = time.monotonic() + self.config.queue_timeout
        return self._arrived([_Query(tower, payload, deadline, still_wanted) for payload in payloads], count)

    def _arrived(self, queries: list[_Query], count: int = 1) -> list[_Query]:
        with self._changed:
            self._arriving -= count
            self._changed.notify()
            if queries and self._closing:
                raise Overloaded("The server is shutting down; try again in a moment.")
            self._pending.extend(queries)
        return queries

    def _wait(self, query: _Query) -> np.ndarray:
        try:
            return query.future.result(timeout=max(0.0, query.deadline - time.monotonic()))
        except FutureTimeout:
            query.future.cancel()  # the model thread skips it, or drops the vector if it is running
            raise Overloaded(f"The model is busy: the query waited more than {self.config.queue_timeout:g} s.") \
                from None

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _next_batch(self) -> list[_Query] | None:
        """What is queued, up to max_batch, held at most max_wait while more queries are being prepared; None
        once closing with nothing left."""
        with self._changed:
            while not self._pending:
                if self._closing:
                    return None
                self._changed.wait()
            flush_at = time.monotonic() + self.config.max_wait
            while len(self._pending) < self.config.max_batch and self._arriving and not self._closing:
                remaining = flush_at - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return [self._pending.popleft() for _ in range(min(len(self._pending), self.config.max_batch))]

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
