"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from spectree import Response

import app.api_responses as out
from app.api_spec import api
from app.resources import resources

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@api.validate(resp=Response(HTTP_200=out.Health), tags=["meta"], operation_id="healthz")
def healthz():
    """Liveness: the process answers"""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@api.validate(resp=Response(HTTP_200=out.Readiness, HTTP_503=(out.NotReady, "Still loading (code: index_not_ready)")),
              tags=["meta"], operation_id="readyz")
def readyz():
    """Readiness: model and index loaded

    200 with the live version once this worker has loaded the model and the index; 503 with the reason
    before that.
    """
    state = resources()
    if not state.ready:
        body = {"status": "loading", "error": {"code": "index_not_ready",
                                                "message": state.error or "Loading the model and the index."}}
        return jsonify(body), 503, {"Retry-After": "5"}
    live = state.store.live
    body = {"status": "ready", "version": live.name, "products": live.manifest.count,
            "model": state.embedder.model_id, "device": str(state.embedder.device)}
    if state.store.last_error:
        body["reload_error"] = state.store.last_error
    return jsonify(body)
