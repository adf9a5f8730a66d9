"""The installable page: manifest, icons drawn from the logo, service worker, and the share target."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import create_app
from app.app_icons import HANDLE, RING, SIZES
from tests.conftest import make_settings
from tests.image_server import serving

STATIC = Path(__file__).resolve().parent.parent / "static"


def shared_block(response) -> dict:
    assert response.mimetype == "text/html" and response.headers["Cache-Control"] == "no-store"
    match = re.search(r'<script type="application/json" id="shared-search">(.*?)</script>',
                      response.get_data(as_text=True), re.S)
    assert match, "the page carries no shared search"
    return json.loads(match.group(1))


def test_manifest_makes_the_page_installable_with_a_share_target(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["short_name"]
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]} >= {("192x192", "any"),
                                                                               ("512x512", "any"),
                                                                               ("512x512", "maskable")}
    target = manifest["share_target"]
    assert target["action"] == "/share" and target["method"] == "POST"
    assert target["enctype"] == "multipart/form-data"
    assert target["params"]["files"] == [{"name": "image", "accept": ["image/*"]}]


@pytest.mark.parametrize("name, size", [("icon-192", 192), ("icon-512", 512), ("maskable-512", 512),
                                        ("icon-180", 180)])
def test_icons_are_pngs_of_the_size_they_claim(client, name, size):
    response = client.get(f"/icons/{name}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.get_data()))
    assert image.size == (size, size)
    pixels = np.asarray(image.convert("RGBA")).astype(int)
    centre = pixels[size * 14 // 32, size * 14 // 32]  # inside the ring: background or transparent
    assert centre[3] == (255 if name.startswith("maskable") else 0)
    accent = (pixels[..., 3] > 200) & (pixels[..., 0] > 120) & (pixels[..., 1] < 80)
    assert accent.mean() > 0.05  # the magnifier is drawn


def test_unknown_icons_are_404(client):
    assert client.get("/icons/icon-999.png").status_code == 404
    assert client.get("/icons/evil-192.png").get_json()["error"]["code"] == "not_found"


def test_icons_follow_the_logo():
    svg = (STATIC / "favicon.svg").read_text()
    circle = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"[^>]*stroke-width="([\d.]+)"', svg)
    assert tuple(map(float, circle.groups())) == RING
    path = re.search(r'd="M([\d.]+) ([\d.]+)l([\d.]+) ([\d.]+)"[^>]*stroke-width="([\d.]+)"', svg)
    x, y, dx, dy, width = map(float, path.groups())
    assert (x, y, x + dx, y + dy, width) == HANDLE
    assert set(SIZES) >= {180, 192, 512}


def test_service_worker_caches_the_shell_only(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    source = response.get_data(as_text=True)
    assert "__SHELL_VERSION__" not in source and re.search(r'"shoplens-shell-[0-9a-f]{16}"', source)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source, re.S).group(1))
    assert "/" in shell and not any(path.startswith(("/api", "/share", "/catalog")) for path in shell)
    for path in shell:  # every shell file exists, or install would fail
        answer = client.get(path)
        assert answer.status_code == 200, path
        answer.close()  # static files are streamed


def test_sharing_a_photo_answers_the_page_with_its_results(client, shop_index):
    photo = (shop_index.parent / "catalog" / "images" / "p006.jpg").read_bytes()
    response = client.post("/share", data={"image": (io.BytesIO(photo), "IMG_2041.jpg"), "title": "",
                                           "text": ""})
    assert response.status_code == 200
    shared = shared_block(response)
    assert shared["results"]["results"][0]["id"] == "p006" and shared["error"] is None
    assert shared["preview"].startswith("data:image/jpeg;base64,")
    direct = client.post("/api/v1/search", data={"image": (io.BytesIO(photo), "x.jpg")}).get_json()
    assert [r["id"] for r in shared["results"]["results"]] == [r["id"] for r in direct["results"]]


def test_sharing_a_link_or_words(shop_index):
    client = create_app(make_settings(shop_index, allow_hosts="127.0.0.1"), background_load=False).test_client()
    with serving() as server:
        shared = shared_block(client.post("/share", data={"title": "Look at this",
                                                          "text": f"Nice one {server.base}/shop/og.html !"}))
        upload = client.post("/api/v1/search", data={"image": (io.BytesIO(server.images["/img/3.jpg"]), "x.jpg")})
        assert [r["id"] for r in shared["results"]["results"]] == [r["id"] for r in upload.get_json()["results"]]
        assert shared["query"] == f"{server.base}/shop/og.html" and shared["preview"]
    words = shared_block(client.post("/share", data={"text": "striped bag"}))
    assert words["query"] == "striped bag" and len(words["results"]["results"]) == 20


@pytest.mark.parametrize("data, status, code", [
    ({}, 400, "missing_image"),
    ({"image": (io.BytesIO(b"%PDF-1.4 nope"), "doc.pdf")}, 415, "unsupported_media_type"),
    ({"image": (io.BytesIO(b""), "empty.jpg")}, 400, "empty_image"),
    ({"url": "http://127.0.0.1:9/private.jpg"}, 400, "image_url_refused"),
])
def test_a_failed_share_still_answers_the_page(client, data, status, code):
    response = client.post("/share", data=data)
    assert response.status_code == status
    shared = shared_block(response)
    assert shared["error"]["code"] == code and shared["error"]["message"] and shared["results"] is None


def test_a_share_over_the_rate_limit_answers_the_page(shop_index):
    limited = create_app(make_settings(shop_index, search_rate_limit="1 per minute"),
                         background_load=False).test_client()
    assert limited.post("/share", data={"text": "bag"}).status_code == 200
    response = limited.post("/share", data={"text": "bag"})
    assert response.status_code == 429 and shared_block(response)["error"]["code"] == "rate_limited"
