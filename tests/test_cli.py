"""The command line as a newcomer meets it: help, and clear one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shoplens(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd or ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_help_lists_the_subcommands():
    result = shoplens("--help")
    assert result.returncode == 0
    for command in ("index", "serve", "run", "fetch-model"):
        assert command in result.stdout


def test_run_without_weights_stops_with_one_clear_message(tmp_path):
    """No network, nothing in the cache: `make run` must say how to provide weights, not crash."""
    result = shoplens("run", "--index-dir", str(tmp_path / "data" / "index"), "--cache-dir", str(tmp_path / "hf"),
                      env={"SHOPLENS_ALLOW_DOWNLOAD": "1", "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "SHOPLENS_PRETRAINED" in result.stderr and "fetch-model" in result.stderr
    assert (tmp_path / "data" / "demo-catalog" / "catalog.csv").is_file()  # the demo catalog was prepared


def test_serve_with_no_index_waits_and_with_a_broken_setting_says_why(tmp_path):
    result = shoplens("serve", "--port", "not-a-port")
    assert result.returncode == 2 and "invalid" in result.stderr.lower()
    result = shoplens("index", "--catalog", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "index"),
                      "--model", "ViT-Nope")
    assert result.returncode == 1 and "Unknown model" in result.stderr and "Traceback" not in result.stderr


def test_bad_env_value_names_the_variable():
    result = shoplens("index", env={"SHOPLENS_PORT": "eighty"})
    assert result.returncode == 2 and "SHOPLENS_PORT" in result.stderr


def test_run_indexes_the_demo_catalog_and_serves_search_and_try_on(tmp_path, tiny_model_files):
    """What `make run` does on a fresh clone, given weights (a local checkpoint here)."""
    import json
    import urllib.request

    from tests.browser import running_server
    from tests.conftest import encode, grace_hopper

    config, weights = tiny_model_files
    with running_server("--index-dir", str(tmp_path / "data" / "index"), "--model", str(config),
                        "--pretrained", str(weights), "--reload-interval", "0",
                        command_name="run", cwd=tmp_path) as base:
        with urllib.request.urlopen(base + "/") as page:
            assert b"shoplens" in page.read()
        with urllib.request.urlopen(base + "/api/v1/search?q=red+lipstick&k=5") as response:
            results = json.load(response)["results"]
        assert len(results) == 5 and all(r["brand"] == "Lumen Beauty" for r in results)
        boundary = "shoplens-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"looks\"\r\n\r\n"
                + json.dumps([{"product_id": "lip-berry"}]) + f"\r\n--{boundary}\r\n"
                "Content-Disposition: form-data; name=\"image\"; filename=\"me.jpg\"\r\n"
                "Content-Type: image/jpeg\r\n\r\n").encode() + encode(grace_hopper(), "JPEG") + \
            f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(base + "/api/v1/tryon", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and len(response.read()) > 10_000
    assert (tmp_path / "data" / "demo-catalog" / "catalog.csv").is_file()
