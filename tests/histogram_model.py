"""A deterministic colour-and-layout "model" behind the batcher's model interface, for tests and benches only.

CLIP with random weights (all that can be had here) embeds every picture into nearly the same direction,
so it cannot show whether shop the look separates items from clutter. This model can: a picture's vector
is the square root of its colour histogram (Hellinger, so cosine compares distributions) over the whole
picture and over its 2 x 2 quarters. A crop around a pasted product matches that product's shot closely;
a whole scene or a crop of clutter does not.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

SIDE = 64
LEVELS = 4  # per channel: 64 colour bins
DIM = 5 * LEVELS ** 3  # whole picture + 4 quarters = 320


class HistogramModel:
    """Implements ``vision.batching.TowerModel``; texts hash their character trigrams into the same space."""

    dim = DIM
    model_id = "histogram@0"
    image_size = SIDE
    device = "cpu"

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)) // (256 // LEVELS)
        bins = (pixels[..., 0].astype(np.int64) * LEVELS + pixels[..., 1]) * LEVELS + pixels[..., 2]
        half = SIDE // 2
        parts = [bins] + [bins[y:y + half, x:x + half] for y in (0, half) for x in (0, half)]
        histogram = np.concatenate([np.bincount(part.ravel(), minlength=LEVELS ** 3) / part.size for part in parts])
        return _unit(np.sqrt(histogram))

    def encode_prepared(self, prepared: Sequence[object]) -> np.ndarray:
        return np.stack([np.asarray(item, dtype=np.float32) for item in prepared])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_prepared([self.prepare_image(image) for image in images])

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            row = np.zeros(DIM, np.float32)
            padded = f"  {text.lower()} "
            for start in range(len(padded) - 2):
                row[zlib.crc32(padded[start:start + 3].encode()) % DIM] += 1.0
            rows.append(_unit(row))
        return torch.from_numpy(np.stack(rows))

    def encode_tokens(self, tokens: torch.Tensor) -> np.ndarray:
        return tokens.numpy().astype(np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def write_histogram_index(root: Path, shots: Sequence[Image.Image]) -> Path:
    """A version of products ``p0``, ``p1``... (prices 10, 11...) embedded by this model, as the indexer writes."""
    from indexer.records import Manifest, Product, VectorStoreConfig
    from indexer.stores.backends import VectorStores
    from indexer.stores.versions import now_iso, write_version

    vectors = HistogramModel().encode_images(shots)
    products = [Product(id=f"p{i}", title=f"Product {i}", image="/x.jpg", price=10.0 + i,
                        category=("bags", "dresses")[i % 2]) for i in range(len(shots))]
    manifest = Manifest(version="", model_id=HistogramModel.model_id, model="histogram", pretrained="none",
                        dim=DIM, count=len(shots), index_type="", catalog="scenes", catalog_checksum="0",
                        created=now_iso())
    write_version(root, products, vectors, manifest, [], VectorStores(VectorStoreConfig(), root))
    return root
