"""The JSON API over a small index: every endpoint, every error code, the OpenAPI document."""

from __future__ import annotations

import copy
import io
import re

import pytest

from app import create_app
from app.errors import STATUS
from tests.conftest import encode, gradient_image, make_settings, product_image


@pytest.fixture(scope="module", params=["faiss", "milvus"])
def shop_index(request, shop_index):
    """conftest's FAISS index, then the same catalog in Milvus: every test here runs on both backends."""
    return shop_index if request.param == "faiss" else request.getfixturevalue("milvus_shop_index")


@pytest.fixture(scope="module")
def app(shop_index, milvus_uri):
    return create_app(make_settings(shop_index, milvus_uri=milvus_uri), background_load=False)


def upload(image_bytes: bytes, name: str = "photo.jpg", **fields):
    return {"image": (io.BytesIO(image_bytes), name), **fields}


def catalog_photo(shop_index, product_id: str) -> bytes:
    return (shop_index.parent / "catalog" / "images" / f"{product_id}.jpg").read_bytes()


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert STATUS[code] == status


def test_exact_catalog_image_finds_that_product_first(client, shop_index):
    for product_id in ("p003", "p017"):
        response = client.post("/api/v1/search", data=upload(catalog_photo(shop_index, product_id)))
        assert response.status_code == 200
        body = response.get_json()
        assert body["results"][0]["id"] == product_id and body["results"][0]["score"] > 0.999
        assert len(body["results"]) == 20 and body["took_ms"] >= 0 and body["version"].startswith("v")


def test_result_shape(client, shop_index):
    first = client.post("/api/v1/search?k=3", data=upload(catalog_photo(shop_index, "p001"))).get_json()["results"][0]
    assert set(first) == {"id", "title", "score", "price", "currency", "url", "category", "brand", "in_stock",
                          "product_type", "shade_hex", "finish", "image_url", "matched_image_url", "group", "options",
                          "variants"}
    assert first["image_url"] == "/catalog/images/p001" and first["price"] == 11.5 and first["currency"] == "EUR"
    assert "/" not in first["image_url"].removeprefix("/catalog/images/")  # never a filesystem path


def test_text_and_image_search_agree_on_shape(client, shop_index):
    text = client.get("/api/v1/search?q=striped%20dress&k=5").get_json()
    image = client.post("/api/v1/search?k=5", data=upload(catalog_photo(shop_index, "p002"))).get_json()
    assert len(text["results"]) == len(image["results"]) == 5
    assert [set(r) for r in text["results"]] == [set(r) for r in image["results"]]


def test_mixed_search_moves_between_image_and_text(client, shop_index, app):
    photo = catalog_photo(shop_index, "p005")
    only_image = client.post("/api/v1/search?k=24", data=upload(photo, text_weight="0")).get_json()["results"]
    mixed = client.post("/api/v1/search?k=24", data=upload(photo, q="green shoes", text_weight="0.5")).get_json()
    assert only_image[0]["id"] == "p005"
    # Scores of the mix are the cosine with a different vector: the ranking or the scores must change.
    assert [r["score"] for r in mixed["results"]] != [r["score"] for r in only_image]


def test_filters_return_exactly_k(client, shop_index):
    body = client.get("/api/v1/search?q=anything&k=4&category=shoes&in_stock=true").get_json()
    assert len(body["results"]) == 4
    assert all(r["category"] == "shoes" and r["in_stock"] for r in body["results"])
    priced = client.get("/api/v1/search?q=x&k=100&min_price=12&max_price=14.5").get_json()["results"]
    assert sorted(r["price"] for r in priced) == [12.5, 13.5, 14.5]
    branded = client.get("/api/v1/search?q=x&k=100&brand=BRAND1").get_json()["results"]
    assert len(branded) == 8 and {r["brand"] for r in branded} == {"brand1"}


def test_crop_changes_what_is_searched(client, shop_index):
    # Two catalog products side by side; cropping to one half finds that product.
    left, right = product_image(7, (128, 128)), product_image(19, (128, 128))
    from PIL import Image
    canvas = Image.new("RGB", (256, 128))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (128, 0))
    left_only = client.post("/api/v1/search?k=1", data=upload(encode(canvas, "PNG"), crop="0,0,128,128"))
    right_only = client.post("/api/v1/search?k=1", data=upload(encode(canvas, "PNG"), crop="128,0,128,128"))
    assert left_only.status_code == right_only.status_code == 200
    assert left_only.get_json()["results"][0]["id"] != right_only.get_json()["results"][0]["id"]


def test_product_lookup_and_similar(client):
    product = client.get("/api/v1/products/p010").get_json()
    assert product["id"] == "p010" and product["title"] == "Product 10"
    similar = client.get("/api/v1/products/p010/similar?k=5").get_json()["results"]
    assert len(similar) == 5 and "p010" not in [r["id"] for r in similar]
    filtered = client.get("/api/v1/products/p010/similar?k=3&category=bags").get_json()["results"]
    assert len(filtered) == 3 and {r["category"] for r in filtered} == {"bags"}


def test_catalog_thumbnails_are_cached_with_etags(client):
    response = client.get("/catalog/images/p004?size=128")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    from PIL import Image
    assert max(Image.open(io.BytesIO(response.data)).size) <= 128
    etag = response.headers["ETag"]
    again = client.get("/catalog/images/p004?size=128", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get("/catalog/images/p004?size=256").headers["ETag"] != etag


@pytest.mark.parametrize("method, url, kwargs, status, code", [
    ("post", "/api/v1/search", {}, 400, "missing_image"),
    ("post", "/api/v1/search", {"data": {"photo": (io.BytesIO(b"x"), "a.jpg")}}, 400, "missing_image"),
    ("post", "/api/v1/search", {"data": upload(b"")}, 400, "empty_image"),
    ("post", "/api/v1/search", {"data": upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a.svg")},
     415, "unsupported_media_type"),
    ("post", "/api/v1/search", {"data": upload(encode(gradient_image(200, 200), "JPEG")[:300])}, 400,
     "invalid_image"),
    ("post", "/api/v1/search", {"data": upload(encode(gradient_image(8, 8), "PNG"))}, 422, "image_too_small"),
    ("get", "/api/v1/search", {}, 400, "missing_query"),
    ("get", "/api/v1/search?q=" + "x" * 501, {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&k=0", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&k=101", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&k=-5", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&k=ten", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&k=99999999999999999999", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&min_price=abc", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&min_price=5&max_price=1", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&max_price=inf", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&in_stock=maybe", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&product_type=hat", {}, 400, "invalid_parameter"),
    ("get", "/api/v1/search?q=a&text_weight=2", {}, 400, "invalid_parameter"),
    ("post", "/api/v1/search", {"data": upload(encode(gradient_image(), "PNG"), crop="1,2,3")}, 400,
     "invalid_parameter"),
    ("post", "/api/v1/search", {"data": upload(encode(gradient_image(), "PNG"), crop="500,0,10,10")}, 400,
     "invalid_parameter"),
    ("post", "/api/v1/search", {"data": upload(encode(gradient_image(), "PNG"), crop="0,0,-1,10")}, 400,
     "invalid_parameter"),
    ("get", "/api/v1/products/nope", {}, 404, "unknown_product"),
    ("get", "/api/v1/products/nope/similar", {}, 404, "unknown_product"),
    ("get", "/catalog/images/nope", {}, 404, "unknown_product"),
    ("get", "/catalog/images/p001?size=99999", {}, 400, "invalid_parameter"),
    ("get", "/no/such/route", {}, 404, "not_found"),
    ("delete", "/api/v1/search", {}, 405, "method_not_allowed"),
])
def test_error_codes(client, method, url, kwargs, status, code):
    kwargs = copy.deepcopy(kwargs)  # the client consumes the upload streams; each backend needs its own
    assert_error(getattr(client, method)(url, **kwargs), status, code)
    assert client.get("/api/v1/search?q=still%20alive&k=1").status_code == 200


def test_unicode_query(client):
    assert client.get("/api/v1/search", query_string={"q": "робe 👗 rouge à lèvres", "k": 2}).status_code == 200


def test_body_over_the_limit_is_413(shop_index, milvus_uri):
    small = create_app(make_settings(shop_index, max_upload_bytes=10_000, milvus_uri=milvus_uri),
                       background_load=False)
    response = small.test_client().post("/api/v1/search", data=upload(b"\xff" * 200_000))
    assert_error(response, 413, "payload_too_large")


def test_unexpected_errors_are_json_500_without_trace(app, client, monkeypatch):
    from app import search

    def explode(query):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(search, "query_vector", explode)
    response = client.get("/api/v1/search?q=boom")
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["products"] == 24 and ready["model"].startswith("shoplens-tiny@")


def test_not_ready_until_an_index_exists(tmp_path):
    waiting = create_app(make_settings(tmp_path / "empty"), background_load=True)
    client = waiting.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "index_not_ready"
    assert_error(client.get("/api/v1/search?q=x"), 503, "index_not_ready")
    waiting.extensions["shoplens"].stop()


def test_page_is_served_with_security_headers(client):
    with client.get("/") as response:
        assert response.status_code == 200 and b"shoplens" in response.data
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert b"<script>" not in response.data and b"onclick" not in response.data
    with client.get("/static/app.js") as script:
        assert script.status_code == 200


def test_openapi_describes_every_route_and_nothing_else(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routed |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == routed
    assert set(document["components"]["schemas"]["ErrorCode"]["enum"]) == set(STATUS)
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    assert all(operation["tags"] and operation["operationId"] for operation in operations)
    assert len({operation["operationId"] for operation in operations}) == len(operations)


@pytest.mark.parametrize("query", ["q=dress&max_price=10&max_price=20", "q=dress&k=3&k=3", "q=a&q=b",
                                   "q=dress&in_stock=yes&in_stock=no"])
def test_a_repeated_parameter_is_refused(client, query):
    response = client.get(f"/api/v1/search?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] in ("invalid_parameter", "missing_query") and "more than once" in error["message"]


def test_a_query_over_its_documented_length_is_refused(client):
    response = client.get("/api/v1/search?q=" + "a" * 501)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    assert client.get("/api/v1/search?q=" + "a" * 500).status_code == 200


def test_photo_search_fields_in_the_query_or_the_form_but_not_both(client):
    photo = encode(gradient_image(), "PNG")
    in_query = client.post("/api/v1/search?k=2", data={"image": (io.BytesIO(photo), "a.png")})
    in_form = client.post("/api/v1/search", data={"image": (io.BytesIO(photo), "a.png"), "k": "2"})
    assert len(in_query.get_json()["results"]) == len(in_form.get_json()["results"]) == 2
    both = client.post("/api/v1/search?k=2", data={"image": (io.BytesIO(photo), "a.png"), "k": "2"})
    assert both.status_code == 400 and "both in the query string and in the form" in both.get_json()["error"]["message"]


def test_an_empty_field_counts_as_absent_as_an_html_form_sends_it(client):
    """A shop's own <form method="get"> sends every input, the empty ones as name=."""
    response = client.get("/api/v1/search?q=dress&k=&min_price=&max_price=&in_stock=&category=&crop=&text_weight=")
    assert response.status_code == 200 and len(response.get_json()["results"]) > 0
    photo = encode(gradient_image(), "PNG")
    form = {"image": (io.BytesIO(photo), "a.png"), "k": "", "min_price": "", "crop": "", "q": ""}
    assert client.post("/api/v1/search", data=form).status_code == 200
    assert client.get("/api/v1/search?q=").get_json()["error"]["code"] == "missing_query"
    assert client.get("/api/v1/search?q=dress&k=%20").status_code == 400  # a space is a value, and not a number


def test_the_document_says_empty_fields_count_as_absent(client):
    document = client.get("/api/v1/openapi.json").get_json()
    search = document["paths"]["/api/v1/search"]
    k = next(parameter for parameter in search["get"]["parameters"] if parameter["name"] == "k")
    assert k["allowEmptyValue"] is True and k["schema"]["default"] == 20
    form = document["components"]["schemas"]["PhotoSearchForm"]["properties"]
    assert {"const": ""} in form["k"]["anyOf"] and "anyOf" not in form["category"]
    assert "default" not in form["category"]  # absent is not null


def test_filters_that_clash_across_the_query_string_and_the_form_are_a_400(client):
    """Found by schemathesis: each half valid alone, min_price above max_price together."""
    photo = encode(gradient_image(), "PNG")
    response = client.post("/api/v1/search?max_price=1", data={"image": (io.BytesIO(photo), "a.png"), "min_price": "5"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    assert "min_price is larger than max_price" in response.get_json()["error"]["message"]
