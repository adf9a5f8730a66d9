"""Rate limits per client (separate search and face budgets), trusted proxies, CORS allowlist."""

from __future__ import annotations

import io
import json

import pytest

from app import create_app
from tests.conftest import astronaut, encode, make_settings

SELFIE = encode(astronaut(), "JPEG")


def limited_app(index, **overrides):
    settings = dict(search_rate_limit="3 per minute", tryon_rate_limit="2 per minute")
    settings.update(overrides)
    return create_app(make_settings(index, **settings), background_load=False)


def tryon(client, **kwargs):
    return client.post("/api/v1/tryon", data={"image": (io.BytesIO(SELFIE), "me.jpg"),
                                              "looks": json.dumps([{"type": "blush", "color": "#F1A7B5"}])}, **kwargs)


def test_search_budget_then_429_with_retry_after(makeup_index):
    client = limited_app(makeup_index).test_client()
    statuses = [client.get("/api/v1/search?q=lipstick&k=1").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    blocked = client.get("/api/v1/products/lip-berry/similar?k=2")  # same budget as search
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.post("/api/v1/recommend", json={"positive": ["lip-berry"]}).status_code == 429
    assert client.get("/api/v1/products/lip-berry").status_code == 200  # lookups are not limited
    assert client.get("/healthz").status_code == 200


def test_face_budget_is_separate(makeup_index):
    client = limited_app(makeup_index).test_client()
    for _ in range(3):
        client.get("/api/v1/search?q=x&k=1")
    assert client.get("/api/v1/search?q=x&k=1").status_code == 429
    assert [tryon(client).status_code for _ in range(2)] == [200, 200]
    third = tryon(client)
    assert third.status_code == 429 and third.get_json()["error"]["code"] == "rate_limited"


def test_forwarded_for_is_ignored_without_trusted_proxies(makeup_index):
    client = limited_app(makeup_index).test_client()
    codes = [client.get("/api/v1/search?q=x&k=1", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
             for i in range(4)]
    assert codes[-1] == 429  # a forged header cannot buy a fresh budget


def test_forwarded_for_is_the_client_behind_a_trusted_proxy(makeup_index):
    client = limited_app(makeup_index, trusted_proxies=1).test_client()
    for i in range(4):  # four different shoppers behind one load balancer
        assert client.get("/api/v1/search?q=x&k=1", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code == 200
    same = [client.get("/api/v1/search?q=x&k=1", headers={"X-Forwarded-For": "198.51.100.7"}).status_code
            for _ in range(4)]
    assert same == [200, 200, 200, 429]


@pytest.fixture()
def cors_client(makeup_index):
    app = create_app(make_settings(makeup_index, cors_origins="https://shop.example, https://m.shop.example"),
                     background_load=False)
    return app.test_client()


def test_cors_allows_the_shop_origins_only(cors_client):
    allowed = cors_client.get("/api/v1/search?q=x&k=1", headers={"Origin": "https://m.shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://m.shop.example"
    other = cors_client.get("/api/v1/search?q=x&k=1", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = cors_client.options("/api/v1/tryon", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_no_cors_headers_by_default(makeup_app):
    response = makeup_app.test_client().get("/api/v1/search?q=x&k=1", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
