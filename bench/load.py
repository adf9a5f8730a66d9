"""Load test: 50 concurrent clients for 60 s mixing photo search, text search and try-on against
`shoplens serve` (ViT-B-32, random weights) on 127.0.0.1. Half-way through, the catalog changes, a new
index version is built by `shoplens index` and switched in with the admin API; the run checks that no
request fails and that results come from the new version afterwards.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from common import ROOT, machine, percentile_ms, photo, random_checkpoint  # noqa: E402
from tests.browser import running_server
from tests.conftest import grace_hopper

TOKEN = "load-test-token"


def multipart(fields: dict[str, bytes | str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, bytes):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f.jpg"\r\n'
                         f"Content-Type: image/jpeg\r\n\r\n".encode() + value + b"\r\n")
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def write_catalog(folder: Path, count: int, seed: int) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = ["id,title,image,category,price"]
    for i in range(count):
        photo(seed * 1000 + i, (480, 360)).save(folder / "images" / f"{i}.jpg", quality=85)
        lines.append(f"p{i},Product {i},images/{i}.jpg,{['bags', 'shoes', 'dresses'][i % 3]},{10 + i}")
    (folder / "catalog.csv").write_text("\n".join(lines) + "\n")
    return folder / "catalog.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    checkpoint = random_checkpoint(work)
    folder = work / "load-catalog"
    shutil.rmtree(folder, ignore_errors=True)
    catalog = write_catalog(folder, 60, seed=1)
    index = work / "load-index"
    shutil.rmtree(index, ignore_errors=True)
    shoplens = [sys.executable, "-m", "app.cli", "index", "--catalog", str(catalog), "--out", str(index),
                "--model", "ViT-B-32", "--pretrained", str(checkpoint), "--device", "cpu"]
    subprocess.run(shoplens, check=True, cwd=ROOT, capture_output=True)

    buffer = io.BytesIO()
    photo(424242, (1024, 768)).save(buffer, "JPEG", quality=88)
    search_body = multipart({"image": buffer.getvalue()})
    buffer = io.BytesIO()
    grace_hopper().save(buffer, "JPEG", quality=90)
    tryon_body = multipart({"image": buffer.getvalue(),
                            "looks": json.dumps([{"type": "lipstick", "color": "#9B1B30", "finish": "satin"},
                                                 {"type": "blush", "color": "#F1A7B5"}])})
    records: list[tuple[str, float, float, int, str]] = []  # kind, started, seconds, status, version
    stop = threading.Event()

    def client(base: str, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            kind = rng.choices(["photo", "text", "tryon"], weights=[4, 3, 3])[0]
            if kind == "photo":
                request = urllib.request.Request(base + "/api/v1/search?k=10", data=search_body[0], method="POST",
                                                 headers={"Content-Type": search_body[1]})
            elif kind == "text":
                request = urllib.request.Request(base + "/api/v1/search?k=10&q=" + rng.choice(["bag", "red+shoes"]))
            else:
                request = urllib.request.Request(base + "/api/v1/tryon", data=tryon_body[0], method="POST",
                                                 headers={"Content-Type": tryon_body[1]})
            started = time.monotonic()
            version, status = "", 0
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    status = response.status
                    payload = response.read()
                    if kind != "tryon":
                        version = json.loads(payload)["version"]
            except urllib.error.HTTPError as error:
                status = error.code
            except (urllib.error.URLError, OSError):
                status = -1
            records.append((kind, started, time.monotonic() - started, status, version))

    with running_server("--index", str(index), "--threads", "8", "--timeout", "120", "--reload-interval", "0",
                        env={"SHOPLENS_ADMIN_TOKEN": TOKEN}, ready_timeout=180) as base:
        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(base, i), daemon=True) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds / 3)
        write_catalog(folder, 70, seed=2)  # every image changes and 10 products are added
        reindex_started = time.monotonic()
        subprocess.run(shoplens, check=True, cwd=ROOT, capture_output=True)
        reload_request = urllib.request.Request(base + "/api/v1/admin/reload", method="POST",
                                                headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(reload_request, timeout=120) as response:
            switched = json.load(response)
        switched_at = time.monotonic()
        time.sleep(max(0.0, args.seconds - (time.monotonic() - began)))
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        elapsed = time.monotonic() - began
    errors = [r for r in records if r[3] != 200]
    after = [r for r in records if r[0] != "tryon" and r[1] > switched_at]
    print(f"# {machine()}; {args.clients} clients, {elapsed:.0f} s, ViT-B-32 random weights, 1 gunicorn worker "
          f"x 8 threads; re-index ({switched['count']} products) took {switched_at - reindex_started:.0f} s "
          f"during the run")
    print("| requests | kind | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in ("photo", "text", "tryon", "all"):
        rows = [r for r in records if kind == "all" or r[0] == kind]
        if not rows:
            continue
        latencies = [r[2] for r in rows]
        print(f"| {len(rows)} | {kind} | {len(rows) / elapsed:.1f} | {percentile_ms(latencies, 50):.0f} | "
              f"{percentile_ms(latencies, 95):.0f} | {percentile_ms(latencies, 99):.0f} | "
              f"{sum(1 for r in rows if r[3] != 200)} |")
    new_version = switched["version"]
    print(f"\nerrors: {len(errors)}; search responses after the switch: {len(after)}, "
          f"from the new version {new_version}: {sum(1 for r in after if r[4] == new_version)}")


if __name__ == "__main__":
    main()
