"""Every curl example in README.md runs against a live `shoplens serve` and succeeds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import running_server
from tests.conftest import grace_hopper
from vision.looks import Layer
from vision.makeup import render_look

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "readme-token"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def readme_curl_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    api = text[text.index("## HTTP API"):]
    block = api[api.index("```sh") + 5:]
    block = block[:block.index("```")]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl")]


def test_readme_has_an_example_for_every_endpoint():
    commands = " ".join(readme_curl_commands())
    for path in ("/api/v1/search", "/api/v1/products/", "/similar", "/api/v1/admin/reload", "/healthz", "/readyz",
                 "/api/v1/tryon", "/api/v1/tryon/products", "/api/v1/face/landmarks", "/api/v1/face/analyze",
                 "/api/v1/shades/match", "/metrics", "/api/v1/recommend"):
        assert path in commands, path


def test_every_curl_example_succeeds(makeup_index, landmarker, tmp_path):
    catalog_images = makeup_index.parent / "catalog" / "images"
    shutil.copy(catalog_images / "lip-ruby-matte.jpg", tmp_path / "photo.jpg")
    shutil.copy(catalog_images / "blush-petal.jpg", tmp_path / "dress.jpg")
    selfie = grace_hopper()
    selfie.save(tmp_path / "selfie.jpg", quality=92)
    face = landmarker.detect(selfie)[0]
    wearing = render_look(np.asarray(selfie), [face], [Layer.of("lipstick", "#9B1B30", "matte")])
    Image.fromarray(wearing).save(tmp_path / "photo-with-lipstick.jpg", quality=95)
    commands = readme_curl_commands()
    assert len(commands) >= 10
    with running_server("--index", str(makeup_index), "--reload-interval", "0",
                        env={"SHOPLENS_ADMIN_TOKEN": TOKEN}) as base:
        for command in commands:
            runnable = command.replace("http://127.0.0.1:8000", base).replace("curl ", "curl --fail -sS ")
            result = subprocess.run(["bash", "-e", "-c", runnable], cwd=tmp_path, capture_output=True, text=True,
                                    env={**os.environ, "SHOPLENS_ADMIN_TOKEN": TOKEN}, timeout=60)
            assert result.returncode == 0, (command, result.stderr[-500:])
    with Image.open(tmp_path / "made-up.jpg") as made_up:
        assert made_up.size == selfie.size
