"""Search by a link: an image URL or a page's og:image, fetched SSRF-safely, in memory, with its own errors."""

from __future__ import annotations

import io
import logging

import pytest

from app import create_app
from app.linked_images import preview_image
from tests.conftest import make_settings
from tests.image_server import serving


@pytest.fixture(scope="module")
def server():
    with serving() as state:
        yield state


def link_client(index, **overrides):
    settings = dict(allow_hosts="127.0.0.1", max_upload_bytes=2_000_000, link_timeout=1.0)
    settings.update(overrides)
    return create_app(make_settings(index, **settings), background_load=False).test_client()


@pytest.fixture(scope="module")
def client(shop_index):
    return link_client(shop_index)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [result["id"] for result in response.get_json()["results"]]


def error_code(response) -> str:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    return response.get_json()["error"]["code"]


def test_an_image_link_and_a_page_naming_it_search_like_the_upload(client, server):
    uploaded = ids(client.post("/api/v1/search?k=8", data={"image": (io.BytesIO(server.images["/img/3.jpg"]),
                                                                     "x.jpg")}))
    assert ids(client.post("/api/v1/search?k=8", data={"image_url": server.base + "/img/3.jpg"})) == uploaded
    assert ids(client.post(f"/api/v1/search?k=8&image_url={server.base}/shop/og.html")) == uploaded
    twitter = ids(client.post("/api/v1/search", data={"image_url": server.base + "/shop/twitter.html", "k": "8"}))
    upload_4 = ids(client.post("/api/v1/search?k=8", data={"image": (io.BytesIO(server.images["/img/4.jpg"]),
                                                                     "x.jpg")}))
    assert twitter == upload_4


def test_a_link_mixes_with_text_and_filters(client, server):
    found = client.post("/api/v1/search", data={"image_url": server.base + "/img/2.jpg", "q": "bag",
                                                "category": "bags", "k": "3"})
    assert len(ids(found)) == 3 and {r["category"] for r in found.get_json()["results"]} == {"bags"}


@pytest.mark.parametrize("path, status, code", [
    ("/to-metadata.jpg", 400, "image_url_refused"),          # a redirect to a link-local address
    ("/shop/private-image.html", 400, "image_url_refused"),  # a page naming a private picture
    ("/shop/no-image.html", 422, "image_url_not_an_image"),
    ("/shop/malformed-image.html", 422, "image_url_not_an_image"),  # urllib cannot even split its address
    ("/data.bin", 422, "image_url_not_an_image"),
    ("/liar.jpg", 422, "image_url_not_an_image"),
    ("/slow.jpg", 422, "image_url_unreachable"),
    ("/missing.jpg", 422, "image_url_unreachable"),
    ("/broken.jpg", 422, "image_url_unreachable"),
    ("/huge.jpg", 413, "image_too_large"),
])
def test_bad_links_are_refused_with_their_code(client, server, path, status, code):
    response = client.post("/api/v1/search", data={"image_url": server.base + path})
    assert response.status_code == status and error_code(response) == code
    assert server.base not in response.get_json()["error"]["message"]


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/a.jpg", "image_url_refused"),
    ("file:///etc/passwd", "image_url_refused"),
    ("http:///nohost.jpg", "image_url_refused"),
    ("B://[\u00e0 \r\t", "image_url_refused"),  # found by schemathesis: urllib raises "Invalid IPv6 URL"
    ("http://[::1/a.jpg", "image_url_refused"),
    ("http://no-such-host.invalid/a.jpg", "image_url_unreachable"),
])
def test_addresses_that_are_not_fetched(client, url, code):
    assert error_code(client.post("/api/v1/search", data={"image_url": url})) == code


def test_loopback_is_refused_without_the_allowlist(shop_index, server):
    closed = link_client(shop_index, allow_hosts="")
    response = closed.post("/api/v1/search", data={"image_url": server.base + "/img/1.jpg"})
    assert response.status_code == 400 and error_code(response) == "image_url_refused"
    assert server.hits["/img/1.jpg"] == 0  # refused before any connection


def test_a_link_and_a_photo_together_are_refused(client, server):
    response = client.post("/api/v1/search", data={"image_url": server.base + "/img/1.jpg",
                                                   "image": (io.BytesIO(server.images["/img/1.jpg"]), "x.jpg")})
    assert error_code(response) == "invalid_parameter"
    assert error_code(client.post("/api/v1/search", data={"image_url": "not a link"})) == "invalid_parameter"


def test_links_have_their_own_rate_limit(shop_index, server):
    limited = link_client(shop_index, link_rate_limit="2 per minute", search_rate_limit="100 per minute")
    link = {"image_url": server.base + "/img/5.jpg"}
    assert [limited.post("/api/v1/search", data=link).status_code for _ in range(2)] == [200, 200]
    assert error_code(limited.post("/api/v1/search", data=link)) == "rate_limited"
    photo = {"image": (io.BytesIO(server.images["/img/5.jpg"]), "x.jpg")}
    assert limited.post("/api/v1/search", data=photo).status_code == 200  # uploads keep their budget


def test_nothing_fetched_is_kept_or_logged(client, server, shop_index, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    before = sorted(shop_index.rglob("*"))
    assert ids(client.post("/api/v1/search", data={"image_url": server.base + "/shop/og.html?who=secret-shopper"}))
    assert sorted(shop_index.rglob("*")) == before and list(tmp_path.iterdir()) == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "secret-shopper" not in logged and "/shop/og.html" not in logged


def test_preview_image_reads_the_tags_pages_use():
    assert preview_image('<meta property="og:image" content="a.jpg"><meta name="twitter:image" content="b.jpg">') \
        == "a.jpg"
    assert preview_image('<META NAME="Twitter:Image" CONTENT=" b.jpg ">') == "b.jpg"
    assert preview_image('<meta property="og:image:secure_url" content="https://x/s.jpg">'
                         '<meta property="og:image" content="http://x/s.jpg">') == "https://x/s.jpg"
    assert preview_image("<html><head><title>none</title>") is None
    assert preview_image("<meta property='og:image' content=''>") is None
    assert preview_image("<<<>>>< meta") is None
