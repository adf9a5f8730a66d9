"""Admin reload behind a bearer token, and the server following new versions by itself."""

from __future__ import annotations

import time

import pytest

from app import create_app
from indexer.runner import IndexJob, run_index
from tests.conftest import make_settings, product_image, write_catalog

TOKEN = {"Authorization": "Bearer s3cret-token"}


@pytest.fixture()
def live_shop(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "catalog", 6)
    run_index(IndexJob(catalog=catalog, out_dir=tmp_path / "index", show_progress=False), embedder)
    return catalog, tmp_path / "index"


def reindex_with_more(catalog, index, embedder, count=9):
    write_catalog(catalog.parent, count)
    return run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), embedder).version


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
    ({"Authorization": "Basic s3cret-token"}, 401, "unauthorized"),
    ({"Authorization": "Bearer s3cret-token-and-more"}, 401, "unauthorized"),
    ({"Authorization": "Bearer "}, 401, "unauthorized"),
])
def test_reload_needs_the_right_token(live_shop, headers, status, code):
    client = create_app(make_settings(live_shop[1]), background_load=False).test_client()
    response = client.post("/api/v1/admin/reload", headers=headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_admin_is_disabled_without_a_token(live_shop):
    client = create_app(make_settings(live_shop[1], admin_token=""), background_load=False).test_client()
    response = client.post("/api/v1/admin/reload", headers={"Authorization": "Bearer "})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "admin_disabled"


def test_reload_switches_to_the_newest_version(live_shop, embedder):
    catalog, index = live_shop
    client = create_app(make_settings(index), background_load=False).test_client()
    assert client.get("/readyz").get_json()["products"] == 6
    new_version = reindex_with_more(catalog, index, embedder)
    body = client.post("/api/v1/admin/reload", headers=TOKEN).get_json()
    assert body == {"switched": True, "version": new_version, "count": 9}
    assert client.get("/api/v1/products/p008").status_code == 200
    assert client.post("/api/v1/admin/reload", headers=TOKEN).get_json()["switched"] is False


def test_reload_of_a_broken_version_is_409_and_keeps_serving(live_shop, embedder):
    catalog, index = live_shop
    client = create_app(make_settings(index), background_load=False).test_client()
    new_version = reindex_with_more(catalog, index, embedder)
    (index / new_version / "index.faiss").write_bytes(b"truncated")
    response = client.post("/api/v1/admin/reload", headers=TOKEN)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "reload_failed"
    assert client.get("/readyz").get_json()["products"] == 6
    assert "reload_error" in client.get("/readyz").get_json()
    assert client.get("/api/v1/search?q=x&k=3").status_code == 200


def test_server_picks_up_new_versions_by_itself(live_shop, embedder):
    catalog, index = live_shop
    app = create_app(make_settings(index, reload_interval=0.1), background_load=False)
    client = app.test_client()
    new_version = reindex_with_more(catalog, index, embedder)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.get("/readyz").get_json()["version"] != new_version:
        time.sleep(0.05)
    assert client.get("/readyz").get_json()["version"] == new_version
    app.extensions["shoplens"].stop()


def test_version_built_with_another_model_is_refused(live_shop, tmp_path):
    from tests.tiny_model import write_tiny_model
    from vision.embedder import Embedder, EmbedderConfig

    catalog, index = live_shop
    client = create_app(make_settings(index), background_load=False).test_client()
    config, weights = write_tiny_model(tmp_path / "other", seed=5)
    other = Embedder(EmbedderConfig(model=str(config), pretrained=str(weights), device="cpu"))
    product_image(50).save(catalog.parent / "images" / "p000.jpg")
    run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), other)
    response = client.post("/api/v1/admin/reload", headers=TOKEN)
    assert response.status_code == 409 and "restart" in response.get_json()["error"]["message"]
