"""CLIP image and text embeddings, L2-normalised, on the best device available.

The model is loaded once per process and reused; every vector it returns is float32 with unit
norm, so inner product equals cosine similarity in the FAISS index.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image

from vision.devices import default_batch_size, resolve_device
from vision.openvino_towers import (
    OpenVinoTowers,
    int8_available,
    int8_cache_file,
    keep_int8_agreement,
    known_int8_agreement,
    openvino_available,
)
from vision.precision import (
    AUTO_INT8_BOUND,
    FIDELITY_BOUND,
    PROBE_TEXTS,
    Precision,
    agreement,
    calibration_images,
    check_precision,
    native_bf16,
    probe_images,
    probes_digest,
)
from vision.weights import model_id, resolve_model_name, resolve_weights

log = logging.getLogger(__name__)
DEFAULT_CACHE = "~/.cache/shoplens"  # where the int8 towers are kept when no cache_dir is set
CALIBRATION_PICTURES = 32  # pictures that set int8's activation ranges; each adds to the first load


@dataclass(frozen=True)
class EmbedderConfig:
    """Which model, which weights, where to run it."""

    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: str | None = None
    allow_download: bool = False
    precision: str = "auto"         # vision.precision.PRECISIONS
    threads: int | None = None      # torch CPU threads; None leaves torch's default (all cores)


class Embedder:
    """An open_clip model with its preprocessing and tokenizer, ready for batched inference."""

    def __init__(self, config: EmbedderConfig):
        """Load the model.

        :raise vision.weights.WeightsNotFound: when the weights are not on this machine.
        :raise vision.weights.UnknownModel: for a model name that does not exist.
        :raise vision.devices.DeviceUnavailable: when a named accelerator is absent.
        :raise vision.precision.PrecisionUnavailable: for a precision the device cannot run.
        """
        self.config = config
        self.device = resolve_device(config.device)
        requested = check_precision(config.precision, self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
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
        self._image_steps, self._tensor_steps = _split_at_to_tensor(preprocess)
        # open_clip's transform, bit for bit, with its usual tensor tail in numpy: torch ops here would leave
        # an OpenMP team spinning beside the OpenVINO forward pass that follows (docs/BENCHMARKS.md)
        self.preprocess: Callable[[Image.Image], torch.Tensor] = _Steps([self._image_steps, self._tensor_steps])
        self.tokenizer = open_clip.get_tokenizer(self.model_name)
        self.batch_size = config.batch_size or default_batch_size(self.device)
        self.dim = int(open_clip.get_model_config(self.model_name)["embed_dim"])
        size = model.visual.image_size
        self.image_size = int(size if isinstance(size, int) else max(size))
        self._input_dtype = torch.float32
        self._autocast_dtype: torch.dtype | None = None
        self._openvino: OpenVinoTowers | None = None
        self.precision = self._choose_precision(requested)
        self._warm_up()
        log.info("Loaded %s on %s in %s (dim %d, batch %d, %d torch threads)", self.model_id, self.device,
                 self.precision.name, self.dim, self.batch_size, torch.get_num_threads())

    @property
    def vector_key(self) -> str:
        """Names the vectors this embedder makes: the model, plus the precision when it is not fp32."""
        return self.model_id if self.precision.name == "fp32" else f"{self.model_id}@{self.precision.name}"

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB images; returns float32 ``(n, dim)`` with unit-norm rows."""
        chunks = [
            self.encode_pixels(torch.stack([self.preprocess(image) for image in images[start:start + self.batch_size]]))
            for start in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Embed already-preprocessed pixels ``(n, 3, H, W)``; the indexer prepares them in threads."""
        if self._openvino is not None:
            return _normalised(self._openvino.encode_image(pixels))
        with torch.inference_mode(), self._autocast():
            features = self.model.encode_image(pixels.to(self.device, self._input_dtype, non_blocking=True))
        return _normalised(features)

    def prepare_image(self, image: Image.Image) -> Image.Image | torch.Tensor:
        """Preprocessing up to the tensor (resize, crop, and the usual ToTensor + Normalize in numpy), for a
        request thread to do before batching.

        Any other tensor step is left to ``encode_prepared`` on the model's own thread: torch ops on many
        request threads each start an OpenMP team, and idle teams spinning beside the model's halved bf16
        speed (docs/BENCHMARKS.md).
        """
        return self._image_steps(image)

    def encode_prepared(self, prepared: Sequence[Image.Image | torch.Tensor]) -> np.ndarray:
        """Embed the output of ``prepare_image`` for several images in one forward pass."""
        return self.encode_pixels(torch.stack([self._tensor_steps(item) for item in prepared]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed text queries; returns float32 ``(n, dim)`` with unit-norm rows."""
        chunks = [self.encode_tokens(self.tokenize(texts[start:start + self.batch_size]))
                  for start in range(0, len(texts), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids ``(n, context_length)``: cheap, so request threads do it before a batched forward pass."""
        return self.tokenizer(list(texts))

    def encode_tokens(self, tokens: torch.Tensor) -> np.ndarray:
        """Embed token ids from ``tokenize``; returns float32 ``(n, dim)`` with unit-norm rows."""
        if self._openvino is not None:
            return _normalised(self._openvino.encode_text(tokens))
        with torch.inference_mode(), self._autocast():
            return _normalised(self.model.encode_text(tokens.to(self.device)))

    def _autocast(self) -> contextlib.AbstractContextManager:
        """Accelerators run fp32 weights under autocast; the CPU's bf16 has converted weights instead."""
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self._autocast_dtype)

    def _choose_precision(self, requested: str) -> Precision:
        """fp32, or the first faster format that agrees with fp32 on the probes (``auto`` falls back if none)."""
        if requested == "fp32" or (requested == "auto" and self.device.type == "mps"):
            return Precision()
        candidates = self._auto_candidates() if requested == "auto" else [(requested, FIDELITY_BOUND)]
        if not candidates:
            log.info("Precision auto: fp32, since this CPU has no native bf16 (AVX-512 BF16 or AMX)")
            return Precision()
        fp32_model = self.model
        reference = self._probe_vectors()
        refused = []
        for candidate, bound in candidates:
            fidelity = self._known_agreement(candidate) if requested == "auto" else None
            if fidelity is None or fidelity >= bound:  # a refusal already measured is not built again
                self._run_in(candidate)
                fidelity = agreement(reference, self._probe_vectors())
                self._keep_agreement(candidate, fidelity)
            if fidelity >= bound:
                if refused:
                    log.info("Precision auto: %s, since %s", candidate, "; ".join(refused))
                return Precision(candidate, fidelity)
            if requested != "auto":
                log.warning("Precision %s agrees with fp32 only to cosine %.4f on the probes (bound %.3f); kept, "
                            "as asked", candidate, fidelity, bound)
                return Precision(candidate, fidelity)
            refused.append(f"{candidate} agrees with fp32 only to cosine {fidelity:.4f} on the probes (auto asks "
                           f"{bound:.3f})")
            self.model, self._input_dtype, self._autocast_dtype, self._openvino = fp32_model, torch.float32, None, None
        log.warning("Precision auto: fp32, since %s", "; ".join(refused))
        return Precision()

    def _auto_candidates(self) -> list[tuple[str, float]]:
        """What ``auto`` tries on this device, fastest first, each with the probe agreement it must reach."""
        if self.device.type == "cuda":
            return [("fp16", FIDELITY_BOUND)]
        if int8_available():
            return [("openvino-int8", AUTO_INT8_BOUND), ("openvino", FIDELITY_BOUND)]
        if openvino_available():
            return [("openvino", FIDELITY_BOUND)]
        return [("bf16", FIDELITY_BOUND)] if native_bf16() else []

    def _known_agreement(self, candidate: str) -> float | None:
        """int8's probe agreement as an earlier process measured it on the same cached tower, if any."""
        if candidate != "openvino-int8":
            return None
        return known_int8_agreement(self._int8_cache_file, self._probes_digest)

    def _keep_agreement(self, candidate: str, fidelity: float) -> None:
        if candidate == "openvino-int8":
            keep_int8_agreement(self._int8_cache_file, self._probes_digest, fidelity)

    def _input_shape(self) -> tuple[int, int]:
        size = self.model.visual.image_size
        return (size, size) if isinstance(size, int) else tuple(size)

    @functools.cached_property
    def _int8_cache_file(self) -> Path:
        return int8_cache_file(Path(self.config.cache_dir or DEFAULT_CACHE) / "openvino", self.model_id,
                               self._input_shape())

    @functools.cached_property
    def _probes_digest(self) -> str:
        return probes_digest(self.image_size)

    def _run_in(self, name: str) -> None:
        if name.startswith("openvino"):
            calibration = cache_file = None
            if name == "openvino-int8":
                calibration = torch.stack([self.preprocess(picture) for picture in
                                           calibration_images(self.image_size, CALIBRATION_PICTURES)])
                cache_file = self._int8_cache_file
            self._openvino = OpenVinoTowers(self.model, self._input_shape(), int(self.tokenize([""]).shape[1]),
                                            torch.get_num_threads(), native_bf16(), calibration, cache_file)
        elif self.device.type == "cpu":  # bf16: converted weights (autocast would cast them on every call)
            self.model = copy.deepcopy(self.model).to(torch.bfloat16)
            self._input_dtype = torch.bfloat16
        else:
            self._autocast_dtype = torch.float16 if name == "fp16" else torch.bfloat16

    def _probe_vectors(self) -> np.ndarray:
        return np.concatenate([self.encode_images(probe_images(self.image_size)), self.encode_texts(PROBE_TEXTS)])

    def _warm_up(self) -> None:
        """One image and one text at the shapes requests use, so the first shopper does not pay for it."""
        self.encode_images(probe_images(self.image_size)[:1])
        self.encode_texts(PROBE_TEXTS[:1])


def _split_at_to_tensor(preprocess: Callable) -> tuple[Callable, Callable]:
    """open_clip's transform as (request-thread steps, model-thread steps), split before its ToTensor step.

    open_clip's usual tail, ToTensor then Normalize, is done in numpy on the request thread instead (the same
    float32 operations, bit for bit): numpy starts no OpenMP team, and the model thread, which runs every
    query of the process one after another, only stacks the results.
    """
    steps = list(getattr(preprocess, "transforms", []))
    split = next((i for i, step in enumerate(steps) if type(step).__name__.endswith("ToTensor")), None)
    if split is None:  # an unfamiliar transform: all of it runs before batching
        return preprocess, lambda tensor: tensor
    tail = steps[split:]
    if len(tail) == 2 and type(tail[1]).__name__ == "Normalize":  # open_clip's MaybeToTensor, then Normalize
        return _Steps([*steps[:split], _NumpyNormalized(tail[1].mean, tail[1].std)]), lambda tensor: tensor
    return _Steps(steps[:split]), _Steps(tail)


class _NumpyNormalized:
    """torchvision's ToTensor then Normalize for an RGB Pillow image, in numpy."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels = np.asarray(image, np.uint8)
        if pixels.ndim != 3 or pixels.shape[2] != len(self.mean):
            raise ValueError(f"expected an RGB image, got an array of shape {pixels.shape}")
        values = pixels.transpose(2, 0, 1).astype(np.float32)
        values /= np.float32(255)
        values -= self.mean
        values /= self.std
        return torch.from_numpy(values)


class _Steps:
    def __init__(self, steps: list[Callable]):
        self.steps = steps

    def __call__(self, value):
        for step in self.steps:
            value = step(value)
        return value


def _normalised(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return features.cpu().numpy().astype(np.float32, copy=False)

