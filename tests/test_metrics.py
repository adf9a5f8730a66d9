"""/metrics: the named series after a few requests, none of the shopper's data, the token, the dashboard."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import astronaut, encode, make_settings, product_image

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"


@pytest.fixture(scope="module")
def scraped(shop_index, makeup_app) -> str:
    from app import create_app

    app = create_app(make_settings(shop_index), background_load=False)
    client = app.test_client()
    assert client.get("/api/v1/search?q=privatequerytext&k=3").status_code == 200
    photo = {"image": (io.BytesIO(encode(product_image(2, (160, 120)), "JPEG")), "p.jpg")}
    assert client.post("/api/v1/search?q=greenish", data=photo).status_code == 200
    assert client.get("/api/v1/products/secret-product-id").status_code == 404
    assert client.get("/api/v1/search?k=0&q=x").status_code == 400
    text = client.get("/metrics").get_data(as_text=True)
    # try-on stages are recorded by the makeup app, which has its own registry
    looks = json.dumps([{"type": "lipstick", "color": "#9B1B30"}])
    selfie = {"image": (io.BytesIO(encode(astronaut(), "JPEG")), "selfie.jpg"), "looks": looks}
    makeup = makeup_app.test_client()
    assert makeup.post("/api/v1/tryon", data=selfie).status_code == 200
    return text + makeup.get("/metrics").get_data(as_text=True)


def value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} is not exposed"
    return float(match.group(1))


def test_metrics_expose_the_named_series(scraped):
    requests = 'shoplens_http_requests_total{{endpoint="search.{}",method="{}",status="200"}}'
    assert value(scraped, requests.format("search_by_text", "GET")) == 1
    assert value(scraped, requests.format("search_by_image", "POST")) == 1
    assert value(scraped, 'shoplens_errors_total{code="unknown_product"}') == 1
    assert value(scraped, 'shoplens_errors_total{code="invalid_parameter"}') == 1
    assert value(scraped, 'shoplens_model_batch_size_count{tower="image"}') == 1
    assert value(scraped, 'shoplens_model_batch_size_count{tower="text"}') == 2  # the text query and "greenish"
    assert value(scraped, 'shoplens_model_forward_seconds_count{tower="image"}') == 1
    assert value(scraped, 'shoplens_model_queue_wait_seconds_count{tower="text"}') == 2
    assert value(scraped, "shoplens_image_decode_seconds_count") == 1
    assert value(scraped, "shoplens_index_products") == 24
    for stage in ("decode", "landmarks", "render", "encode"):
        assert value(scraped, f'shoplens_tryon_stage_seconds_count{{stage="{stage}"}}') >= 1
    assert re.search(r'^shoplens_index_info\{model="[^"]+",version="[^"]+"\} 1\.0$', scraped, re.M)


def test_metrics_hold_no_query_text_product_ids_or_addresses(scraped):
    for private in ("privatequerytext", "greenish", "secret-product-id", "127.0.0.1", "selfie"):
        assert private not in scraped


def test_every_series_of_the_grafana_dashboard_is_exposed(scraped):
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {re.sub(r"_(bucket|sum|count)$", "", name) for expr in expressions
             for name in re.findall(r"shoplens_[a-z_]+", expr)}
    exposed = set(re.findall(r"^# TYPE (shoplens_[a-z_]+) ", scraped, re.M))
    exposed |= {name + "_total" for name in exposed}
    assert names and names <= exposed, names - exposed


def test_metrics_token_is_required_when_set(shop_index):
    from app import create_app

    app = create_app(make_settings(shop_index, metrics_token="m-token"), background_load=False)
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer m-token"})
    assert allowed.status_code == 200 and allowed.mimetype == "text/plain"


def test_the_server_master_never_imports_prometheus_client():
    """prometheus_client picks its storage when first imported: the master must leave that to the workers,
    after ``app.server`` has pointed PROMETHEUS_MULTIPROC_DIR at a shared folder."""
    code = ("import sys; import app.cli, app.commands, app.server, app.resources; "
            "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
