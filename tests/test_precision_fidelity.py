"""The fast paths (torch bf16, OpenVINO bf16 and int8) against fp32 on the real architecture (ViT-B-32, random weights,
loaded the production way):
per-image agreement on real and generated pictures, and the same search results on a 2,000-product
catalog. Random weights lack the outlier channels of trained ViTs, which are what break low-precision
formats, so one model here has them put in (without changing what it computes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

import vision.embedder
from tests.conftest import astronaut, grace_hopper, product_image
from vision.embedder import Embedder, EmbedderConfig
from vision.openvino_towers import int8_available, openvino_available
from vision.precision import FIDELITY_BOUND

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not vision.embedder.native_bf16(), reason="this CPU has no native bf16")]
CATALOG_SIZE = 2000
QUERIES = 200
TEXTS = ["red satin dress", "black leather ankle boots", "glossy pink lipstick", "un sac en cuir marron",
         "striped cotton shirt", "gold hoop earrings"]


def varied_photo(index: int, size: int = 224) -> Image.Image:
    """A picture unlike its neighbours: a colour gradient, a texture and a shape, all drawn from ``index``."""
    rng = np.random.default_rng(50_000 + index)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    x, y = xs[..., None], ys[..., None]
    pixels = rng.uniform(0, 255, 3) + 120 * (x * rng.uniform(-1, 1, 3) + y * rng.uniform(-1, 1, 3))
    pixels += 50 * np.sin(x * rng.uniform(5, 60) + y * rng.uniform(5, 60) + rng.uniform(0, 6, 3))
    cx, cy, radius = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.35)
    pixels[(xs - cx) ** 2 + (ys - cy) ** 2 < radius ** 2] = rng.uniform(0, 255, 3)
    pixels += rng.normal(0, 6, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def save_checkpoint(model: torch.nn.Module, path: Path) -> Path:
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def with_outlier_channels(model: torch.nn.Module, scale: float = 60.0, channels: int = 8) -> torch.nn.Module:
    """The same function, but a few channels of every LayerNorm output ``scale`` times larger and the next
    layer's weights for them as much smaller: the activation outliers trained ViTs have."""
    picked = torch.arange(channels) * 61 % model.visual.transformer.width
    with torch.no_grad():
        for block in [*model.visual.transformer.resblocks, *model.transformer.resblocks]:
            for norm, following in ((block.ln_1, block.attn.in_proj_weight), (block.ln_2, block.mlp.c_fc.weight)):
                norm.weight[picked] *= scale
                norm.bias[picked] *= scale
                following[:, picked] /= scale
    return model


@pytest.fixture(scope="module")
def vit_checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vit-b-32")
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    plain = save_checkpoint(model, folder / "vit-b-32-random.pt")
    outliers = save_checkpoint(with_outlier_channels(model), folder / "vit-b-32-outliers.pt")
    return {"plain": plain, "outliers": outliers}


def embedder(checkpoint: Path, precision: str) -> Embedder:
    return Embedder(EmbedderConfig(model="ViT-B-32", pretrained=str(checkpoint), device="cpu", batch_size=32,
                                   precision=precision))


@pytest.fixture(scope="module")
def exact(vit_checkpoints) -> Embedder:
    return embedder(vit_checkpoints["plain"], "fp32")


@pytest.fixture(scope="module", params=["bf16", pytest.param("openvino", marks=pytest.mark.skipif(
    not openvino_available(), reason="the openvino extra is not installed")), pytest.param(
    "openvino-int8", marks=pytest.mark.skipif(not int8_available(), reason="the openvino extra is not installed"))])
def plain_pair(request, exact, vit_checkpoints):
    fast = embedder(vit_checkpoints["plain"], request.param)
    assert fast.precision.name == request.param
    return exact, fast


def per_image_agreement(exact: Embedder, fast: Embedder) -> tuple[np.ndarray, np.ndarray]:
    noise = Image.fromarray(np.random.default_rng(7).integers(0, 256, (300, 300, 3), dtype=np.uint8), "RGB")
    images = [astronaut(), grace_hopper(), noise, *(product_image(i, (320, 240)) for i in range(4)),
              *(varied_photo(i) for i in range(4))]
    image_cos = np.sum(exact.encode_images(images) * fast.encode_images(images), axis=1)
    text_cos = np.sum(exact.encode_texts(TEXTS) * fast.encode_texts(TEXTS), axis=1)
    return image_cos, text_cos


def test_every_image_and_text_agrees_with_fp32(plain_pair):
    image_cos, text_cos = per_image_agreement(*plain_pair)
    assert image_cos.min() >= FIDELITY_BOUND, image_cos
    assert text_cos.min() >= FIDELITY_BOUND, text_cos


@pytest.mark.parametrize("precision", ["auto", pytest.param("openvino-int8", marks=pytest.mark.skipif(
    not int8_available(), reason="the openvino extra is not installed"))])
def test_outlier_channels_still_agree_or_auto_falls_back(vit_checkpoints, precision):
    fast = embedder(vit_checkpoints["outliers"], precision)
    assert fast.precision.name in (precision if precision != "auto" else auto_first(), "fp32"), fast.precision
    if fast.precision.name == "fp32":  # auto refused: exactly what it is for
        return
    image_cos, text_cos = per_image_agreement(embedder(vit_checkpoints["outliers"], "fp32"), fast)
    assert min(image_cos.min(), text_cos.min()) >= FIDELITY_BOUND


def auto_first() -> str:
    """What auto tries first on this CPU (int8 with the extra's NNCF, OpenVINO bf16 without, else torch's)."""
    return "openvino-int8" if int8_available() else "openvino" if openvino_available() else "bf16"


def test_auto_takes_the_fastest_path_for_vit_b_32(vit_checkpoints, exact):
    fast = embedder(vit_checkpoints["plain"], "auto")
    assert fast.precision.name == auto_first()
    image_cos, text_cos = per_image_agreement(exact, fast)
    assert min(image_cos.min(), text_cos.min()) >= FIDELITY_BOUND


def pixels_of(embedder: Embedder, images: list[Image.Image]) -> torch.Tensor:
    return torch.stack([embedder.preprocess(image) for image in images])


def encode_all(embedder: Embedder, pixels: torch.Tensor) -> np.ndarray:
    return np.concatenate([embedder.encode_pixels(pixels[start:start + 32]) for start in range(0, len(pixels), 32)])


@pytest.fixture(scope="module")
def search_case(exact):
    """A 2,000-picture catalog and 200 queries as pixels, and both embedded in fp32 (once for every path)."""
    catalog = pixels_of(exact, [varied_photo(i) for i in range(CATALOG_SIZE)])
    rng = np.random.default_rng(3)
    # a shopper's photo of a product: a catalog picture, shifted in brightness and a little noisy
    queries = torch.stack([(catalog[i] * rng.uniform(0.8, 1.2) + torch.randn_like(catalog[i]) * 0.05)
                           for i in rng.choice(CATALOG_SIZE, QUERIES, replace=False)])
    return catalog, queries, encode_all(exact, catalog), encode_all(exact, queries)


def test_search_results_are_the_same_as_fp32(plain_pair, search_case):
    """Top-10 of 200 queries on a 2,000-product catalog overlaps fp32's by >= 0.95 on average, whether the
    catalog was indexed in the fast path or in fp32 (a server may query that way an index built in fp32)."""
    _, fast = plain_pair
    catalog, queries, exact_index, exact_queries = search_case
    fast_index, fast_queries = encode_all(fast, catalog), encode_all(fast, queries)

    def top10(index: np.ndarray, query: np.ndarray) -> np.ndarray:
        return np.argsort(-(query @ index.T), axis=1)[:, :10]

    truth = top10(exact_index, exact_queries)

    def overlap(found: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))

    assert overlap(top10(fast_index, fast_queries)) >= 0.95
    assert overlap(top10(exact_index, fast_queries)) >= 0.95
