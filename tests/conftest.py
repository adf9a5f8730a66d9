from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.tiny_model import write_tiny_model
from vision.embedder import Embedder, EmbedderConfig


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_config(tiny_model_files) -> EmbedderConfig:
    config_path, checkpoint = tiny_model_files
    return EmbedderConfig(model=str(config_path), pretrained=str(checkpoint), device="cpu", batch_size=4)


@pytest.fixture(scope="session")
def embedder(tiny_config) -> Embedder:
    return Embedder(tiny_config)


def encode(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb's calling card."""
    import struct
    import zlib

    data = bytearray(encode(Image.new("L", (8, 8))))
    at = data.index(b"IHDR")
    data[at + 4:at + 12] = struct.pack(">II", width, height)
    data[at + 17:at + 21] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 17])))
    return bytes(data)


def zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.txt", "not a photo")
    return buffer.getvalue()


def gradient_image(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A deterministic, non-uniform RGB picture (uniform images hide orientation bugs)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                       np.full_like(xs, rng.integers(0, 255))], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def product_image(index: int, size: tuple[int, int] = (80, 64)) -> Image.Image:
    """A distinct picture per product: stripes whose colours and spacing depend on ``index``."""
    rng = np.random.default_rng(1000 + index)
    width, height = size
    base = rng.integers(0, 256, size=3)
    accent = rng.integers(0, 256, size=3)
    period = 4 + index % 11
    xs = np.arange(width)[None, :, None]
    ys = np.arange(height)[:, None, None]
    stripes = ((xs + ys * (index % 3)) // period) % 2
    pixels = np.where(stripes == 1, accent, base) + rng.integers(-20, 20, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


CATEGORIES = ["dresses", "shoes", "lipstick", "bags"]


def write_catalog(folder: Path, count: int = 12, *, name: str = "catalog.csv") -> Path:
    """A CSV catalog with ``count`` valid products and their JPEG images under ``folder``."""
    import csv

    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category", "brand", "price", "currency", "url", "in_stock"])
        for i in range(count):
            image = f"images/p{i:03d}.jpg"
            product_image(i).save(folder / image, quality=92)
            writer.writerow([f"p{i:03d}", f"Product {i}", image, CATEGORIES[i % 4], f"brand{i % 3}",
                             f"{10 + i}.50", "EUR", f"https://shop.example/p{i:03d}", "true" if i % 5 else "false"])
    return path


@pytest.fixture(scope="session")
def shop_index(tmp_path_factory, embedder) -> Path:
    """A 24-product catalog indexed with the tiny model; returns the index folder."""
    from indexer.runner import IndexJob, run_index

    root = tmp_path_factory.mktemp("shop")
    catalog = write_catalog(root / "catalog", 24)
    run_index(IndexJob(catalog=catalog, out_dir=root / "index", show_progress=False), embedder)
    return root / "index"


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> Iterator[str]:
    """A milvus-lite server started the way README tells a single box to: `shoplens milvus-lite`."""
    from tests.browser import free_port

    folder = tmp_path_factory.mktemp("milvus")
    port = free_port()
    log = open(folder / "milvus-lite.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "milvus-lite", "--db", str(folder / "shop.db"),
                                "--host", "127.0.0.1", "--milvus-port", str(port)], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"milvus-lite did not start: {(folder / 'milvus-lite.log').read_text()}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(30)
    log.close()


@pytest.fixture(scope="session")
def milvus_shop_index(tmp_path_factory, embedder, milvus_uri) -> Path:
    """The same 24-product catalog as ``shop_index``, its vectors in Milvus."""
    from indexer.records import VectorStoreConfig
    from indexer.runner import IndexJob, run_index

    root = tmp_path_factory.mktemp("shop-milvus")
    catalog = write_catalog(root / "catalog", 24)
    run_index(IndexJob(catalog=catalog, out_dir=root / "index", show_progress=False,
                       vectors=VectorStoreConfig(kind="milvus", milvus_uri=milvus_uri)), embedder)
    return root / "index"


def make_settings(index_dir: Path, **overrides):
    from app.settings import Settings

    # Rate limits off by default: the suite sends hundreds of requests from one address in seconds.
    values = dict(index_dir=str(index_dir), device="cpu", reload_interval=0.0, admin_token="s3cret-token",
                  search_rate_limit="", tryon_rate_limit="", link_rate_limit="")
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app(shop_index):
    from app import create_app

    return create_app(make_settings(shop_index), background_load=False)


@pytest.fixture()
def client(app):
    return app.test_client()


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def grace_hopper() -> Image.Image:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return Image.open(handle).convert("RGB")


def group_photo() -> Image.Image:
    """Three faces of different sizes pasted into one wide frame."""
    canvas = Image.new("RGB", (1600, 900), (200, 200, 200))
    canvas.paste(astronaut().resize((300, 300)), (50, 100))
    canvas.paste(grace_hopper().resize((256, 300)), (600, 300))
    canvas.paste(astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((200, 200)), (1200, 500))
    return canvas


@pytest.fixture(scope="session")
def landmarker():
    from vision.face import FaceLandmarker

    return FaceLandmarker()


@pytest.fixture(scope="session")
def makeup_index(tmp_path_factory, embedder) -> Path:
    """The built-in demo makeup catalog indexed with the tiny model."""
    from indexer.runner import IndexJob, run_index
    from indexer.sources.demo import write_demo_catalog

    root = tmp_path_factory.mktemp("makeup")
    catalog = write_demo_catalog(root / "catalog")
    run_index(IndexJob(catalog=catalog, out_dir=root / "index", show_progress=False), embedder)
    return root / "index"


@pytest.fixture(scope="session")
def makeup_app(makeup_index):
    from app import create_app

    return create_app(make_settings(makeup_index), background_load=False)
