"""CLIP image and text embeddings, L2-normalised, on the best device available.

The model is loaded once per process and reused; every vector it returns is float32 with unit
norm, so inner product equals cosine similarity in the FAISS index.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image

from vision.devices import default_batch_size, resolve_device
from vision.weights import model_id, resolve_model_name, resolve_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedderConfig:
    """Which model, which weights, where to run it."""

    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: str | None = None
    allow_download: bool = False


class Embedder:
    """An open_clip model with its preprocessing and tokenizer, ready for batched inference."""

    def __init__(self, config: EmbedderConfig):
        """Load the model.

        :raise vision.weights.WeightsNotFound: when the weights are not on this machine.
        :raise vision.weights.UnknownModel: for a model name that does not exist.
        :raise vision.devices.DeviceUnavailable: when a named accelerator is absent.
        """
        self.config = config
        self.device = resolve_device(config.device)
        self.model_name = resolve_model_name(config.model)
        weights = resolve_weights(self.model_name, config.pretrained, cache_dir=config.cache_dir,
                                  allow_download=config.allow_download)
        self.model_id = model_id(self.model_name, weights.path)
        # How to load this exact model again from any working directory (recorded in index manifests).
        self.model_source = str(Path(config.model).resolve()) if config.model.endswith(".json") else self.model_name
        self.weights_source = str(weights.path) if Path(config.pretrained).expanduser().is_file() else config.pretrained
        model, _, preprocess = open_clip.create_model_and_transforms(
            self.model_name,
            pretrained=str(weights.path),
            device=self.device,
            force_quick_gelu=weights.quick_gelu,
            image_mean=weights.preprocess.get("mean"),
            image_std=weights.preprocess.get("std"),
            image_interpolation=weights.preprocess.get("interpolation"),
            image_resize_mode=weights.preprocess.get("resize_mode"),
        )
        model.eval()
        self.model = model
        self.preprocess: Callable[[Image.Image], torch.Tensor] = preprocess
        self.tokenizer = open_clip.get_tokenizer(self.model_name)
        self.batch_size = config.batch_size or default_batch_size(self.device)
        self.dim = int(open_clip.get_model_config(self.model_name)["embed_dim"])
        size = model.visual.image_size
        self.image_size = int(size if isinstance(size, int) else max(size))
        log.info("Loaded %s on %s (dim %d, batch %d)", self.model_id, self.device, self.dim, self.batch_size)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB images; returns float32 ``(n, dim)`` with unit-norm rows."""
        chunks = [
            self.encode_pixels(torch.stack([self.preprocess(image) for image in images[start:start + self.batch_size]]))
            for start in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Embed already-preprocessed pixels ``(n, 3, H, W)``; the indexer prepares them in threads."""
        with torch.inference_mode(), self._autocast():
            features = self.model.encode_image(pixels.to(self.device, non_blocking=True))
        return _normalised(features)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed text queries; returns float32 ``(n, dim)`` with unit-norm rows."""
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start:start + self.batch_size])).to(self.device)
            with torch.inference_mode(), self._autocast():
                chunks.append(_normalised(self.model.encode_text(tokens)))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def _autocast(self) -> contextlib.AbstractContextManager:
        """fp16 on CUDA halves memory traffic; CPU and MPS stay in fp32 for exact results."""
        if self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()


def _normalised(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return features.cpu().numpy().astype(np.float32, copy=False)

