"""The real server (`shoplens serve`, defaults) against slow clients, and its metrics across workers."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request

from tests.browser import running_server
from tests.conftest import product_image
from tests.slow_clients import (
    HALF_REQUEST,
    address,
    noisy_jpeg,
    photo_upload,
    read_response,
    slow_crowd,
    timed_get,
    timed_photo_search,
)


def test_slow_clients_never_hold_the_workers(shop_index):
    """200 connections with half a header and 20 uploads at ~20 KB/s; searches keep answering fast."""
    buffer = io.BytesIO()
    product_image(3, (320, 240)).save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    with running_server("--index", str(shop_index), "--reload-interval", "0") as base:
        with slow_crowd(base) as trickles:
            results = []
            for i in range(12):
                results.append(timed_get(f"{base}/api/v1/search?q=dress+{i}&k=5"))
                results.append(timed_photo_search(base, photo))
    assert [status for status, _ in results] == [200] * len(results)
    assert statistics.median(seconds for _, seconds in results) < 1.0
    assert [(u.status, u.error) for u in trickles] == [(200, None)] * 20
    assert min(u.seconds for u in trickles) > 2.0, "the uploads did not trickle"


def test_clients_too_slow_with_headers_or_body_get_408(shop_index):
    with running_server("--index", str(shop_index), "--reload-interval", "0", "--header-timeout", "1",
                        "--body-timeout", "1") as base:
        with socket.create_connection(address(base)) as headers_only:
            headers_only.sendall(HALF_REQUEST)
            slow_headers = read_response(headers_only)
        with socket.create_connection(address(base)) as stalled:
            request = photo_upload(noisy_jpeg(20_000))
            stalled.sendall(request[:len(request) // 2])
            stalled_body = read_response(stalled)
        with urllib.request.urlopen(f"{base}/api/v1/search?q=bag", timeout=10) as response:
            assert response.status == 200
    for answer in (slow_headers, stalled_body):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["error"]["code"] == "request_timeout"


def test_metrics_count_every_worker_and_hold_no_query_text(shop_index):
    buffer = io.BytesIO()
    product_image(5, (200, 160)).save(buffer, "JPEG", quality=90)
    with running_server("--index", str(shop_index), "--reload-interval", "0", "--workers", "2", "--threads", "4",
                        env={"SHOPLENS_METRICS_TOKEN": "metrics-secret"}) as base:
        for i in range(8):
            assert timed_get(f"{base}/api/v1/search?q=secretword{i}&k=3")[0] == 200
            assert timed_photo_search(base, buffer.getvalue())[0] == 200
        assert timed_get(f"{base}/api/v1/products/no-such-product")[0] == 404
        assert timed_get(f"{base}/metrics")[0] == 401
        request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": "Bearer metrics-secret"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
    samples = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}

    def total(prefix: str) -> float:
        return sum(value for name, value in samples.items() if name.startswith(prefix))

    assert total('shoplens_http_requests_total{endpoint="search.search_by_text",method="GET",status="200"}') == 8
    assert total('shoplens_http_requests_total{endpoint="search.search_by_image"') == 8
    assert total('shoplens_errors_total{code="unknown_product"}') == 1
    assert total('shoplens_model_batch_size_count{tower="image"}') >= 1
    assert total('shoplens_model_forward_seconds_count{tower="text"}') >= 1
    assert total('shoplens_model_queue_wait_seconds_count{tower="text"}') == 8
    assert total("shoplens_image_decode_seconds_count") == 8
    assert total('shoplens_http_request_duration_seconds_count{endpoint="search.search_by_text"') == 8
    assert total("shoplens_index_products") == 24
    assert any(name.startswith("shoplens_index_info{") and value == 1 for name, value in samples.items())
    assert "secretword" not in text and "127.0.0.1" not in text and "no-such-product" not in text


def test_graceful_reload_answers_every_query(shop_index):
    """`kill -HUP` on the master starts new workers and drains the old ones (their queued queries too)."""
    with running_server("--index", str(shop_index), "--reload-interval", "0", "--workers", "1") as base:
        port = base.rsplit(":", 1)[1]
        processes = subprocess.run(["pgrep", "-f", f"app.cli serve --host 127.0.0.1 --port {port}"],
                                   capture_output=True, text=True).stdout.split()  # the master and its worker
        master = [pid for pid in processes if set(_children(pid)) & set(processes)]
        assert len(master) == 1
        statuses: list[int] = []
        stop = threading.Event()

        def search() -> None:
            turn = 0
            while not stop.is_set():
                turn += 1
                statuses.append(timed_get(f"{base}/api/v1/search?q=bag+{turn}&k=3")[0])

        clients = [threading.Thread(target=search) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        workers_before = _children(master[0])
        os.kill(int(master[0]), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (set(_children(master[0])) & set(workers_before)):
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for client in clients:
            client.join(30)
        assert not set(_children(master[0])) & set(workers_before), "the old worker never left"
    assert len(statuses) > 20 and set(statuses) == {200}


def _children(pid: str) -> list[str]:
    return subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
