"""The API against its own document: schemathesis generates valid and invalid requests for every
operation from ``/api/v1/openapi.json`` and runs all of its checks on the answers, in-process (WSGI).

One check is narrowed, for a reason the document states in words: ``positive_data_acceptance`` also
accepts the 4xx answers of constraints no schema can express (listed in ``WORDED_CONSTRAINTS``).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from app import create_app
from tests.conftest import make_settings

ADMIN_TOKEN = "contract-token"
# (operation, statuses a schema-valid request may still get, the constraint the description states in words)
WORDED_CONSTRAINTS = [
    ("POST /api/v1/search", [400, 413, 415, 422], "the photo must decode and fit the byte/pixel/side limits; "
                                                  "a crop must keep 8x8 pixels inside the photo"),
    ("POST /api/v1/tryon", [400, 404, 413, 415, 422], "the photo must decode and show a face; a product look "
                                                      "must name a catalog shade; at most SHOPLENS_MAX_LOOKS"),
    ("POST /api/v1/face/landmarks", [400, 413, 415, 422], "the photo must decode and show a face"),
    ("POST /api/v1/face/analyze", [400, 413, 415, 422], "the photo must decode and show a face"),
    ("POST /api/v1/shades/match", [400, 413, 415, 422], "the photo must decode and show a face"),
    ("GET /api/v1/search", [400], "min_price must not exceed max_price"),
    ("GET /api/v1/products/{product_id}/similar", [400, 404], "the product must exist; min_price <= max_price"),
    ("GET /api/v1/products/{product_id}", [404], "the product must exist"),
    ("POST /share", [400, 413, 415, 422], "something must be shared: a photo that decodes, a link to a picture, or "
                                         "words"),
    ("POST /api/v1/recommend", [400, 404], "every id must be in the catalog (unless skip_unknown), none in both "
                                          "lists; min_price <= max_price"),
    ("GET /catalog/images/{product_id}", [404], "the product must exist"),
    ("GET /api/v1/docs/{name}", [404], "one of the files named in the parameter's description"),
    ("GET /api/v1/admin/versions/{version}/skipped", [404], "a kept version"),
    ("POST /api/v1/admin/rollback", [404], "a kept version"),
    ("POST /api/v1/admin/reindex", [400], "a catalog source must be configured"),
    ("POST /api/v1/admin/jobs/current/cancel", [409], "a re-index must be running"),
]


def contract_config() -> SchemathesisConfig:
    operations = [{"include-name": name, "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", *map(str, statuses)]}}} for name, statuses, _ in WORDED_CONSTRAINTS]
    return SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        "generation": {"mode": "all", "max-examples": 25},
        "checks": {"enabled": True},
        "operations": operations,
    })


def closing_bodies(wsgi_app):
    """schemathesis (4.32) reads an in-process answer's body but never closes it, which leaves a streamed
    file (the pages, Swagger UI's assets) open; a real server closes it, as WSGI requires."""
    def application(environ, start_response):
        body = wsgi_app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()
    return application


@pytest.fixture(scope="module")
def api_schema(makeup_index):
    app = create_app(make_settings(makeup_index, admin_token=ADMIN_TOKEN, search_rate_limit="",
                                   tryon_rate_limit=""), background_load=False)
    app.wsgi_app = closing_bodies(app.wsgi_app)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=contract_config())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case):
    case.call_and_validate()
