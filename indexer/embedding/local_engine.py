"""Turn catalog products into embeddings: hash, reuse what the cache knows, embed only the rest.

Decoding and preprocessing run in worker threads (Pillow and torch release the GIL) with a bounded
look-ahead, so the next batch is ready when the model finishes the current one and memory stays flat
however large the catalog is.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from indexer.embedding.cache import EmbeddingCache
from indexer.records import Product, SkippedRow
from vision.embedder import Embedder
from vision.images import ImageError, ImageLimits, load_image

ProgressCallback = Callable[[int, int, int], None]  # (done, total, errors so far) of images that need the model


@dataclass
class EmbedOutcome:
    """Products that got a vector, in catalog order, with ``vectors[i]`` for ``products[i]``."""

    products: list[Product]
    vectors: np.ndarray
    skipped: list[SkippedRow] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    embed_seconds: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    product: Product
    digest: str
    pixels: torch.Tensor | None
    error: SkippedRow | None = None


def embed_products(products: Sequence[Product], embedder: Embedder, cache: EmbeddingCache, *,
                   limits: ImageLimits = ImageLimits(), workers: int = 2, show_progress: bool = True,
                   on_progress: ProgressCallback | None = None) -> EmbedOutcome:
    """Embed every product image not already in ``cache``; unreadable images become skipped rows."""
    digests, skipped = _hash_images(products, workers, show_progress)
    known = cache.get_many(digests.values())
    todo = unique_misses(products, digests, known)
    fresh: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    done = 0  # counted here: a disabled tqdm bar (background jobs) does not count
    with tqdm(total=len(todo), unit="img", desc="Embedding", disable=not show_progress, smoothing=0.1) as bar:
        for batch in _prepared_batches(todo, digests, embedder, limits, workers):
            skipped.extend(item.error for item in batch if item.error)
            ready = [item for item in batch if item.pixels is not None]
            if ready:
                vectors = embedder.encode_pixels(torch.stack([item.pixels for item in ready]))
                new = {item.digest: vector for item, vector in zip(ready, vectors)}
                cache.put_many(new)
                fresh.update(new)
            bar.update(len(batch))
            done += len(batch)
            if on_progress:
                on_progress(done, len(todo), len(skipped))
    elapsed = time.perf_counter() - started
    return assemble_outcome(products, digests, known, fresh, skipped, dim=embedder.dim, embed_seconds=elapsed)


def unique_misses(products: Sequence[Product], digests: dict[str, str], known: dict[str, np.ndarray]
                   ) -> list[Product]:
    """Products whose image bytes the cache lacks, one per distinct image."""
    seen: set[str] = set()
    todo = []
    for product in products:
        digest = digests.get(product.id)
        if digest and digest not in known and digest not in seen:
            seen.add(digest)
            todo.append(product)
    return todo


def image_digest(path: str) -> str:
    """sha256 of the image file's bytes: the embedding cache key.  :raise OSError:"""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def unreadable_row(line: int, product_id: str, error: str) -> SkippedRow:
    return SkippedRow(line, "image_unreadable", f"line {line}: {error}", product_id)


def model_pixels(path: str, limits: ImageLimits, preprocess: Callable, max_side: int) -> torch.Tensor:
    """The image at ``path`` checked, decoded and preprocessed for the model.  :raise ImageError, OSError:"""
    with open(path, "rb") as handle:
        data = handle.read()
    return preprocess(load_image(data, limits, max_side=max_side))


def bad_image_row(line: int, product_id: str, path: str, exc: Exception) -> SkippedRow:
    return SkippedRow(line, getattr(exc, "code", "image_unreadable"), f"line {line}: image {path!r}: {exc}",
                      product_id)


def _hash_images(products: Sequence[Product], workers: int, show_progress: bool
                 ) -> tuple[dict[str, str], list[SkippedRow]]:
    def digest(product: Product) -> tuple[Product, str | None, str]:
        try:
            return product, image_digest(product.image), ""
        except OSError as exc:
            return product, None, str(exc)

    digests: dict[str, str] = {}
    skipped: list[SkippedRow] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(digest, products)
        for product, value, error in tqdm(results, total=len(products), unit="img", desc="Hashing",
                                          disable=not show_progress, leave=False):
            if value is None:
                skipped.append(unreadable_row(product.line, product.id, error))
            else:
                digests[product.id] = value
    return digests, skipped


def _prepared_batches(todo: Sequence[Product], digests: dict[str, str], embedder: Embedder,
                      limits: ImageLimits, workers: int):
    """Yield batches of decoded, preprocessed images, keeping a bounded number in flight."""
    batch_size = embedder.batch_size

    def prepare(product: Product) -> _Prepared:
        digest = digests[product.id]
        try:
            return _Prepared(product, digest, model_pixels(product.image, limits, embedder.preprocess,
                                                           embedder.image_size))
        except (ImageError, OSError) as exc:
            return _Prepared(product, digest, None, bad_image_row(product.line, product.id, product.image, exc))

    pending: deque[Future[_Prepared]] = deque()
    upcoming = iter(todo)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        def top_up() -> None:
            while len(pending) < 3 * batch_size:
                product = next(upcoming, None)
                if product is None:
                    return
                pending.append(pool.submit(prepare, product))

        top_up()
        while pending:
            batch = []
            while pending and len(batch) < batch_size:
                batch.append(pending.popleft().result())
                top_up()
            yield batch


def assemble_outcome(products: Sequence[Product], digests: dict[str, str], known: dict[str, np.ndarray],
              fresh: dict[str, np.ndarray], skipped: list[SkippedRow], *, dim: int,
              embed_seconds: float) -> EmbedOutcome:
    kept: list[Product] = []
    rows: list[np.ndarray] = []
    reused = 0
    for product in products:
        digest = digests.get(product.id)
        vector = fresh.get(digest) if digest else None
        if vector is None and digest in known:
            vector = known[digest]
            reused += 1
        if vector is not None:
            kept.append(product)
            rows.append(vector)
    vectors = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
    skipped.sort(key=lambda row: row.line)
    return EmbedOutcome(kept, vectors, skipped, embedded=len(fresh), reused=reused, embed_seconds=embed_seconds)
