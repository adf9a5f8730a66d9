"""Latency of POST /api/v1/search through gunicorn (`shoplens serve`) with ViT-B-32 (random weights)
over the model's own encode time for the same image. Target: overhead (decode + preprocess + search +
JSON + HTTP) <= 25 % of the encode time at p50.

    .venv/bin/python bench/serve.py [--requests 60]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import torch

from common import machine, percentile_ms, photo, random_checkpoint  # noqa: E402
from indexer.runner import IndexJob, run_index
from tests.browser import running_server
from vision.embedder import Embedder, EmbedderConfig
from vision.images import load_image



def multipart(image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str) -> float:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    tick = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    checkpoint = random_checkpoint(work)
    embedder = Embedder(EmbedderConfig(model="ViT-B-32", pretrained=str(checkpoint), device="cpu", batch_size=32))
    catalog_dir = work / "serve-catalog"
    (catalog_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = ["id,title,image"]
    for i in range(64):
        photo(i, (640, 480)).save(catalog_dir / "images" / f"{i}.jpg", quality=85)
        lines.append(f"p{i},Product {i},images/{i}.jpg")
    (catalog_dir / "catalog.csv").write_text("\n".join(lines) + "\n")
    index = work / "serve-index"
    run_index(IndexJob(catalog=catalog_dir / "catalog.csv", out_dir=index, show_progress=False), embedder)

    buffer = io.BytesIO()
    photo(999, (1280, 960)).save(buffer, "JPEG", quality=90)
    upload = buffer.getvalue()
    pixels = embedder.preprocess(load_image(upload, max_side=embedder.image_size))[None]
    encode = []
    with torch.inference_mode():
        for _ in range(args.requests):
            tick = time.perf_counter()
            embedder.model.encode_image(pixels)
            encode.append(time.perf_counter() - tick)
    del embedder

    body, content_type = multipart(upload)
    with running_server("--index", str(index), "--workers", "1", "--threads", "4", "--reload-interval", "0") as base:
        for _ in range(3):
            post(base + "/api/v1/search?k=20", body, content_type)
        served = [post(base + "/api/v1/search?k=20", body, content_type) for _ in range(args.requests)]
    p50_encode, p50_served = percentile_ms(encode, 50), percentile_ms(served, 50)
    print(f"# {machine()}; upload 1280x960 JPEG ({len(upload) // 1024} KB), k=20, {args.requests} requests")
    print("| measure | p50 (ms) | p99 (ms) |")
    print("| --- | --- | --- |")
    print(f"| model encode_image (same image) | {p50_encode:.1f} | {percentile_ms(encode, 99):.1f} |")
    print(f"| POST /api/v1/search via gunicorn | {p50_served:.1f} | {percentile_ms(served, 99):.1f} |")
    print(f"| overhead at p50 | {(p50_served - p50_encode) / p50_encode * 100:.1f} % | |")


if __name__ == "__main__":
    main()
