"""Which number format the CLIP towers run in, and the check that keeps a faster one honest.

On a CPU with AVX-512 BF16 or AMX, ViT-B-32 with bf16 weights takes 0.45-0.6x its fp32 time for one
image or text and about a third of it per image in batches (docs/BENCHMARKS.md), with an embedding
cosine of 0.9999 against fp32. ``auto`` uses bf16 only
where the CPU computes it natively (elsewhere it is emulated and slower) and only after the model, as
loaded, agrees with fp32 on fixed probe images and texts; otherwise it stays fp32 and says why in one
log line. Where the optional OpenVINO runtime is installed, ``auto`` on a CPU tries it first, under the
same check (bf16 where native, f32 elsewhere): it is faster still (vision/openvino_towers.py). Faster again
is ``openvino-int8``, its image tower in int8, which ``auto`` tries first under a stricter bound
(``AUTO_INT8_BOUND``). CUDA keeps its fp16 autocast; Apple's MPS stays fp32.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # torch loads lazily: the index store imports this module's bound without needing torch
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "openvino", "openvino-int8", "fp16")
# Lowest cosine between a probe's fp32 embedding and its embedding in the faster format. At 0.995 the
# angle is under 5.8 degrees; bf16 ViT-B-32 stays under 1 degree.
FIDELITY_BOUND = 0.995
# What ``auto`` asks of int8 before choosing it: a margin over FIDELITY_BOUND, so that a model whose int8
# agreement sits near the bound is not chosen by one process and refused by another, and so that an index
# built in int8 and queried in bf16 (or the reverse) stays within the bound: cos(acos(0.998) + acos(0.9999))
# is 0.997. ViT-B-32 passes with 0.9996, and 0.9991 with 60x outlier channels (docs/BENCHMARKS.md).
AUTO_INT8_BOUND = 0.998
PROBE_TEXTS = ("a red satin dress", "black leather ankle boots", "glossy pink lipstick", "un sac en cuir marron")


class PrecisionUnavailable(ValueError):
    """A precision this device cannot run (fp16 on a CPU)."""


@dataclass(frozen=True)
class Precision:
    """What a model runs in, and how closely it agrees with fp32 (1.0 for fp32 itself)."""

    name: str = "fp32"
    fidelity: float = 1.0


def check_precision(requested: str, device: torch.device | None) -> str:
    """The setting, validated (for ``device`` when given).  :raise PrecisionUnavailable: a typo, fp16 off CUDA."""
    name = (requested or "auto").strip().lower()
    if name not in PRECISIONS:
        raise PrecisionUnavailable(f"Unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}.")
    if name == "fp16" and device is not None and device.type != "cuda":
        raise PrecisionUnavailable("fp16 needs a CUDA GPU; on this device use auto, bf16 or fp32.")
    if name.startswith("openvino"):
        from vision.openvino_towers import int8_available, openvino_available

        if device is not None and device.type != "cpu":
            raise PrecisionUnavailable(f"{name} runs on the CPU; on this device use auto or fp32.")
        if not (int8_available() if name == "openvino-int8" else openvino_available()):
            raise PrecisionUnavailable(f"{name} needs the openvino extra: pip install 'shoplens[openvino]' (make "
                                       "install does), or use auto, bf16 or fp32.")
    return name


def native_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX-512 BF16 or AMX); emulated bf16 is slower than fp32."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def probe_images(size: int) -> list[Image.Image]:
    """Fixed pictures unlike each other: smooth colour, fine texture, hard edges, and noise."""
    rng = np.random.default_rng(1234)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    smooth = np.stack([xs * 255, ys * 255, (1 - xs) * 200 + 30], axis=-1)
    texture = 128 + 100 * np.sin(np.stack([xs * 60, ys * 45, (xs + ys) * 30], axis=-1))
    stripes = np.where(((xs * 8).astype(int) + (ys * 8).astype(int)) % 2 == 0, 230, 25)[..., None].repeat(3, -1)
    noise = rng.uniform(0, 255, (size, size, 3))
    return [Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
            for pixels in (smooth, texture, stripes, noise)]


def calibration_images(size: int, count: int) -> list[Image.Image]:
    """Generated pictures whose activations set int8's ranges: photo-like mixes of gradients, textures, shapes
    and noise, from seeds the probes do not use (the fidelity check must not grade the calibration set)."""
    pictures = []
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    x, y = xs[..., None], ys[..., None]
    for index in range(count):
        rng = np.random.default_rng(9_000 + index)
        pixels = rng.uniform(20, 235, 3) + 110 * (x * rng.uniform(-1, 1, 3) + y * rng.uniform(-1, 1, 3))
        pixels += rng.uniform(10, 70) * np.sin(x * rng.uniform(3, 80) + y * rng.uniform(3, 80) + rng.uniform(0, 6, 3))
        for _ in range(rng.integers(1, 4)):  # objects: ellipses and boxes of flat colour
            (cx, cy), (rx, ry) = rng.uniform(0.1, 0.9, 2), rng.uniform(0.05, 0.4, 2)
            if rng.random() < 0.5:
                inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1
            else:
                inside = (abs(xs - cx) < rx) & (abs(ys - cy) < ry)
            pixels[inside] = rng.uniform(0, 255, 3) + rng.normal(0, 8, (int(inside.sum()), 3))
        pixels += rng.normal(0, rng.uniform(1, 20), pixels.shape)
        pictures.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"))
    return pictures


def agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The lowest row-wise cosine between two sets of unit vectors."""
    return float(np.min(np.sum(reference * candidate, axis=1)))


def probes_digest(size: int) -> str:
    """Names the probe set, so an agreement measured on it can be kept and trusted only for the same probes."""
    digest = hashlib.sha256("\n".join(PROBE_TEXTS).encode())
    for picture in probe_images(size):
        digest.update(picture.tobytes())
    return digest.hexdigest()[:16]


def fidelity_between(first: Precision, second: Precision) -> float:
    """A lower bound on the cosine between one model's vectors made in two precisions.

    The same path on the same weights is the same computation (int8 included: its tower is quantized
    deterministically from fixed calibration pictures), so 1; otherwise the two angles to fp32 add up.
    """
    if first.name == second.name:
        return 1.0
    return combined_fidelity(first.fidelity, second.fidelity)


def combined_fidelity(first: float, second: float) -> float:
    """A lower bound on the cosine between vectors from two formats, each ``first``/``second`` close to fp32:
    their angles to fp32 add up at worst."""
    angle = math.acos(min(1.0, max(-1.0, first))) + math.acos(min(1.0, max(-1.0, second)))
    return math.cos(min(angle, math.pi))
