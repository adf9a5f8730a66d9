"""What live try-on needs from the server: the shared zone definitions and the Face Mesh files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.live_tryon import face_mesh_package
from vision.masks import EYE_GUARD, MOUTH_GUARD
from vision.regions import index_sets

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def client(makeup_app):
    return makeup_app.test_client()


def test_live_config_comes_from_the_server_renderer(client):
    response = client.get("/api/v1/tryon/live")
    assert response.status_code == 200 and response.cache_control.max_age == 3600
    body = response.get_json()
    assert body["regions"] == {name: list(ids) for name, ids in index_sets().items()}
    assert body["zones"]["lid_bands"]["eyeshadow"]["reach"] == 0.55 and body["zones"]["cheek"]["long_axis"] == 0.26
    assert body["zones"]["guards"] == {"mouth": MOUTH_GUARD, "eyes": EYE_GUARD}
    assert body["recipes"]["lipstick"] == {"coverage": 1.0, "lightness": 1.0, "chroma_texture": 0.2}
    assert body["stacking"][-1] == "lipstick" and set(body["live_types"]) <= set(body["stacking"])
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@mediapipe/face_mesh"]["version"]
    assert body["face_mesh"] == {"available": True, "version": pinned, "base_url": f"/vendor/face_mesh/{pinned}/"}


def test_face_mesh_files_are_served_with_a_long_immutable_cache(client):
    base = client.get("/api/v1/tryon/live").get_json()["face_mesh"]["base_url"]
    wasm = client.get(base + "face_mesh_solution_simd_wasm_bin.wasm")
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm"
    assert wasm.data[:4] == b"\0asm"
    assert wasm.cache_control.max_age == 365 * 24 * 3600 and wasm.cache_control.immutable
    wasm.close()  # a file response holds the file open until closed
    script = client.get(base + "face_mesh.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    script.close()


@pytest.mark.parametrize("path", ["/vendor/face_mesh/0.0.1/face_mesh.js", "{base}package.json", "{base}README.md",
                                  "{base}../../../app/settings.py", "{base}%2e%2e/package.json", "{base}nothing.js"])
def test_unknown_versions_and_other_files_are_404(client, path):
    base = client.get("/api/v1/tryon/live").get_json()["face_mesh"]["base_url"]
    response = client.get(path.format(base=base))
    response.close()
    assert response.status_code == 404
    if response.is_json:
        assert response.get_json()["error"]["code"] == "not_found"


def test_without_the_package_live_is_off_and_says_why(tmp_path):
    face_mesh_package.cache_clear()
    assert face_mesh_package(str(tmp_path)) is None
    (tmp_path / "package.json").write_text('{"version": "9.9.9"}')
    (tmp_path / "face_mesh.js").write_text("//")
    face_mesh_package.cache_clear()
    package = face_mesh_package(str(tmp_path))
    assert package.version == "9.9.9" and package.files == {"face_mesh.js"}


def test_the_shopper_page_allows_webassembly_and_the_console_does_not(client):
    policies = {}
    for path in ("/", "/admin"):
        response = client.get(path)
        response.close()
        policies[path] = response.headers["Content-Security-Policy"]
    assert "'wasm-unsafe-eval'" in policies["/"] and "script-src 'self'" in policies["/"]
    assert "'unsafe-inline'" not in policies["/"].split("script-src")[1].split(";")[0]
    assert "unsafe-eval" not in policies["/admin"]
