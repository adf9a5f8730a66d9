"""Shared by the benchmarks: real architectures with random weights, loaded the production way.

Speed does not depend on weight values, so a random ViT-B-32 saved as a checkpoint file and loaded
through ``Embedder`` measures exactly what production runs.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def random_checkpoint(folder: Path, model: str = "ViT-B-32") -> Path:
    """Save a randomly initialised ``model`` as a checkpoint file (cached between runs)."""
    path = folder / f"{model}-random.pt"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(open_clip.create_model(model, pretrained=None).state_dict(), path)
    return path


def photo(index: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A photo-like picture (smooth gradients plus texture), distinct per index."""
    rng = np.random.default_rng(index)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    tilt = rng.uniform(-0.3, 0.3, (2, 3))
    pixels = base + xs[..., None] * tilt[0] + ys[..., None] * tilt[1]
    pixels += 40 * np.sin(xs[..., None] / rng.uniform(8, 40) + rng.uniform(0, 6, 3))
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def clustered_unit_vectors(count: int, dim: int = 512, seed: int = 0, intrinsic: int = 48) -> np.ndarray:
    """Vectors shaped like image embeddings: clusters on a low-dimensional manifold, then normalised.

    Uniform random 512-d vectors have no meaningful neighbours, which makes every ANN index look
    broken; CLIP embeddings of a catalog are clustered and have a low intrinsic dimension.
    """
    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(intrinsic, dim)).astype(np.float32)
    centres = rng.normal(size=(max(count // 200, 8), intrinsic)).astype(np.float32)
    out = np.empty((count, dim), np.float32)
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        latent = centres[rng.integers(0, len(centres), stop - start)]
        latent += 0.6 * rng.normal(size=latent.shape).astype(np.float32)
        block = latent @ projection + 0.5 * rng.normal(size=(stop - start, dim)).astype(np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def memory_kb() -> dict[str, int]:
    """This process's memory from ``/proc/self/smaps_rollup`` (Rss, Pss, Anonymous... in kB)."""
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "kB":
            fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def in_worker_processes(target, args: tuple, workers: int) -> list[dict]:
    """Run ``target(*args, queue, ready, hold)`` in ``workers`` fresh interpreters at once, like gunicorn's
    workers: each puts its report on ``queue`` after ``ready`` (a barrier: all of them have opened what they
    share) and stays alive until every report is in, so shared pages count as shared."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue, ready, hold = context.Queue(), context.Barrier(workers), context.Event()
    processes = [context.Process(target=target, args=(*args, queue, ready, hold)) for _ in range(workers)]
    for process in processes:
        process.start()
    reports = [queue.get(timeout=1200) for _ in processes]
    hold.set()
    for process in processes:
        process.join(60)
    return reports


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        cpu = model
    except (OSError, StopIteration):
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {cores} cores, torch {torch.__version__}, {date.today().isoformat()}"
