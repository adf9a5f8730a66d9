"""Images/s of Embedder.encode_images (decode-free: PIL images in, vectors out) for ViT-B-32 at
batch sizes 1, 8, 32, against open_clip's bare forward pass on pre-made tensors; then the CPU fast path
side by side: fp32, torch bf16 (what ``precision=auto`` picks on CPUs with native bf16 without the
openvino extra), OpenVINO bf16 (its fallback with the extra), OpenVINO with its image tower in int8
(``precision=openvino-int8``, what auto picks with the extra when int8 agrees to 0.998) and torch's int8
dynamic quantization (evaluated, not shipped);
single-image and batch-32 image encodes, one text encode,
and each one's lowest cosine to fp32 on the same inputs.

    .venv/bin/python bench/embed.py [--model ViT-B-32] [--seconds 20] [--precision-only]
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import machine, median, photo, random_checkpoint  # noqa: E402  (sys.path set in common)

from vision.embedder import Embedder, EmbedderConfig
from vision.openvino_towers import int8_available, openvino_available
from vision.precision import agreement


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
    parser.add_argument("--precision-only", action="store_true", help="only the fp32 / bf16 / int8 table")
    args = parser.parse_args()
    checkpoint = random_checkpoint(Path(args.weights_dir), args.model)
    print(f"# {machine()}")
    precision_table(EmbedderConfig(model=args.model, pretrained=str(checkpoint), device="cpu"), args.seconds)
    if args.precision_only:
        return
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
                embedder.encode_pixels(pixels)  # in the embedder's precision

        theirs = rate(bare, batch, args.seconds)
        print(f"| {batch} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |", flush=True)



PATHS = {"fp32": "fp32", "bf16 (weights)": "bf16", "OpenVINO bf16": "openvino",
         "OpenVINO, image tower int8 (NNCF)": "openvino-int8", "torch int8 dynamic (image tower)": "int8"}


def measure_path(config: EmbedderConfig, precision: str, seconds: float) -> tuple[float, float, float, np.ndarray]:
    """One path's 1-image p50 (ms), batch-32 images/s, 1-text p50 (ms), and its vectors for the 32 photos and
    the text. Run in a process of its own: torch's OpenMP threads keep spinning after a call and slowed the
    next path measured beside them (OpenVINO's one-image time doubled)."""
    images = [photo(i, (800, 600)) for i in range(32)]
    texts = ["a red satin dress with thin straps"]
    embedder = Embedder(replace(config, precision="fp32" if precision == "int8" else precision, batch_size=32))
    one = embedder.preprocess(images[0])[None]
    batch = torch.stack([embedder.preprocess(image) for image in images])
    if precision == "int8":
        with warnings.catch_warnings():  # torch.ao.quantization is deprecated: measured here, not shipped
            warnings.simplefilter("ignore")
            int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(embedder.model.visual), {torch.nn.Linear},
                                                          dtype=torch.qint8)

        def encode(pixels: torch.Tensor) -> np.ndarray:
            with torch.inference_mode():
                features = int8(pixels).float()
            return (features / features.norm(dim=-1, keepdim=True)).numpy()

        vectors = np.concatenate([encode(batch), np.full((1, embedder.dim), np.nan, np.float32)])
        return (1000 / rate(lambda: encode(one), 1, seconds), rate(lambda: encode(batch), 32, seconds), float("nan"),
                vectors)
    vectors = np.concatenate([embedder.encode_images(images), embedder.encode_texts(texts)])
    return (1000 / rate(lambda: embedder.encode_pixels(one), 1, seconds),
            rate(lambda: embedder.encode_pixels(batch), 32, seconds),
            1000 / rate(lambda: embedder.encode_texts(texts), 1, seconds), vectors)


def precision_table(config: EmbedderConfig, seconds: float) -> None:
    print("\n| path | 1 image p50 (ms) | batch 32 (img/s) | 1 text p50 (ms) | lowest cosine to fp32 | "
          "vs fp32, 1 image |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = {}
    context = multiprocessing.get_context("spawn")
    for name, precision in PATHS.items():
        if precision.startswith("openvino") and not (int8_available() if "int8" in precision else openvino_available()):
            print(f"({name}: skipped, the openvino extra is not installed)")
            continue
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            rows[name] = pool.submit(measure_path, config, precision, seconds).result()
    reference = rows["fp32"][3]
    for name, (single, batched, text, vectors) in rows.items():
        present = ~np.isnan(vectors[:, 0])
        cosine = agreement(reference[present], vectors[present])
        print(f"| {name} | {single:.1f} | {batched:.1f} | {text:.1f} | {cosine:.5f} | "
              f"{single / rows['fp32'][0]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
