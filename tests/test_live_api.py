"""The API as a client meets it: a real `shoplens serve` (gunicorn) on 127.0.0.1, its refusals in our JSON
shape, and a client generated from its OpenAPI document by openapi-python-client."""

from __future__ import annotations

import http.client
import importlib
import io
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from tests.browser import running_server
from tests.conftest import astronaut, encode

pytestmark = pytest.mark.slow
# openapi-python-client turns only application/octet-stream into a binary File; our images are image/jpeg.
GENERATOR_CONFIG = """\
content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  application/manifest+json: application/json
  text/csv: application/octet-stream
  text/html: application/octet-stream
  text/css: application/octet-stream
  text/javascript: application/octet-stream
"""


@pytest.fixture(scope="module")
def server(makeup_index) -> Iterator[str]:
    with running_server("--index", str(makeup_index), "--reload-interval", "0", "--workers", "1") as base:
        yield base


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get_content_type(), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), json.loads(error.read())


def test_a_9000_character_query_is_our_414(server):
    status, media, body = get(f"{server}/api/v1/search?q=" + urllib.parse.quote("a" * 9000))
    assert (status, media) == (414, "application/json")
    assert body["error"]["code"] == "uri_too_long" and "query string" in body["error"]["message"]


def test_a_query_over_the_documented_length_but_under_the_line_limit_is_a_400(server):
    status, _, body = get(f"{server}/api/v1/search?q=" + "a" * 600)
    assert status == 400 and body["error"]["code"] == "invalid_parameter"


def test_oversized_headers_are_our_431(server):
    status, media, body = get(f"{server}/api/v1/search?q=dress", headers={"X-Big": "x" * 10_000})
    assert (status, media) == (431, "application/json")
    assert body["error"]["code"] == "headers_too_large"


def raw_exchange(base: str, request: bytes) -> tuple[int, str, dict]:
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return response.status, response.getheader("Content-Type"), json.loads(response.read())
        finally:
            response.close()


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/v1/search?q=x HTTP/9.9\r\nHost: a\r\n\r\n",  # unknown HTTP version
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nBad Header Name: 1\r\n\r\n",  # space in a header name
])
def test_malformed_http_is_our_400(server, request_bytes):
    status, media, body = raw_exchange(server, request_bytes)
    assert (status, media) == (400, "application/json")
    assert body["error"]["code"] == "malformed_request"


def test_nothing_of_the_refused_request_reaches_the_log(server, makeup_index):
    secret = "my-private-search-" + "z" * 9000
    get(f"{server}/api/v1/search?q={secret}")
    port = urllib.parse.urlsplit(server).port
    log = (Path(__file__).resolve().parent.parent / "test-artifacts" / f"server-{port}.log").read_text()
    assert "LimitRequestLine" in log and "my-private-search" not in log


@pytest.fixture(scope="module")
def generated_client(server, tmp_path_factory):
    """``openapi-python-client generate`` from the live document, imported from a temp folder."""
    folder = tmp_path_factory.mktemp("generated")
    with urllib.request.urlopen(f"{server}/api/v1/openapi.json", timeout=30) as response:
        (folder / "openapi.json").write_bytes(response.read())
    (folder / "config.yaml").write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run([str(generator), "generate", "--path", "openapi.json", "--config", "config.yaml",
                             "--meta", "none", "--output-path", "shoplens_client"],
                            cwd=folder, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Unsupported content_type" not in result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("shoplens_client")
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == "shoplens_client"]:
            del sys.modules[name]


def test_generated_client_searches_and_tries_on(server, generated_client, makeup_index):
    with generated_client.Client(base_url=server, raise_on_unexpected_status=True, timeout=60) as client:
        calls_through_the_generated_client(client, makeup_index)


def calls_through_the_generated_client(client, makeup_index):
    from shoplens_client.api.products import similar_products
    from shoplens_client.api.search import search_by_photo, search_by_text
    from shoplens_client.api.try_on import try_on
    from shoplens_client.models import PhotoSearchForm, ScoredProduct, SearchResults, TryOnForm
    from shoplens_client.types import File

    lipstick = (makeup_index.parent / "catalog" / "images" / "lip-ruby-matte.jpg").read_bytes()

    by_photo = search_by_photo.sync(client=client, body=PhotoSearchForm(
        image=File(payload=io.BytesIO(lipstick), file_name="photo.jpg", mime_type="image/jpeg"), k=3))
    assert isinstance(by_photo, SearchResults) and len(by_photo.results) == 3
    assert isinstance(by_photo.results[0], ScoredProduct) and by_photo.results[0].id == "lip-ruby-matte"

    by_text = search_by_text.sync(client=client, q="red lipstick", k=4, in_stock=True)
    assert isinstance(by_text, SearchResults) and len(by_text.results) == 4
    assert all(product.in_stock for product in by_text.results)

    similar = similar_products.sync("lip-ruby-matte", client=client, k=2)
    assert isinstance(similar, SearchResults) and len(similar.results) == 2
    assert "lip-ruby-matte" not in {product.id for product in similar.results}

    selfie = encode(astronaut(), "JPEG", quality=92)
    made_up = try_on.sync_detailed(client=client, body=TryOnForm(
        image=File(payload=io.BytesIO(selfie), file_name="selfie.jpg", mime_type="image/jpeg"),
        looks=json.dumps([{"product_id": "lip-ruby-matte"}])))
    assert made_up.status_code == 200 and made_up.headers["X-Faces"] == "1"
    assert Image.open(made_up.parsed.payload).size == (512, 512)

    refused = search_by_text.sync_detailed(client=client, q="dress", k=500)
    assert refused.status_code == 400 and refused.parsed.error.code.value == "invalid_parameter"


def test_an_unsupported_transfer_coding_is_our_501(server):
    request = b"POST /api/v1/search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: bogus\r\n\r\n"
    status, media, body = raw_exchange(server, request)
    assert (status, media) == (501, "application/json")
    assert body["error"]["code"] == "unsupported_transfer_coding"
