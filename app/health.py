"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.resources import resources

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """200 once the model and index are loaded; 503 with the reason before that."""
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
