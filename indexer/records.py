"""The records every stage of indexing passes along: products, skipped rows, manifests, job settings.

They sit below every other module of ``indexer`` (they import nothing from it), so the catalog
readers, the embedding engines and the vector stores share them without importing each other.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vision.images import ImageLimits
from vision.looks import Finish, ProductType
from vision.precision import Precision

MANIFEST_VERSION = 2  # 2: one vector per image (images.arrow), variant groups; 1 is read as one image per product
VECTOR_STORE_KINDS = ("faiss", "milvus")
ENGINES = ("local", "ray")


@dataclass(frozen=True, slots=True)  # slots: a server holds millions of these, a __dict__ each doubled that
class Product:
    """One sellable item; ``image`` is a checked absolute path, or an http(s) URL until it is fetched.

    ``images`` are its other photos (on-model, detail, swatch), checked the same way; a version keeps them
    beside the products (``indexer.stores.image_rows``), so a product read back from a version has none.
    A colour/size/shade variant is a product of its own (its price, stock, image) whose ``group`` names the
    product it is a variant of (Merchant Center's item_group_id, a Shopify handle); ``options`` are its option
    values in the shop's order, e.g. ``(("Color", "Red"), ("Size", "M"))``.
    """

    id: str
    title: str
    image: str
    line: int = 0
    category: str = ""
    brand: str = ""
    price: float | None = None
    currency: str = ""
    url: str = ""
    in_stock: bool = True
    product_type: ProductType | None = None
    shade_hex: str = ""
    finish: Finish | None = None
    images: tuple[str, ...] = ()
    group: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["product_type"] = self.product_type.value if self.product_type else None
        record["finish"] = self.finish.value if self.finish else None
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Product":
        known = {name: record.get(name) for name in cls.__dataclass_fields__ if name in record}
        known["product_type"] = ProductType(known["product_type"]) if known.get("product_type") else None
        known["finish"] = Finish(known["finish"]) if known.get("finish") else None
        known["images"] = tuple(known.get("images") or ())
        known["group"] = known.get("group") or ""
        known["options"] = tuple((str(name), str(value)) for name, value in known.get("options") or ())
        for name in ("category", "brand", "currency"):  # few distinct values over millions of products
            if isinstance(known.get(name), str):
                known[name] = sys.intern(known[name])
        return cls(**known)


@dataclass(frozen=True)
class SkippedRow:
    """A row left out of the version, or (``image`` set) one extra image of a product that was kept."""

    line: int
    reason: str
    message: str
    product_id: str = ""
    image: str = ""


@dataclass
class Manifest:
    """What a version contains and how it was made; the server loads the model named here."""

    version: str
    model_id: str
    model: str
    pretrained: str
    dim: int
    count: int                      # products, each variant counted
    index_type: str
    catalog: str
    catalog_checksum: str
    created: str
    skipped: dict[str, int] = field(default_factory=dict)
    ef_search: int = 0
    vector_store: str = "faiss"     # the backend holding the vectors (indexer.stores.vector_store)
    nprobe: int = 0                 # IVF lists searched per query, tuned at build time
    rerank_depth: int = 0           # compressed candidates re-scored exactly per query
    tuned_recall: float = 0.0       # recall@10 the tuning measured with that nprobe
    collection: str = ""            # Milvus collection holding this version's vectors
    precision: str = "fp32"         # the number format the vectors were made in (vision.precision)
    precision_fidelity: float = 1.0  # its lowest cosine to fp32 on the probe inputs when indexing began
    images: int = 0                 # vectors, one per image (0: one per product, versions before extra images)
    skipped_images: dict[str, int] = field(default_factory=dict)  # extra images left out, by reason
    groups: int = 0                 # products once variants are grouped (0: versions before variants)
    variants: int = 0               # products that are one variant of a group of several
    format: int = MANIFEST_VERSION

    @property
    def vector_count(self) -> int:
        return self.images or self.count

    @property
    def built_in(self) -> Precision:
        """The precision the vectors were made in, with its agreement with fp32."""
        return Precision(self.precision, self.precision_fidelity)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text())
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class VectorStoreConfig:
    kind: str = "faiss"                 # where the indexer writes new versions
    index_factory: str = ""             # FAISS factory string; empty picks by catalog size
    compressed_from: int = 1_000_000    # at this many products FAISS versions are IVF-PQ
    recall_target: float = 0.95         # nprobe is tuned at build time to reach this recall@10
    milvus_uri: str = ""                # a milvus-lite .db file, or http://host:19530; empty: <index>/milvus.db
    milvus_token: str = ""
    milvus_prefix: str = "shoplens"     # collection names are <prefix>_<version>

    def __post_init__(self) -> None:
        if self.kind not in VECTOR_STORE_KINDS:
            raise ValueError(f"Unknown vector store {self.kind!r}; expected one of {', '.join(VECTOR_STORE_KINDS)}.")


@dataclass(frozen=True)
class IndexJob:
    catalog: Path | str          # a local path, or an http(s) URL of a feed
    out_dir: Path
    vectors: VectorStoreConfig = VectorStoreConfig()
    allow_outside_images: bool = False
    limits: ImageLimits = ImageLimits()
    workers: int = 2
    show_progress: bool = True
    catalog_format: str = ""     # empty: detect
    allow_hosts: tuple[str, ...] = ()
    download_timeout: float = 20.0
    download_backoff: float = 0.5
    engine: str = "local"        # local (threads + this process's model) or ray (indexer.embedding.ray_engine)
    ray_address: str = ""        # empty: a local Ray instance; "auto" or ray://host:10001 for a cluster
    num_gpus_per_worker: float = 0.0
    ray_workers: int = 0         # embedding actors; 0: one per GPU (GPU workers) or 2 (CPU workers)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"Unknown indexing engine {self.engine!r}; expected one of {', '.join(ENGINES)}.")
