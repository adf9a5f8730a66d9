"""A tiny open_clip architecture with random weights, saved as a real checkpoint file.

Tests load it back through the same code production uses (config JSON path + checkpoint file), so
the loading path is exercised without downloading anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def write_tiny_model(folder: Path, name: str = "shoplens-tiny", seed: int = 0) -> tuple[Path, Path]:
    """Write ``<name>.json`` and a random checkpoint into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{name}.json"
    config_path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    checkpoint = folder / f"{name}-seed{seed}.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return config_path, checkpoint
