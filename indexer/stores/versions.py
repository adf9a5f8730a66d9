"""Write a complete index version aside, fsync it, and only then point ``current`` at it.

A reader therefore only ever sees a finished version: a crash at any moment leaves the previous one
live, and a half-written folder is named ``.tmp-*`` and swept away by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from indexer.records import Manifest, Product, SkippedRow
from indexer.stores.backends import VectorStores
from indexer.stores.image_rows import IMAGES_FILE, image_key, vector_products, write_image_rows
from indexer.stores.product_table import TABLE_FILE, group_rows, write_product_table

log = logging.getLogger(__name__)

CURRENT = "current"
KEEP_VERSIONS = 3


class IndexBusy(RuntimeError):
    """Another indexer is writing to the same folder."""


def stable_id(product_id: str) -> int:
    """A 63-bit FAISS id derived from the product id, identical in every version."""
    return int.from_bytes(hashlib.blake2b(product_id.encode(), digest_size=8).digest(), "big") >> 1


@contextlib.contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """Hold the folder's lock for a whole build so two indexers cannot interleave versions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"Another indexer is writing to {out_dir}; wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_version(out_dir: Path, products: Sequence[Product], vectors: np.ndarray, manifest: Manifest,
                  skipped: Sequence[SkippedRow], stores: VectorStores | None = None) -> Path:
    """Write a full version folder next to the live one and switch ``current`` to it.

    ``vectors`` hold one row per image in ``image_rows``'s layout: every product's main image, then the extra
    images (``Product.images``) product by product. They go to ``stores.writer`` (FAISS files by default); the
    manifest, written last, says where.

    :raise ValueError: for an empty product list or vectors that do not match the products' images.
    """
    if not products:
        raise ValueError("Nothing to index: no valid products.")
    per_vector = vector_products(products)
    if vectors.shape != (len(per_vector), manifest.dim):
        raise ValueError(f"Vectors {vectors.shape} do not match the {len(per_vector)} images of {len(products)} "
                         f"products of dim {manifest.dim}.")
    keys = [*(product.id for product in products),
            *(image_key(product.id, number) for product in products for number in range(1, len(product.images) + 1))]
    ids = np.array([stable_id(key) for key in keys], dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("Two product ids hash to the same FAISS id; rename one of them.")
    sweep_temporary(out_dir)
    manifest.version = _new_version_name(out_dir)
    staging = out_dir / f".tmp-{manifest.version}"
    staging.mkdir(parents=True)
    stores = stores or VectorStores(index_dir=out_dir)
    extras = write_image_rows(staging / IMAGES_FILE, products)
    manifest.images = len(per_vector) if extras else 0
    manifest.groups, manifest.variants = variant_counts(products)
    stores.writer.write(staging, manifest, per_vector, ids, vectors)
    write_product_table(staging / TABLE_FILE, products, ids[:len(products)])
    _write_lines(staging / "skipped.jsonl", (asdict(row) for row in skipped))
    (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
    for path in staging.iterdir():
        _fsync_file(path)
    final = out_dir / manifest.version
    os.rename(staging, final)
    _fsync_dir(out_dir)
    switch_current(out_dir, manifest.version)
    prune_versions(out_dir, stores=stores)
    return final


def variant_counts(products: Sequence[Product]) -> tuple[int, int]:
    """(products once variants are grouped, products that are a variant of a group of several), from the
    group rows the product table stores."""
    sizes = np.bincount(group_rows(products), minlength=len(products))
    return int(np.count_nonzero(sizes)), int(sizes[sizes > 1].sum())


def switch_current(out_dir: Path, version: str) -> None:
    """Atomically make ``version`` the live one (write a temp file, fsync, rename over)."""
    temporary = out_dir / f".{CURRENT}.tmp"
    temporary.write_text(version + "\n")
    _fsync_file(temporary)
    os.replace(temporary, out_dir / CURRENT)
    _fsync_dir(out_dir)


def read_current(out_dir: Path) -> str | None:
    try:
        return (out_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def list_versions(out_dir: Path) -> list[str]:
    """Finished versions, oldest first."""
    if not out_dir.is_dir():
        return []
    return sorted(path.name for path in out_dir.iterdir()
                  if path.is_dir() and path.name.startswith("v") and (path / "manifest.json").is_file())


def prune_versions(out_dir: Path, keep: int = KEEP_VERSIONS, stores: VectorStores | None = None) -> list[str]:
    """Delete all but the newest ``keep`` versions (and their Milvus collections); the live one is kept."""
    live = read_current(out_dir)
    versions = list_versions(out_dir)
    doomed = [name for name in versions[:-keep] if name != live] if len(versions) > keep else []
    stores = stores or VectorStores(index_dir=out_dir)
    for name in doomed:
        try:
            manifest = Manifest.read(out_dir / name / "manifest.json")
            stores.get(manifest.vector_store).discard(manifest)
        except Exception as exc:  # a collection left behind costs space, not correctness
            log.warning("Could not free the vectors of pruned version %s: %s", name, exc)
        shutil.rmtree(out_dir / name, ignore_errors=True)
    return doomed


def sweep_temporary(out_dir: Path) -> None:
    """Remove half-written versions a killed run left behind."""
    for path in out_dir.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_version_name(out_dir: Path) -> str:
    """Time-ordered and unique: names sort in creation order, which pruning relies on."""
    latest = max(list_versions(out_dir), default="")
    while True:
        now = datetime.now(timezone.utc)
        name = "v" + now.strftime("%Y%m%d-%H%M%S-%f")
        if name > latest and not (out_dir / name).exists():
            return name
        time.sleep(0.001)


def _write_lines(path: Path, records) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
