"""Which torch device to run on: CUDA first, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailable(RuntimeError):
    """The device asked for by name is not present on this machine."""


def resolve_device(requested: str = "auto") -> torch.device:
    """Map a setting (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``) to a usable device.

    :raise DeviceUnavailable: when a named accelerator is absent, rather than quietly using the CPU.
    :raise ValueError: for a name that is not a device at all.
    """
    name = (requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"Unknown device {requested!r}. Available: {', '.join(DEVICE_CHOICES)} (or cuda:N).")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu.")
    if kind == "mps" and not _mps_available():
        raise DeviceUnavailable("--device mps was asked for but Apple MPS is not available; use --device auto or cpu.")
    return torch.device(name)


def default_batch_size(device: torch.device) -> int:
    """A batch size that keeps the device busy without exhausting its memory for ViT-B sized models."""
    if device.type == "cuda":
        return 256
    if device.type == "mps":
        return 64
    return 32


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
