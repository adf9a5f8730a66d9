"""One indexing run: catalog reader -> embedding mapper -> version writer, with a summary."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from indexer.embedding.cache import EmbeddingCache
from indexer.embedding.local_engine import EmbedOutcome, ProgressCallback, embed_products
from indexer.photos import one_per_image, regroup
from indexer.records import IndexJob, Manifest, SkippedRow
from indexer.sources.catalog import CatalogError, read_catalog
from indexer.sources.fetch import FetchConfig, Fetcher, FetchError
from indexer.stores.backends import VectorStores
from indexer.stores.versions import exclusive, now_iso, write_version
from vision.embedder import Embedder

log = logging.getLogger(__name__)


class NothingToIndex(RuntimeError):
    """Every row of the catalog was invalid; the live index is left as it was."""


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
    downloaded: int = 0
    not_modified: int = 0
    vector_store: str = "faiss"
    images: int = 0  # photos indexed, main and extra
    groups: int = 0  # products once variants are grouped

    @property
    def skipped_rows(self) -> list[SkippedRow]:
        return [row for row in self.skipped if not row.image]

    @property
    def skipped_images(self) -> list[SkippedRow]:
        """Extra images left out of products that were indexed."""
        return [row for row in self.skipped if row.image]

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(row.reason for row in self.skipped_rows).most_common())

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"Index version {self.version} is live: "
            + (f"{self.groups} products in {self.products} variants" if 0 < self.groups < self.products
               else f"{self.products} products")
            + (f" with {self.images} images" if self.images > self.products else "")
            + f" ({self.index_type}{' in Milvus' if self.vector_store == 'milvus' else ''}).",
            f"  embedded {self.embedded} images, reused {self.reused} from the cache"
            + (f", {self.images_per_second:.1f} images/s" if self.embedded else ""),
            *([f"  downloaded {self.downloaded} images, {self.not_modified} unchanged since the last run"]
              if self.downloaded or self.not_modified else []),
            f"  skipped {len(self.skipped_rows)} rows" + "".join(
                f"\n    {reason}: {count}" for reason, count in self.skipped_by_reason.items()),
            *([f"  left out {len(self.skipped_images)} extra images of indexed products" + "".join(
                f"\n    {reason}: {count}" for reason, count in Counter(
                    row.reason for row in self.skipped_images).most_common())] if self.skipped_images else []),
            f"  took {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


def run_index(job: IndexJob, embedder: Embedder, on_progress: ProgressCallback | None = None) -> IndexReport:
    """Index ``job.catalog`` into a new version of ``job.out_dir`` and make it live.

    :raise indexer.sources.catalog.CatalogError: when the catalog cannot be read (or downloaded) or has duplicate ids.
    :raise NothingToIndex: when no row produced a vector.
    :raise indexer.stores.versions.IndexBusy: when another run holds the folder.
    """
    started = time.perf_counter()
    with exclusive(job.out_dir):
        fetcher = Fetcher(FetchConfig(cache_dir=job.out_dir / "downloads", allow_hosts=job.allow_hosts,
                                      read_timeout=job.download_timeout, backoff=job.download_backoff,
                                      max_bytes=job.limits.max_bytes))
        source = local_catalog(job, fetcher)
        catalog = read_catalog(source, allow_outside_images=job.allow_outside_images, fmt=job.catalog_format)
        images, fetch_skipped = fetcher.localize(one_per_image(catalog.products))
        log.info("Read %d products with %d images from %s (%d rows skipped)", len(catalog.products), len(images),
                 job.catalog, len(catalog.skipped))
        outcome = _embed(job, images, embedder, on_progress)
        photos = regroup(catalog.products, outcome.products, outcome.vectors,
                         catalog.skipped + fetch_skipped + outcome.skipped, embedder.dim)
        skipped = photos.skipped
        if not photos.products:
            raise NothingToIndex(f"No valid product in {job.catalog} ({len(skipped)} rows skipped); "
                                 "the live index is unchanged.")
        manifest = Manifest(
            version="", model_id=embedder.model_id, model=embedder.model_source,
            pretrained=embedder.weights_source, dim=embedder.dim, count=len(photos.products),
            index_type="", catalog=str(job.catalog), catalog_checksum=catalog.checksum, created=now_iso(),
            skipped=dict(Counter(row.reason for row in skipped if not row.image)), precision=embedder.precision.name,
            precision_fidelity=round(embedder.precision.fidelity, 6),
            skipped_images=dict(Counter(row.reason for row in skipped if row.image)),
        )
        stores = VectorStores(job.vectors, job.out_dir)
        try:
            path = write_version(job.out_dir, photos.products, photos.vectors, manifest, skipped, stores)
        finally:
            stores.close()
    return IndexReport(version=path.name, products=len(photos.products), images=photos.image_count,
                       groups=manifest.groups,
                       embedded=outcome.embedded,
                       reused=outcome.reused, index_type=manifest.index_type, vector_store=manifest.vector_store,
                       seconds=time.perf_counter() - started,
                       embed_seconds=outcome.embed_seconds, skipped=skipped,
                       downloaded=fetcher.stats.downloaded, not_modified=fetcher.stats.not_modified)


def _embed(job: IndexJob, products, embedder: Embedder, on_progress: ProgressCallback | None) -> EmbedOutcome:
    """Vectors for ``products`` from the chosen engine; both read and fill the same embedding cache."""
    cache = EmbeddingCache(job.out_dir / "cache", embedder.vector_key, embedder.dim)
    try:
        if job.engine == "ray":
            from indexer.embedding.ray_engine import embed_products_on_ray

            return embed_products_on_ray(products, embedder, cache, job, on_progress=on_progress)
        return embed_products(products, embedder, cache, limits=job.limits, workers=job.workers,
                              show_progress=job.show_progress, on_progress=on_progress)
    finally:
        cache.close()


def local_catalog(job: IndexJob, fetcher: Fetcher) -> Path:
    """The catalog as a local file: a feed URL is downloaded (cached and revalidated) first.

    :raise indexer.sources.catalog.CatalogError: when the feed cannot be downloaded.
    """
    source = str(job.catalog)
    if urlsplit(source).scheme not in ("http", "https"):
        return Path(source)
    feeds = Fetcher(dataclasses.replace(fetcher.config, cache_dir=job.out_dir / "feeds", images_only=False,
                                        max_bytes=512 * 1024 * 1024))
    try:
        downloaded = feeds.fetch(source)
    except FetchError as exc:
        raise CatalogError(f"Cannot download the catalog feed: {exc}") from exc
    name = Path(urlsplit(source).path).name or "feed"
    named = job.out_dir / "feeds" / name  # keep the file name so the format can be detected
    named.write_bytes(downloaded.read_bytes())
    return named
