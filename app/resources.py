"""The model and the index, loaded once per process and reached through ``resources()``.

Loading takes seconds (CLIP weights, a FAISS file), so a server loads in a background thread:
``/healthz`` answers at once, ``/readyz`` and the search endpoints once both are in memory. A poller
thread then picks up new index versions as the indexer publishes them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

from app.errors import ApiError
from app.settings import Settings
from indexer.records import Manifest
from indexer.stores.index_store import CorruptIndex, IndexNotFound, IndexStore
from indexer.stores.milvus_store import is_local_file
from indexer.stores.vector_store import VectorStoreError
from indexer.stores.versions import read_current
from vision.batching import BatchingConfig, BatchObserver, QueryBatcher
from vision.devices import DeviceUnavailable
from vision.embedder import Embedder
from vision.face import FaceLandmarker
from vision.precision import FIDELITY_BOUND, PrecisionUnavailable, check_precision, fidelity_between
from vision.weights import UnknownModel, WeightsNotFound, model_id, resolve_model_name, resolve_weights

log = logging.getLogger(__name__)
EXTENSION = "shoplens"
RETRY_SECONDS = 5.0


class ModelMismatch(RuntimeError):
    """The configured model differs from the one that built the index: vectors would not compare."""


class IndexObserver(BatchObserver, Protocol):
    """What the server's metrics hear from the resources: batches, and which index version is live."""

    def live_index(self, version: str, model: str, products: int) -> None: ...


class Resources:
    def __init__(self, settings: Settings, observer: IndexObserver | None = None, model: Embedder | None = None):
        """``model``: an already-built model to serve instead of loading the index's (benches and tests use a
        stand-in with ``Embedder``'s interface); it must carry the index's ``model_id``."""
        self.settings = settings
        self.observer = observer
        self._given_model = model
        self._embedder: Embedder | None = None
        self._batcher: QueryBatcher | None = None
        self._store: IndexStore | None = None
        self.error: str | None = None
        self._landmarker: FaceLandmarker | None = None
        self._landmarker_lock = threading.Lock()
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._loading = False
        self._threads: list[threading.Thread] = []

    @property
    def ready(self) -> bool:
        return self._embedder is not None and self._store is not None

    @property
    def embedder(self) -> Embedder:
        """:raise ApiError: index_not_ready when loading failed or takes longer than the wait."""
        if self._embedder is None:
            self._wait_for_first_load()
        return self._embedder

    @property
    def queries(self) -> QueryBatcher:
        """The worker's micro-batcher for query vectors.  :raise ApiError: index_not_ready, as ``embedder``."""
        if self._batcher is None:
            self._wait_for_first_load()
        return self._batcher

    @property
    def store(self) -> IndexStore:
        """:raise ApiError: index_not_ready when loading failed or takes longer than the wait."""
        if self._store is None:
            self._wait_for_first_load()
        return self._store

    def _wait_for_first_load(self) -> None:
        """A request reaching a worker that is still loading waits for it rather than failing.

        This is what lets gunicorn replace a dead worker without failing requests: the new worker
        accepts connections at once, and the few that arrive while it loads are answered late, not
        with an error. A failed load (no index yet, missing weights) answers at once.
        """
        deadline = time.monotonic() + self.settings.ready_wait
        while self._embedder is None or self._store is None:
            if self.error is not None or time.monotonic() >= deadline or not self._loading:
                raise self._not_ready()
            self._loaded.wait(0.05)

    @property
    def landmarker(self) -> FaceLandmarker:
        """Face finder; it needs neither the model nor the index, so try-on works while they load."""
        with self._landmarker_lock:
            if self._landmarker is None:
                self._landmarker = FaceLandmarker(max_faces=self.settings.max_faces,
                                                  views=self.settings.mesh_views)
            return self._landmarker

    def load(self) -> None:
        """Open the live index, then the model it was built with.

        :raise IndexNotFound, CorruptIndex, WeightsNotFound, UnknownModel, ModelMismatch, PrecisionUnavailable:
        """
        store = IndexStore.open(Path(self.settings.index_dir), self.settings.vector_stores())
        manifest = store.live.manifest
        embedder = self._given_model or self._load_model(manifest)
        if embedder.model_id != manifest.model_id:
            raise ModelMismatch(f"The index was built with {manifest.model_id} but the server loaded "
                                f"{embedder.model_id}; re-index or drop the --model/--pretrained override.")
        batching = BatchingConfig(max_batch=self.settings.batch_limit(), max_wait=self.settings.batch_wait(),
                                  queue_timeout=self.settings.queue_timeout)
        self._batcher = QueryBatcher(embedder, batching, self.observer)
        self._embedder, self._store, self.error = embedder, store, None
        self._report_live()
        self._loaded.set()
        log.info("Ready: index version %s, %d products, model %s", store.live.name, manifest.count,
                 embedder.model_id)

    def _load_model(self, manifest: Manifest) -> Embedder:
        """The index's model, in the fastest precision that agrees with the one the index was built in."""
        config = replace(self.settings.embedder_config(manifest.model, manifest.pretrained),
                         threads=self.settings.serving_threads())
        embedder = Embedder(config)
        if embedder.model_id != manifest.model_id:
            return embedder  # refused by the caller
        if fidelity_between(embedder.precision, manifest.built_in) < FIDELITY_BOUND:
            if embedder.precision.name == "fp32":
                raise ModelMismatch(f"The index was built in {manifest.precision}, which agrees with fp32 only to "
                                    f"cosine {manifest.precision_fidelity:.4f}; re-index with --precision fp32.")
            log.warning("Querying in fp32: %s queries against this %s index could drift past cosine %.3f",
                        embedder.precision.name, manifest.precision, FIDELITY_BOUND)
            embedder = Embedder(replace(config, precision="fp32"))
        return embedder

    def preflight(self) -> None:
        """Check, without building the model, that the index and its weights are there and agree.

        Cheap enough for a server's master process, which must not initialise torch before forking (so
        the precision's fit with the device is checked by each worker, not here).
        :raise IndexNotFound, CorruptIndex, WeightsNotFound, UnknownModel, ModelMismatch, PrecisionUnavailable:
        """
        check_precision(self.settings.precision, None)
        root = Path(self.settings.index_dir)
        version = read_current(root)
        if version is None:
            raise IndexNotFound(f"No index in {root}: run `shoplens index --catalog ...` first.")
        try:
            manifest = Manifest.read(root / version / "manifest.json")
        except (OSError, ValueError, TypeError) as exc:
            raise CorruptIndex(f"Index version {version} has no readable manifest: {exc}") from exc
        if manifest.vector_store == "milvus":
            check_milvus_shareable(self.settings)
        config = self.settings.embedder_config(manifest.model, manifest.pretrained)
        name = resolve_model_name(config.model)
        weights = resolve_weights(name, config.pretrained, cache_dir=config.cache_dir,
                                  allow_download=config.allow_download)
        configured = model_id(name, weights.path)
        if configured != manifest.model_id:
            raise ModelMismatch(f"The index was built with {manifest.model_id} but the configured weights are "
                                f"{configured}; re-index or drop the --model/--pretrained override.")

    def start(self, background: bool = True) -> None:
        """Load now (tests, CLI checks) or in a thread that retries until an index exists."""
        if not background:
            self.load()
            self._spawn(self._poll_versions)
            return
        self._loading = True
        self._spawn(self._load_until_ready)

    def reload_index(self) -> bool:
        """Switch to the newest version now; :raise ApiError: reload_failed if it is broken."""
        store, embedder = self.store, self.embedder
        switched = store.reload(expected_dim=embedder.dim, expected_model_id=embedder.model_id,
                                query_precision=embedder.precision)
        if not switched and store.last_error:
            raise ApiError("reload_failed", f"Still serving {store.live.name}: {store.last_error}")
        self._report_live()
        return switched

    def stop(self) -> None:
        """Stop polling; queries already waiting for the model are answered first."""
        self._stop.set()
        if self._batcher is not None:
            self._batcher.close()

    def _load_until_ready(self) -> None:
        while not self._stop.is_set():
            try:
                self.load()
                break
            except (IndexNotFound, CorruptIndex, WeightsNotFound, UnknownModel, ModelMismatch,
                    DeviceUnavailable, PrecisionUnavailable) as exc:
                if self.error != str(exc):
                    log.error("Not ready: %s", exc)
                self.error = str(exc)
            self._stop.wait(RETRY_SECONDS)
        self._poll_versions()

    def _poll_versions(self) -> None:
        interval = self.settings.reload_interval
        while interval > 0 and not self._stop.wait(interval):
            try:
                self._store.reload(expected_dim=self._embedder.dim, expected_model_id=self._embedder.model_id,
                                   query_precision=self._embedder.precision)
                self._report_live()
            except Exception:  # the poller must outlive any surprise; the old version keeps serving
                log.exception("Index reload check failed")

    def _report_live(self) -> None:
        if self.observer is not None and self._store is not None and self._embedder is not None:
            live = self._store.live
            self.observer.live_index(live.name, self._embedder.model_id, live.manifest.count)

    def _spawn(self, target) -> None:
        thread = threading.Thread(target=target, name=f"shoplens-{target.__name__}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _not_ready(self) -> ApiError:
        detail = f" ({self.error})" if self.error else ""
        return ApiError("index_not_ready", f"The search index is still loading{detail}.", {"Retry-After": "5"})


def check_milvus_shareable(settings: Settings) -> None:
    """:raise VectorStoreError: for an embedded milvus-lite file that several workers would each try to open."""
    uri = settings.vector_stores().get("milvus").uri
    if is_local_file(uri) and settings.worker_count() > 1:
        raise VectorStoreError(f"The index lives in the milvus-lite file {uri}, which one process at a time can "
                               f"open, but {settings.worker_count()} workers would: run `shoplens milvus-lite` and "
                               "set SHOPLENS_MILVUS_URI=http://127.0.0.1:19530, or serve with --workers 1.")


def init_app(app: Flask, resources: Resources) -> None:
    app.extensions[EXTENSION] = resources


def resources() -> Resources:
    return current_app.extensions[EXTENSION]
