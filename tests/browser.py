"""Helpers for the end-to-end tests: a real `shoplens serve` on 127.0.0.1 and Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
requires_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"),
                                       reason="Debian's chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(*args: str, env: dict[str, str] | None = None, ready_timeout: float = 90,
                   command_name: str = "serve", cwd: Path = ROOT) -> Iterator[str]:
    """Start `shoplens serve ARGS` (or another serving command) on a free loopback port; yield its base
    URL once /readyz is 200."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", command_name, "--host", "127.0.0.1", "--port", str(port), *args]
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"server-{port}.log", "w")
    defaults = {"PYTHONPATH": str(ROOT), "SHOPLENS_SEARCH_RATE_LIMIT": "", "SHOPLENS_TRYON_RATE_LIMIT": "",
                "SHOPLENS_LINK_RATE_LIMIT": ""}
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                               env={**defaults, **os.environ, **(env or {})}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see {log.name}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready after {ready_timeout}s; see {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


@contextlib.contextmanager
def phone_page(width: int = 390, height: int = 844, locale: str = "en-US"):
    """A Playwright page in Debian's chromium, sized like a phone, its browser set to ``locale``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                          has_touch=True, locale=locale)
            yield context.new_page()
        finally:
            browser.close()


@contextlib.contextmanager
def camera_page(video: Path | None, *, grant_camera: bool = True, width: int = 390, height: int = 844):
    """A phone-sized page whose camera plays ``video`` (a Y4M file), or a page with no camera permission."""
    from playwright.sync_api import sync_playwright

    flags = [*CHROMIUM_FLAGS, "--use-fake-device-for-media-stream"]
    if video is not None:
        flags += ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                          has_touch=True, permissions=["camera"] if grant_camera else [])
            yield context.new_page()
        finally:
            browser.close()
