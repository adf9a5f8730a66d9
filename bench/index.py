"""Indexing throughput: images/s of a whole `shoplens index` run (model load excluded) over images/s
of the bare model forward pass on pre-made tensors at the same batch size. Target: >= 0.85.

    .venv/bin/python bench/index.py [--images 512] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

from common import machine, median, photo, random_checkpoint  # noqa: E402
from indexer.runner import IndexJob, run_index
from vision.embedder import Embedder, EmbedderConfig


def write_catalog(folder: Path, count: int) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image"])
        for i in range(count):
            name = f"images/{i:05d}.jpg"
            if not (folder / name).exists():
                photo(i, (800, 600)).save(folder / name, quality=88)
            writer.writerow([f"p{i}", f"Product {i}", name])
    return path


def bare_forward_rate(embedder: Embedder, batch: int, repeats: int = 5) -> float:
    pixels = torch.randn(batch, 3, embedder.image_size, embedder.image_size)
    with torch.inference_mode():
        embedder.encode_pixels(pixels)  # in the embedder's precision
        timings = []
        for _ in range(repeats):
            tick = time.perf_counter()
            embedder.encode_pixels(pixels)  # in the embedder's precision
            timings.append(time.perf_counter() - tick)
    return batch / median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    checkpoint = random_checkpoint(work)
    catalog = write_catalog(work / "index-catalog", args.images)
    embedder = Embedder(EmbedderConfig(model="ViT-B-32", pretrained=str(checkpoint), device="cpu",
                                       batch_size=args.batch_size))
    bare_before = bare_forward_rate(embedder, args.batch_size)
    with tempfile.TemporaryDirectory() as out:
        report = run_index(IndexJob(catalog=catalog, out_dir=Path(out), show_progress=False), embedder)
    bare_after = bare_forward_rate(embedder, args.batch_size)
    bare = (bare_before + bare_after) / 2
    whole = report.products / report.seconds
    print(f"# {machine()}")
    print("| images | batch | whole run (img/s) | embed stage (img/s) | bare forward (img/s) | whole / bare |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {report.products} | {args.batch_size} | {whole:.1f} | {report.images_per_second:.1f} | {bare:.1f} "
          f"| {whole / bare:.2f} |")


if __name__ == "__main__":
    main()
