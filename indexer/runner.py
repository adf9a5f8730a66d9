"""One indexing run: catalog reader -> embedding mapper -> version writer, with a summary."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from indexer.build import Manifest, choose_factory, exclusive, now_iso, write_version
from indexer.cache import EmbeddingCache
from indexer.catalog import SkippedRow, read_catalog
from indexer.embed import ProgressCallback, embed_products
from vision.embedder import Embedder
from vision.images import ImageLimits

log = logging.getLogger(__name__)


class NothingToIndex(RuntimeError):
    """Every row of the catalog was invalid; the live index is left as it was."""


@dataclass(frozen=True)
class IndexJob:
    catalog: Path
    out_dir: Path
    index_factory: str = ""
    allow_outside_images: bool = False
    limits: ImageLimits = ImageLimits()
    workers: int = 2
    show_progress: bool = True


@dataclass
class IndexReport:
    version: str
    products: int
    embedded: int
    reused: int
    index_type: str
    seconds: float
    embed_seconds: float
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(row.reason for row in self.skipped).most_common())

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"Index version {self.version} is live: {self.products} products ({self.index_type}).",
            f"  embedded {self.embedded} images, reused {self.reused} from the cache"
            + (f", {self.images_per_second:.1f} images/s" if self.embedded else ""),
            f"  skipped {len(self.skipped)} rows" + "".join(
                f"\n    {reason}: {count}" for reason, count in self.skipped_by_reason.items()),
            f"  took {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


def run_index(job: IndexJob, embedder: Embedder, on_progress: ProgressCallback | None = None) -> IndexReport:
    """Index ``job.catalog`` into a new version of ``job.out_dir`` and make it live.

    :raise indexer.catalog.CatalogError: when the catalog cannot be read or has duplicate ids.
    :raise NothingToIndex: when no row produced a vector.
    :raise indexer.build.IndexBusy: when another run holds the folder.
    """
    started = time.perf_counter()
    with exclusive(job.out_dir):
        catalog = read_catalog(job.catalog, allow_outside_images=job.allow_outside_images)
        log.info("Read %d products from %s (%d rows skipped)", len(catalog.products), job.catalog,
                 len(catalog.skipped))
        cache = EmbeddingCache(job.out_dir / "cache", embedder.model_id, embedder.dim)
        try:
            outcome = embed_products(catalog.products, embedder, cache, limits=job.limits, workers=job.workers,
                                     show_progress=job.show_progress, on_progress=on_progress)
        finally:
            cache.close()
        skipped = sorted(catalog.skipped + outcome.skipped, key=lambda row: row.line)
        if not outcome.products:
            raise NothingToIndex(f"No valid product in {job.catalog} ({len(skipped)} rows skipped); "
                                 "the live index is unchanged.")
        factory = choose_factory(len(outcome.products), job.index_factory)
        manifest = Manifest(
            version="", model_id=embedder.model_id, model=embedder.model_source,
            pretrained=embedder.weights_source, dim=embedder.dim, count=len(outcome.products),
            index_type=factory, catalog=str(job.catalog), catalog_checksum=catalog.checksum, created=now_iso(),
            skipped=dict(Counter(row.reason for row in skipped)),
        )
        path = write_version(job.out_dir, outcome.products, outcome.vectors, manifest, skipped, factory)
    return IndexReport(version=path.name, products=len(outcome.products), embedded=outcome.embedded,
                       reused=outcome.reused, index_type=factory, seconds=time.perf_counter() - started,
                       embed_seconds=outcome.embed_seconds, skipped=skipped)
