"""Serving at a shop's traffic: concurrent photo and text searches against `shoplens serve` (ViT-B-32, random
weights) at 1, 8 and 32 closed-loop clients, with the micro-batcher (defaults) and without it
(``--max-batch 1``), optionally beside an earlier commit; then slow clients (200 connections holding half a
request header, 20 photo uploads trickling at ~20 KB/s) while one client keeps searching.

Targets (issue #23): throughput at 8 clients >= 1.5x the 1-client throughput, p99 at 8 clients under
1,050 ms, no errors; with slow clients, searches keep answering with p50 < 1 s.

    .venv/bin/python bench/serving.py [--seconds 12] [--baseline cb6d546] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import ROOT, machine, percentile_ms, photo, random_checkpoint  # noqa: E402

from tests.browser import running_server
from tests.slow_clients import slow_crowd, timed_get, timed_photo_search

QUERIES = 20
CLIENT_COUNTS = (1, 8, 32)
TEXTS = ["red satin dress", "leather bag", "running shoes", "green coat", "lipstick", "blue jeans", "silver watch",
         "summer hat"]


def build_index(work: Path, device: str) -> tuple[Path, list[bytes]]:
    """20 catalog photos, indexed; their JPEG bytes are the photo queries."""
    checkpoint = random_checkpoint(work)
    catalog = work / "serving-catalog"
    (catalog / "images").mkdir(parents=True, exist_ok=True)
    lines, queries = ["id,title,image,category,price"], []
    for i in range(QUERIES):
        buffer = io.BytesIO()
        photo(7000 + i, (640, 480)).save(buffer, "JPEG", quality=88)
        (catalog / "images" / f"{i}.jpg").write_bytes(buffer.getvalue())
        queries.append(buffer.getvalue())
        lines.append(f"p{i},Product {i},images/{i}.jpg,{['bags', 'shoes', 'dresses'][i % 3]},{10 + i}")
    (catalog / "catalog.csv").write_text("\n".join(lines) + "\n")
    index = work / "serving-index"
    if not (index / "current").exists():
        subprocess.run([str(Path(ROOT / ".venv/bin/python")), "-m", "app.cli", "index", "--catalog",
                        str(catalog / "catalog.csv"), "--out", str(index), "--model", "ViT-B-32", "--pretrained",
                        str(checkpoint), "--device", device], check=True, cwd=ROOT, capture_output=True)
    return index, queries


def closed_loop(base: str, kind: str, clients: int, seconds: float, queries: list[bytes]):
    """``clients`` threads, each sending its next request as soon as the last one is answered."""
    records: list[tuple[float, int]] = []
    stop = threading.Event()

    def client(number: int) -> None:
        turn = number
        while not stop.is_set():
            turn += clients
            if kind == "photo":
                status, seconds_taken = timed_photo_search(base, queries[turn % len(queries)])
            else:
                status, seconds_taken = timed_text_search(base, TEXTS[turn % len(TEXTS)] + f" {turn % 5}")
            records.append((seconds_taken, status))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    return records, time.monotonic() - began


def timed_text_search(base: str, text: str) -> tuple[int, float]:
    return timed_get(f"{base}/api/v1/search?k=10&q={urllib.request.quote(text)}", timeout=60)


def batch_sizes(base: str) -> tuple[float, float]:
    """(sum, count) of shoplens_model_batch_size over both towers; (0, 0) for a server without /metrics."""
    try:
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    except (urllib.error.URLError, OSError):
        return 0.0, 0.0
    total = sum(float(v) for v in re.findall(r"^shoplens_model_batch_size_sum\{[^}]*\} (\S+)$", text, re.M))
    count = sum(float(v) for v in re.findall(r"^shoplens_model_batch_size_count\{[^}]*\} (\S+)$", text, re.M))
    return total, count


def concurrency_rows(name: str, base: str, seconds: float, queries: list[bytes]) -> list[str]:
    rows = []
    for kind in ("photo", "text"):
        closed_loop(base, kind, 2, 2.0, queries)  # warm up both paths
        single = None
        for clients in CLIENT_COUNTS:
            before = batch_sizes(base)
            records, elapsed = closed_loop(base, kind, clients, seconds, queries)
            after = batch_sizes(base)
            latencies = [r[0] for r in records]
            throughput = len(records) / elapsed
            single = single or throughput
            batches = after[1] - before[1]
            mean_batch = f"{(after[0] - before[0]) / batches:.1f}" if batches else "-"
            rows.append(f"| {name} | {kind} | {clients} | {throughput:.1f} | {throughput / single:.2f}x | "
                        f"{percentile_ms(latencies, 50):.0f} | {percentile_ms(latencies, 99):.0f} | {mean_batch} | "
                        f"{sum(1 for r in records if r[1] != 200)} |")
            print(rows[-1], flush=True)
    return rows


def slow_client_row(name: str, base: str, queries: list[bytes]) -> str:
    with slow_crowd(base) as uploads:
        results = []
        deadline = time.monotonic() + 6
        turn = 0
        while time.monotonic() < deadline:
            results.append(timed_photo_search(base, queries[turn % len(queries)]))
            results.append(timed_text_search(base, TEXTS[turn % len(TEXTS)]))
            turn += 1
    latencies = [seconds for _, seconds in results]
    failed = sum(1 for status, _ in results if status != 200)
    uploads_ok = sum(1 for upload in uploads if upload.status == 200)
    return (f"| {name} | {len(results)} | {statistics.median(latencies) * 1000:.0f} | "
            f"{max(latencies) * 1000:.0f} | {failed} | {uploads_ok}/20 |")


@contextlib.contextmanager
def worktree(ref: str, work: Path):
    tree = work / f"baseline-{ref}"
    subprocess.run(["git", "worktree", "add", "--force", "--detach", str(tree), ref], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="per client count and kind")
    parser.add_argument("--baseline", default="", help="a git commit to measure the same way (before a change)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", nargs="*", default=["batched", "unbatched", "two workers", "baseline"],
                        help="which setups to measure under concurrency (baseline: the --baseline commit with the "
                             "old server's --threads 8; baseline-defaults: with its own defaults)")
    parser.add_argument("--no-slow-clients", action="store_true", help="skip the slow-client part")
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    index, queries = build_index(work, args.device)
    common = ("--index", str(index), "--reload-interval", "0", "--device", args.device)
    quiet = {"SHOPLENS_LOG_LEVEL": "WARNING"}
    setups = [("batched (defaults)", common, ROOT),
              ("unbatched (--max-batch 1 --threads 8)", (*common, "--max-batch", "1", "--threads", "8"), ROOT),
              ("two workers (--workers 2 --threads 16)", (*common, "--workers", "2", "--threads", "16"), ROOT)]
    setups = [setup for setup in setups if setup[0].split(" (")[0] in args.configs]
    with contextlib.ExitStack() as stack:
        if args.baseline:
            tree = stack.enter_context(worktree(args.baseline, work))
        if args.baseline and "baseline" in args.configs:
            setups.append((f"{args.baseline} (--workers 1 --threads 8)", (*common, "--workers", "1", "--threads", "8"),
                           tree))
        if args.baseline and "baseline-defaults" in args.configs:
            setups.append((f"{args.baseline} (its defaults)", common, tree))
        print(f"# {machine()}; ViT-B-32 random weights, {QUERIES} catalog photos as queries, k=10, "
              f"{args.seconds:g} s per row, closed-loop clients on the same machine")
        print("| server | query | clients | req/s | vs 1 client | p50 (ms) | p99 (ms) | mean batch | errors |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, server_args, cwd in setups:
            with running_server(*server_args, cwd=cwd, env={**quiet, "PYTHONPATH": str(cwd)},
                                ready_timeout=300) as base:
                concurrency_rows(name, base, args.seconds, queries)
        if args.no_slow_clients:
            return
        print("\n200 connections holding half a header + 20 uploads at ~20 KB/s; one client alternating photo and "
              "text search for 6 s")
        print("| server | searches | p50 (ms) | max (ms) | failed | trickled uploads answered |")
        print("| --- | --- | --- | --- | --- | --- |")
        slow_setups = [("this checkout (defaults)", common, ROOT)]
        if args.baseline:
            slow_setups.append((f"{args.baseline} (its defaults)", common, tree))
        for name, server_args, cwd in slow_setups:
            with running_server(*server_args, cwd=cwd, env={**quiet, "PYTHONPATH": str(cwd)},
                                ready_timeout=300) as base:
                print(slow_client_row(name, base, queries), flush=True)


if __name__ == "__main__":
    main()
