"""Images/s of Embedder.encode_images (decode-free: PIL images in, vectors out) for ViT-B-32 at
batch sizes 1, 8, 32, against open_clip's bare forward pass on pre-made tensors.

    .venv/bin/python bench/embed.py [--model ViT-B-32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import machine, median, photo, random_checkpoint  # noqa: E402  (sys.path set in common)
from vision.embedder import Embedder, EmbedderConfig


def rate(function, items: int, seconds: float, minimum_runs: int = 3) -> float:
    """Median images/s over repeated runs of ``function`` (after one warm-up)."""
    function()
    timings = []
    started = time.perf_counter()
    while len(timings) < minimum_runs or time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        function()
        timings.append(time.perf_counter() - tick)
    return items / median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--seconds", type=float, default=15.0, help="time budget per measurement")
    parser.add_argument("--weights-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    checkpoint = random_checkpoint(Path(args.weights_dir), args.model)
    print(f"# {machine()}")
    print("| batch | Embedder.encode_images (img/s) | bare forward (img/s) | ratio |")
    print("| --- | --- | --- | --- |")
    for batch in (1, 8, 32):
        embedder = Embedder(EmbedderConfig(model=args.model, pretrained=str(checkpoint), device="cpu",
                                           batch_size=batch))
        images = [photo(i, (800, 600)) for i in range(batch)]
        ours = rate(lambda: embedder.encode_images(images), batch, args.seconds)
        pixels = torch.stack([embedder.preprocess(image) for image in images])

        def bare():
            with torch.inference_mode():
                embedder.model.encode_image(pixels)

        theirs = rate(bare, batch, args.seconds)
        print(f"| {batch} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
