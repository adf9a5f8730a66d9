"""Latency of POST /api/v1/search through gunicorn (`shoplens serve`) with ViT-B-32 (random weights)
over the model's own encode time for the same image. Target: overhead (decode + preprocess + search +
JSON + HTTP) <= 25 % of the encode time at p50.

The encode is timed two ways, in a process of its own (a model runtime left in the client's process made
the server 1.5x slower), in rounds alternating with the searches: the forward pass alone on preprocessed
pixels, and the photo's whole encode (decode, preprocess, forward), the work any caller of the model does
for a shopper's photo, in a server or not.

The request and response validation of the API contract is timed on its own (target: under 1 ms per
request), and ``--baseline REF`` also serves the same index from an earlier commit (a git worktree),
alternating requests between the two servers so both see the same machine noise.

    .venv/bin/python bench/serve.py [--requests 60] [--baseline 1803ca1] [--precision auto]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from common import ROOT, machine, percentile_ms, photo, random_checkpoint  # noqa: E402
from pydantic import TypeAdapter
from werkzeug.datastructures import FileStorage

from app.api_requests import PhotoSearchForm, SearchOptions, merged_search_options
from app.api_responses import SearchResults
from indexer.runner import IndexJob, run_index
from tests.browser import running_server
from vision.embedder import Embedder, EmbedderConfig
from vision.images import load_image

ROUND = 10  # encodes, then searches, per round
_embedder: Embedder | None = None  # the encoding process's model (set by load_and_index)


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
    parser.add_argument("--baseline", default="", help="a git commit to serve side by side (before a change)")
    parser.add_argument("--precision", default="auto", help="the model's precision, in process and in the server")
    args = parser.parse_args()
    work = Path(args.work_dir)
    buffer = io.BytesIO()
    photo(999, (1280, 960)).save(buffer, "JPEG", quality=90)
    upload = buffer.getvalue()
    body, content_type = multipart(upload)
    encode: list[float] = []
    photo_encode: list[float] = []
    with contextlib.ExitStack() as stack:
        encoder = stack.enter_context(ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")))
        index, precision = encoder.submit(load_and_index, work, args.precision).result()
        server_args = ("--index", str(index), "--workers", "1", "--threads", "4", "--reload-interval", "0",
                       "--precision", args.precision)
        servers = {"this checkout": stack.enter_context(running_server(*server_args))}
        if args.baseline:
            tree = stack.enter_context(worktree(args.baseline, work))
            servers[f"baseline {args.baseline}"] = stack.enter_context(
                running_server(*server_args, cwd=tree, env={"PYTHONPATH": str(tree)}))
        served: dict[str, list[float]] = {name: [] for name in servers}
        for name, base in servers.items():
            for _ in range(3):
                post(base + "/api/v1/search?k=20", body, content_type)
        # rounds of encodes and searches, so that both see the same moments of this shared machine's noise (the
        # encoding process sits idle while the server answers: an idle model beside the server costs it nothing)
        for done in range(0, args.requests, ROUND):
            count = min(ROUND, args.requests - done)
            forward, whole = encoder.submit(encode_times, upload, count).result()
            encode += forward
            photo_encode += whole
            for _ in range(count):
                for name, base in servers.items():
                    served[name].append(post(base + "/api/v1/search?k=20", body, content_type))
        results = json.loads(urllib.request.urlopen(servers["this checkout"] + "/api/v1/search?q=dress&k=20").read())
    validation = validation_times(upload, results, args.requests * 10)
    p50_encode, p50_photo = percentile_ms(encode, 50), percentile_ms(photo_encode, 50)
    print(f"# {machine()}; upload 1280x960 JPEG ({len(upload) // 1024} KB), k=20, {args.requests} requests, "
          f"precision {precision}")
    print("| measure | p50 (ms) | p99 (ms) |")
    print("| --- | --- | --- |")
    print(f"| model encode_image (same image, preprocessed) | {p50_encode:.1f} | {percentile_ms(encode, 99):.1f} |")
    print(f"| photo encode (decode + preprocess + encode_image) | {p50_photo:.1f} | "
          f"{percentile_ms(photo_encode, 99):.1f} |")
    for name, times in served.items():
        print(f"| POST /api/v1/search via gunicorn ({name}) | {percentile_ms(times, 50):.1f} | "
              f"{percentile_ms(times, 99):.1f} |")
    print(f"| request + response validation (in process) | {percentile_ms(validation, 50):.3f} | "
          f"{percentile_ms(validation, 99):.3f} |")
    p50_served = percentile_ms(served["this checkout"], 50)
    print(f"| server / encode_image at p50 | {p50_served / p50_encode:.2f}x | |")
    print(f"| server / photo encode at p50 | {p50_served / p50_photo:.2f}x | |")
    if args.baseline:
        p50_baseline = percentile_ms(served[f"baseline {args.baseline}"], 50)
        spread = statistics.quantiles([t * 1000 for t in served["this checkout"]], n=4)
        print(f"| this checkout - baseline at p50 | {p50_served - p50_baseline:+.1f} ms | "
              f"(interquartile range {spread[2] - spread[0]:.1f} ms) |")


def load_and_index(work: Path, precision: str) -> tuple[Path, str]:
    """In the encoding process: load the model (kept for ``encode_times``) and build the served index."""
    global _embedder
    checkpoint = random_checkpoint(work)
    _embedder = Embedder(EmbedderConfig(model="ViT-B-32", pretrained=str(checkpoint), device="cpu", batch_size=32,
                                        precision=precision))
    catalog_dir = work / "serve-catalog"
    (catalog_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = ["id,title,image"]
    for i in range(64):
        photo(i, (640, 480)).save(catalog_dir / "images" / f"{i}.jpg", quality=85)
        lines.append(f"p{i},Product {i},images/{i}.jpg")
    (catalog_dir / "catalog.csv").write_text("\n".join(lines) + "\n")
    index = work / "serve-index"
    run_index(IndexJob(catalog=catalog_dir / "catalog.csv", out_dir=index, show_progress=False), _embedder)
    return index, _embedder.precision.name


def encode_times(upload: bytes, repeats: int) -> tuple[list[float], list[float]]:
    """In the encoding process: the forward pass alone on the upload's pixels, and the photo's whole encode."""
    pixels = _embedder.preprocess(load_image(upload, max_side=_embedder.image_size))[None]
    forward, whole = [], []
    with torch.inference_mode():
        for _ in range(repeats):
            tick = time.perf_counter()
            _embedder.encode_pixels(pixels)  # in the embedder's precision
            forward.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            _embedder.encode_pixels(_embedder.preprocess(load_image(upload, max_side=_embedder.image_size))[None])
            whole.append(time.perf_counter() - tick)
    return forward, whole


def validation_times(upload: bytes, results: dict, repeats: int) -> list[float]:
    """What the contract adds per photo search: the query and form models, their merge, and the response
    model over a real 20-result body, as spectree runs them."""
    response_model = TypeAdapter(SearchResults)
    body = json.dumps(results).encode()
    times = []
    for _ in range(repeats):
        form = {"image": FileStorage(io.BytesIO(upload), filename="p.jpg", name="image"), "q": "green"}
        tick = time.perf_counter()
        options = merged_search_options(SearchOptions.model_validate({"k": "20"}), PhotoSearchForm.model_validate(form))
        response_model.validate_json(body)
        times.append(time.perf_counter() - tick)
        assert options.k == 20
    return times


@contextlib.contextmanager
def worktree(ref: str, work: Path):
    """A checkout of ``ref`` beside this one, removed afterwards."""
    path = work / f"baseline-{ref}"
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)

if __name__ == "__main__":
    main()
