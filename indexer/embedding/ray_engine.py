"""The indexing pipeline as a Ray Data job, for catalogs too large for one machine.

Same stages and same output as the local engine (``indexer.embedding.local_engine``): hashing and decoding run as
Ray map tasks on CPUs, the model runs in a pool of long-lived actors that each load it once (one per
GPU, or CPU actors), and the driver reads and fills the same embedding cache, then writes the same
versioned index. Ray retries failed tasks and restarts dead actors, so a lost node costs time, not
the run. On a cluster, image paths and the index folder must be on storage every node mounts, and
every node needs the model weights (README: Scaling out).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from indexer.embedding.cache import EmbeddingCache
from indexer.embedding.local_engine import (
    EmbedOutcome,
    ProgressCallback,
    assemble_outcome,
    bad_image_row,
    image_digest,
    model_pixels,
    unique_misses,
    unreadable_row,
)
from indexer.records import IndexJob, Product, SkippedRow
from vision.embedder import Embedder, EmbedderConfig
from vision.images import ImageError, ImageLimits

log = logging.getLogger(__name__)
HASH_BATCH = 256
RETRIES = 3
CPU_ACTORS = 2
INSTALL_HINT = "install the Ray extra: pip install 'shoplens[ray]'"


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached."""


def embed_products_on_ray(products: Sequence[Product], embedder: Embedder, cache: EmbeddingCache,
                          job: "IndexJob", on_progress: ProgressCallback | None = None) -> EmbedOutcome:
    """Embed every product image the cache lacks on Ray; unreadable images become skipped rows.

    ``embedder`` is this process's copy, used for its configuration and preprocessing; the actors load
    their own on their device.
    :raise RayUnavailable:
    """
    ray, data = _import_ray()
    started_ray = _connect(ray, job.ray_address)
    try:
        with warnings.catch_warnings():  # Ray Data's own defaults trip its deprecation warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            context = data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below counts what matters: images embedded
        digests, skipped = _hash_on_ray(data, products, job.show_progress)
        known = cache.get_many(digests.values())
        todo = unique_misses(products, digests, known)
        fresh: dict[str, np.ndarray] = {}
        started = time.perf_counter()
        if todo:
            pipeline = _embedding_pipeline(data, todo, digests, embedder, job)
            with tqdm(total=len(todo), unit="img", desc="Embedding (ray)", disable=not job.show_progress) as bar:
                done = 0
                for batch in pipeline.iter_batches(batch_size=None, batch_format="numpy"):
                    new = {digest: vector for digest, vector, ok in zip(batch["digest"], batch["vector"], batch["ok"])
                           if ok}
                    cache.put_many(new)
                    fresh.update(new)
                    skipped.extend(SkippedRow(int(line), str(code), str(message), str(product_id))
                                   for line, code, message, product_id, ok in zip(
                                       batch["line"], batch["code"], batch["message"], batch["product_id"],
                                       batch["ok"]) if not ok)
                    done += len(batch["digest"])
                    bar.update(len(batch["digest"]))
                    if on_progress:
                        on_progress(done, len(todo), len(skipped))
        elapsed = time.perf_counter() - started
        return assemble_outcome(products, digests, known, fresh, skipped, dim=embedder.dim, embed_seconds=elapsed)
    finally:
        if started_ray:
            ray.shutdown()


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailable(f"--engine ray needs Ray: {INSTALL_HINT}.") from exc
    return ray, ray.data


def _connect(ray: Any, address: str) -> bool:
    """Join ``address`` (or start Ray on this machine); True when this call started it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"Cannot connect to Ray at {address or 'a new local instance'}: {exc}") from exc
    log.info("Ray: %s", {key: value for key, value in ray.cluster_resources().items() if key in ("CPU", "GPU")})
    return True


def _hash_on_ray(data: Any, products: Sequence[Product], show_progress: bool
                 ) -> tuple[dict[str, str], list[SkippedRow]]:
    """sha256 of every image file, in parallel map tasks (the cache key, as in the local engine)."""
    rows = [{"product_id": p.id, "image": p.image, "line": p.line} for p in products]
    if not rows:
        return {}, []
    hashed = data.from_items(rows).map_batches(_hash_batch, batch_size=HASH_BATCH, max_retries=RETRIES)
    digests: dict[str, str] = {}
    skipped: list[SkippedRow] = []
    with tqdm(total=len(rows), unit="img", desc="Hashing (ray)", disable=not show_progress, leave=False) as bar:
        for batch in hashed.iter_batches(batch_size=None, batch_format="numpy"):
            for product_id, line, digest, error in zip(batch["product_id"], batch["line"], batch["digest"],
                                                       batch["error"]):
                if error:
                    skipped.append(unreadable_row(int(line), str(product_id), str(error)))
                else:
                    digests[str(product_id)] = str(digest)
            bar.update(len(batch["line"]))
    return digests, skipped


def _hash_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    digests, errors = [], []
    for path in batch["image"]:
        try:
            digests.append(image_digest(path))
            errors.append("")
        except OSError as exc:
            digests.append("")
            errors.append(str(exc))
    return {**batch, "digest": np.array(digests, dtype=object), "error": np.array(errors, dtype=object)}


def _embedding_pipeline(data: Any, todo: Sequence[Product], digests: dict[str, str], embedder: Embedder,
                        job: "IndexJob") -> Any:
    """decode + preprocess (CPU tasks) -> embed (actor pool), streamed in bounded memory by Ray Data."""
    rows = [{"product_id": p.id, "image": p.image, "line": p.line, "digest": digests[p.id]} for p in todo]
    import ray

    gpus = job.num_gpus_per_worker
    config = EmbedderConfig(**{**vars(embedder.config), "device": "cuda" if gpus > 0 else "cpu"})
    resources = ray.cluster_resources()
    actors = job.ray_workers or _default_actor_count(gpus, resources)
    decode = _Decoder(embedder.preprocess, job.limits, embedder.image_size)
    # at least one block per actor where the rows allow it: one block would leave all but one actor idle
    blocks = min(len(rows), max(actors, -(-len(rows) // embedder.batch_size))) or 1
    return (data.from_items(rows, override_num_blocks=blocks)
            .map_batches(decode, batch_size=embedder.batch_size, max_retries=RETRIES)
            .map_batches(_EmbedActor, fn_constructor_args=(config,), batch_size=embedder.batch_size,
                         compute=data.ActorPoolStrategy(size=actors), num_gpus=gpus or None,
                         num_cpus=_cpus_per_actor(actors, resources.get("CPU", 1.0)),
                         max_restarts=RETRIES, max_task_retries=RETRIES))


def _default_actor_count(gpus_per_actor: float, resources: dict[str, float]) -> int:
    if gpus_per_actor > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_actor))
    return CPU_ACTORS


def _cpus_per_actor(actors: int, cpus: float) -> float:
    """At most one CPU each, and always one left for the decoding tasks: actors holding every CPU
    would wait forever for images that nothing can decode."""
    return max(0.1, min(1.0, (cpus - 1) / actors)) if cpus > 1 else 0.1


class _Decoder:
    """Read, validate and preprocess one batch of images; a bad image becomes an error row, not a failure."""

    def __init__(self, preprocess: Callable, limits: ImageLimits, image_size: int):
        self.preprocess, self.limits, self.image_size = preprocess, limits, image_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pixels, ok, codes, messages = [], [], [], []
        shape = None
        for path, line, product_id in zip(batch["image"], batch["line"], batch["product_id"]):
            try:
                array = model_pixels(path, self.limits, self.preprocess, self.image_size).numpy()
                shape = array.shape
                pixels.append(array)
                ok.append(True)
                codes.append("")
                messages.append("")
            except (ImageError, OSError) as exc:
                row = bad_image_row(int(line), str(product_id), path, exc)
                pixels.append(None)
                ok.append(False)
                codes.append(row.reason)
                messages.append(row.message)
        shape = shape or (3, self.image_size, self.image_size)
        stacked = np.stack([array if array is not None else np.zeros(shape, np.float32) for array in pixels])
        return {**batch, "pixels": stacked, "ok": np.array(ok), "code": np.array(codes, dtype=object),
                "message": np.array(messages, dtype=object)}


class _EmbedActor:
    """Holds the model for its whole life: loading it per batch would cost more than embedding."""

    def __init__(self, config: EmbedderConfig):
        self.embedder = Embedder(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        import torch

        ok = batch["ok"].astype(bool)
        vectors = np.zeros((len(ok), self.embedder.dim), np.float32)
        if ok.any():
            vectors[ok] = self.embedder.encode_pixels(torch.from_numpy(np.ascontiguousarray(batch["pixels"][ok])))
        return {key: value for key, value in batch.items() if key not in ("pixels", "image")} | {"vector": vectors}
