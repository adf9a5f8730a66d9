"""Every setting in one typed object: defaults here, overridden by ``SHOPLENS_*`` env vars, then flags.

Each field's metadata names its command-line flag and help text, so the CLI, the env reader and the
README's settings table all come from this one list.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from indexer.sources.fetch import FetchConfig
from indexer.values import parse_yes_no
from vision.embedder import EmbedderConfig
from vision.images import ImageLimits
from vision.item_finder import ItemSettings

ENV_PREFIX = "SHOPLENS_"
# ViT-B-32 on LAION-2B: the best zero-shot accuracy per CPU millisecond among open_clip's models (README).
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
MULTIPART_OVERHEAD = 64 * 1024  # form fields and boundaries around the photo itself
# Where gunicorn workers share Prometheus samples; prometheus_client reads it when first imported.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _setting(default: Any, help: str, *flags: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "flags": flags, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration; frozen so nothing mutates it behind the app's back."""

    catalog: str = _setting("", "Catalog to index: a CSV, a JSONL file or a folder of images "
                                "(empty: the built-in demo catalog).")
    index_dir: str = _setting("data/index", "Folder holding index versions and the `current` pointer.",
                              "--out", "--index")
    model: str = _setting("", "open_clip model name or model-config JSON path; empty: ViT-B-32 when "
                              "indexing, the index's own model when serving.")
    pretrained: str = _setting("", "Pretrained tag (Hugging Face cache) or local checkpoint file; empty: "
                                   "laion2b_s34b_b79k when indexing, the index's own weights when serving.")
    device: str = _setting("auto", "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps.")
    batch_size: int = _setting(0, "Images per forward pass; 0 picks one for the device.")
    precision: str = _setting("auto", "Number format and runtime of the CLIP model: auto (on a CPU with the `openvino` "
                                      "extra: OpenVINO with the image tower in int8 when it agrees with fp32 to cosine "
                                      "0.998 on probe inputs, else OpenVINO bf16; without it torch bf16 on CPUs with "
                                      "native bf16; each only when it agrees with fp32 to 0.995; fp16 on CUDA; else "
                                      "fp32), fp32, bf16, openvino, openvino-int8 (both need the extra) or fp16 (CUDA).")
    torch_threads: int = _setting(0, "torch CPU threads per process; 0: all cores when indexing, cores / workers "
                                     "when serving (so workers x threads never exceeds the cores).")
    cache_dir: str = _setting("", "Where model weights are cached (empty: the Hugging Face default, HF_HOME), and "
                                "the int8 image tower in openvino/ (empty: ~/.cache/shoplens).")
    allow_download: bool = _setting(False, "Let model loading download missing weights (off: fail fast).")
    index_factory: str = _setting("", "FAISS index factory string; empty chooses exact, HNSW or IVF-PQ by catalog size.")
    compressed_from: int = _setting(1_000_000, "Catalog size from which FAISS versions are compressed (IVF-PQ, "
                                               "re-ranked exactly, memory-mapped).")
    recall_target: float = _setting(0.95, "recall@10 that IVF-PQ's nprobe and re-rank depth are tuned to reach when the index is built.")
    vector_store: str = _setting("faiss", "Where new index versions keep their vectors: faiss (files in the index "
                                          "folder) or milvus.")
    milvus_uri: str = _setting("", "Milvus for --vector-store milvus: a milvus-lite .db file (one process at a time) "
                                   "or http://host:19530 (`shoplens milvus-lite`, Milvus standalone or a cluster); "
                                   "empty: milvus.db in the index folder.")
    milvus_token: str = _setting("", "Milvus credentials: user:password or an API key.", secret=True)
    milvus_prefix: str = _setting("shoplens", "Milvus collection names are <prefix>_<version>; one prefix per index "
                                              "folder.")
    engine: str = _setting("local", "Indexing engine: local (this process) or ray (a Ray Data job; needs "
                                    "shoplens[ray]).")
    ray_address: str = _setting("", "Ray cluster for --engine ray: auto (inside `ray job submit`), ray://host:10001, "
                                    "or empty for a Ray instance on this machine.")
    num_gpus_per_worker: float = _setting(0.0, "GPUs per Ray embedding actor: 1 for one actor per GPU, 0 for CPU "
                                               "actors.")
    ray_workers: int = _setting(0, "Ray embedding actors; 0: one per GPU of the cluster with GPU actors, else 2.")
    allow_outside_images: bool = _setting(False, "Let catalog image paths point outside the catalog's folder.")
    catalog_format: str = _setting("", "csv, jsonl, folder, gmc (Merchant Center TSV/XML) or shopify; empty detects it.",
                                   "--format")
    allow_hosts: str = _setting("", "Comma-separated hosts/CIDRs that image URLs may resolve to although they are "
                                    "private or loopback (empty: public addresses only).")
    host: str = _setting("127.0.0.1", "Address the server binds to.")
    port: int = _setting(8000, "Port the server listens on.")
    workers: int = _setting(0, "gunicorn worker processes; 0: one per two cores (at least 1) on CPU, one on a "
                               "GPU machine.")
    threads: int = _setting(0, "Request threads per worker; 0: twice the largest batch (they mostly wait for the "
                               "model thread).")
    timeout: int = _setting(60, "Seconds before gunicorn restarts a stuck worker.")
    max_batch: int = _setting(0, "Most queries per forward pass of a worker's micro-batcher; 0: 16 on CPU, 64 on "
                                 "GPU; 1 turns batching off.")
    batch_wait_ms: float = _setting(-1.0, "Longest wait (ms) of a part-filled batch for queries still being decoded "
                                          "(none on the way: no wait); -1: 2 on CPU, 5 on GPU.")
    queue_timeout: float = _setting(10.0, "Seconds a query may wait for the model before 503 overloaded.")
    header_timeout: float = _setting(10.0, "Seconds a client has to send a request's line and headers (408 after).")
    body_timeout: float = _setting(30.0, "Seconds a client may pause while sending a request body (408 after).")
    max_connections: int = _setting(1000, "Open connections per worker; more wait in the listen queue.")
    max_buffered_mb: int = _setting(256, "MiB of request bodies a worker holds while clients are still sending "
                                         "them; past it, bodies are read by request threads as they arrive.")
    metrics_token: str = _setting("", "Bearer token for /metrics; empty: /metrics is open (bind it to a private "
                                      "network).", secret=True)
    admin_token: str = _setting("", "Bearer token for /api/v1/admin/*; empty disables the admin API.",
                                secret=True)
    ready_wait: float = _setting(30.0, "Seconds a request waits for a worker that is still loading the model and "
                                       "index before answering 503 index_not_ready.")
    reload_interval: float = _setting(10.0, "Seconds between checks for a new index version; 0 disables.")
    max_upload_bytes: int = _setting(15 * 1024 * 1024, "Largest accepted request body in bytes.")
    max_pixels: int = _setting(40_000_000, "Largest accepted image in pixels (width x height).")
    min_image_side: int = _setting(32, "Smallest accepted image side in pixels.")
    search_rate_limit: str = _setting("120 per minute", "Search requests allowed per client IP (empty: no limit).")
    tryon_rate_limit: str = _setting("30 per minute", "Try-on and face-analysis requests per client IP (empty: no limit).")
    link_rate_limit: str = _setting("20 per minute", "Searches by image_url (a link we fetch) per client IP, on top of "
                                                     "the search budget (empty: no extra limit).")
    link_timeout: float = _setting(8.0, "Seconds a linked image (or its page) may take to connect and to send, "
                                        "per request.")
    rate_limit_storage: str = _setting("memory://", "Where rate-limit counters live: memory:// (per worker) or "
                                                   "redis://host:6379 (shared by all workers and replicas).")
    trusted_proxies: int = _setting(0, "Proxies in front of the app whose X-Forwarded-For is trusted for the client IP.")
    cors_origins: str = _setting("", "Comma-separated web origins allowed to call the API from a browser.")
    max_looks: int = _setting(8, "Most makeup layers in one try-on request.")
    max_faces: int = _setting(8, "Most faces made up in one photo.")
    mesh_views: int = _setting(2, "Crops of each face the landmark model sees, averaged: 2 views wander 0.72x as "
                                  "much as 1, 4 views 0.54x; each view costs about 9 ms per face on CPU.")
    max_items: int = _setting(6, "Most items shop the look (detect=true) returns for one photo.")
    item_candidates: int = _setting(6, "Boxes shop the look embeds per photo, in one batch: more can find more in "
                                       "a crowded photo; each costs about a third of a photo search on CPU.")
    item_min_gain: float = _setting(0.0, "How much closer (cosine) than the whole photo a box's best match must be "
                                         "for shop the look to show it as an item.")
    face_mesh_dir: str = _setting("", "Folder of the @mediapipe/face_mesh browser package that live try-on serves "
                                      "(empty: node_modules/@mediapipe/face_mesh of the project, as `make install` "
                                      "puts it).")
    log_level: str = _setting("INFO", "Python log level.")

    def __post_init__(self) -> None:
        for name, allowed in (("vector_store", ("faiss", "milvus")), ("engine", ("local", "ray"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("max_items", "item_candidates", "mesh_views"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, then ``SHOPLENS_<NAME>`` variables, then ``overrides`` (flags) that are not None.

        :raise ValueError: naming the variable whose value has the wrong type.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw is not None:
                values[spec.name] = _parse(spec, raw, ENV_PREFIX + spec.name.upper())
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    def embedder_config(self, model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> EmbedderConfig:
        """The model to load: these settings when given, else ``model``/``pretrained`` (an index's own)."""
        return EmbedderConfig(model=self.model or model, pretrained=self.pretrained or pretrained, device=self.device,
                              batch_size=self.batch_size or None, cache_dir=self.cache_dir or None,
                              allow_download=self.allow_download, precision=self.precision,
                              threads=self.torch_threads or None)

    def serving_threads(self) -> int:
        """torch threads for each server worker: the cores shared out, so workers never oversubscribe them."""
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.worker_count())

    def link_fetch_config(self) -> FetchConfig:
        """How a shopper's link is fetched: the indexer's SSRF rules, the upload byte limit, no retries (the
        shopper is waiting), nothing kept on disk."""
        return FetchConfig(allow_hosts=self.allowed_hosts(), connect_timeout=min(self.link_timeout, 5.0),
                           read_timeout=self.link_timeout, retries=0, max_bytes=self.max_upload_bytes,
                           max_redirects=3, images_only=False, user_agent="shoplens/1 (link search)")

    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(host.strip() for host in self.allow_hosts.split(",") if host.strip())

    def max_request_bytes(self) -> int:
        """The largest request body: one photo of the upload limit plus its multipart framing."""
        return self.max_upload_bytes + MULTIPART_OVERHEAD

    def item_settings(self) -> ItemSettings:
        return ItemSettings(candidates=self.item_candidates, max_items=self.max_items, min_gain=self.item_min_gain)

    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels,
                           min_side=self.min_image_side)

    def index_job(self, show_progress: bool = True):
        """The indexing run these settings describe (the CLI and the console's re-index share it)."""
        from indexer.runner import IndexJob

        return IndexJob(catalog=self.catalog, out_dir=Path(self.index_dir), vectors=self.vector_store_config(),
                        allow_outside_images=self.allow_outside_images, limits=self.image_limits(),
                        show_progress=show_progress, catalog_format=self.catalog_format,
                        allow_hosts=self.allowed_hosts(),
                        engine=self.engine, ray_address=self.ray_address,
                        num_gpus_per_worker=self.num_gpus_per_worker, ray_workers=self.ray_workers)

    def vector_store_config(self):
        """:raise ValueError: for an unknown vector store."""
        from indexer.records import VectorStoreConfig

        return VectorStoreConfig(kind=self.vector_store, index_factory=self.index_factory,
                                 compressed_from=self.compressed_from, recall_target=self.recall_target,
                                 milvus_uri=self.milvus_uri, milvus_token=self.milvus_token,
                                 milvus_prefix=self.milvus_prefix)

    def vector_stores(self):
        """Backends for this process: the server opens each version with the one its manifest names."""
        from indexer.stores.backends import VectorStores

        return VectorStores(self.vector_store_config(), Path(self.index_dir))

    def worker_count(self) -> int:
        """One worker per GPU machine (one model copy on the GPU), else one per two cores (README)."""
        return self.workers or (1 if self.serves_on_gpu() else max(1, (os.cpu_count() or 2) // 2))

    def thread_count(self) -> int:
        return self.threads or 2 * self.batch_limit()

    def batch_limit(self) -> int:
        return self.max_batch or (64 if self.serves_on_gpu() else 16)

    def batch_wait(self) -> float:
        """Seconds; per device unless set."""
        if self.batch_wait_ms >= 0:
            return self.batch_wait_ms / 1000
        return 0.005 if self.serves_on_gpu() else 0.002

    def serves_on_gpu(self) -> bool:
        """Whether the server will find a CUDA GPU, known without importing torch (the master must not)."""
        device = self.device.strip().lower()
        return device.startswith("cuda") or (device == "auto" and Path("/dev/nvidiactl").exists())


def setting_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(Settings))


def flag_names(spec: dataclasses.Field) -> tuple[str, ...]:
    return ("--" + spec.name.replace("_", "-"), *spec.metadata.get("flags", ()))


def _parse(spec: dataclasses.Field, raw: str, label: str) -> Any:
    kind = spec.type if isinstance(spec.type, type) else {"int": int, "float": float, "bool": bool}.get(
        str(spec.type), str)
    try:
        return parse_value(kind, raw)
    except ValueError as exc:
        raise ValueError(f"{label}={raw!r}: {exc}") from None


def parse_value(kind: type, raw: str) -> Any:
    """Parse a string the way both env vars and flags spell values."""
    if kind is bool:
        return bool(parse_yes_no(raw))  # blank: off
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    return raw
