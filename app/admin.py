"""Operator and merchandiser endpoints, behind a bearer token; with no token configured they are off.

The console page (``/admin``) is a static page that asks for the token and calls these endpoints.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
from dataclasses import asdict
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

import app.api_responses as out
from app.api_requests import RollbackBody, SkippedQuery
from app.api_spec import ADMIN_ERRORS, ApiResponses, api
from app.errors import ApiError
from app.jobs import JobBoard, JobRunning, start_reindex
from app.resources import resources
from indexer.records import Manifest
from indexer.stores.versions import list_versions, switch_current

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


def admin_operation(ok, *errors: str, status: int = 200, operation_id: str, media_alternative: str = ""):
    """The contract of an admin endpoint: bearer token, its own tag, and the token's two errors."""
    responses = ApiResponses(ok, *errors, *ADMIN_ERRORS, status=status, also=media_alternative)
    return api.validate(resp=responses, tags=["admin"], security={"bearer": []}, operation_id=operation_id)


@bp.before_request
def require_token():
    """:raise 403: admin_disabled without a configured token.  :raise 401: unauthorized for a wrong one."""
    expected = resources().settings.admin_token
    if not expected:
        raise ApiError("admin_disabled", "The admin API is disabled: set SHOPLENS_ADMIN_TOKEN to enable it.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError("unauthorized", "A valid 'Authorization: Bearer <token>' header is required.",
                       {"WWW-Authenticate": 'Bearer realm="shoplens-admin"'})


@bp.post("/reload")
@admin_operation(out.ReloadOutcome, "reload_failed", operation_id="reloadIndex")
def reload_index():
    """Switch to the newest index version

    Usually not needed: every worker checks for a new version every SHOPLENS_RELOAD_INTERVAL seconds.
    A broken newest version answers 409 reload_failed and the old one keeps serving.
    """
    switched = resources().reload_index()
    live = resources().store.live
    return jsonify({"switched": switched, "version": live.name, "count": live.manifest.count})


@bp.get("/status")
@admin_operation(out.ConsoleStatus, operation_id="consoleStatus")
def status():
    """Console status

    The live version, every kept version, the running re-index job and the job history.
    """
    state = resources()
    root = Path(state.settings.index_dir)
    live = state.store.live
    board = JobBoard(root)
    current = board.current()
    return jsonify({
        "live": _version_json(root, live.name, live.name),
        "versions": [_version_json(root, name, live.name) for name in reversed(list_versions(root))],
        "job": asdict(current) if current else None,
        "history": [asdict(job) for job in board.history()],
        "catalog_source": state.settings.catalog or "(built-in demo catalog)",
        "model": state.embedder.model_id,
    })


@bp.get("/versions/<version>/skipped")
@admin_operation(out.SkippedRows, "not_found", "invalid_parameter", operation_id="skippedRows",
                 media_alternative="text/csv")
def skipped_rows(version: str, query: SkippedQuery):
    """Skipped catalog rows of a kept version

    Rows with ``image`` set are extra images left out of a product that was indexed.

    JSON rows, or with ``format=csv`` a CSV download. 404 not_found for a version that is not kept.
    """
    path = _version_dir(version) / "skipped.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.exists() else []
    if query.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["line", "product_id", "image", "reason", "message"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="skipped-{version}.csv"'})
    return jsonify({"version": version, "rows": rows})


@bp.post("/rollback")
@admin_operation(out.LiveVersion, "not_found", "invalid_parameter", "reload_failed", operation_id="rollback")
def rollback(json: RollbackBody):
    """Make a kept version live again

    JSON body ``{"version": "..."}`` naming a kept version (404 not_found otherwise); 409 reload_failed when
    that version cannot be loaded.
    """
    if json is None:  # not a JSON body
        raise ApiError("invalid_parameter", 'Send a JSON body {"version": "..."} with Content-Type application/json.')
    root = _version_dir(json.version).parent
    switch_current(root, json.version)
    resources().reload_index()
    return jsonify({"version": resources().store.live.name})


@bp.post("/reindex")
@admin_operation(out.JobStarted, "invalid_parameter", "job_running", status=202, operation_id="startReindex")
def reindex():
    """Re-index the catalog in the background

    Re-indexes the configured catalog source (SHOPLENS_CATALOG; 400 invalid_parameter when none is set),
    one job at a time (409 job_running). Follow it with /admin/status.
    """
    state = resources()
    settings = state.settings
    if not settings.catalog:
        raise ApiError("invalid_parameter", "No catalog source is configured (SHOPLENS_CATALOG).")
    try:
        job = start_reindex(JobBoard(Path(settings.index_dir)), settings.index_job(show_progress=False),
                            state.embedder, on_success=lambda report: state.reload_index())
    except JobRunning as exc:
        raise ApiError("job_running", str(exc)) from None
    return jsonify({"job": asdict(job)}), 202


@bp.post("/jobs/current/cancel")
@admin_operation(out.Cancelling, "no_job", operation_id="cancelReindex")
def cancel_job():
    """Cancel the running re-index

    The live version stays; 409 no_job when nothing is running.
    """
    if not JobBoard(Path(resources().settings.index_dir)).request_cancel():
        raise ApiError("no_job", "No re-index is running.")
    return jsonify({"cancelling": True})


def _version_dir(version: str) -> Path:
    """:raise ApiError: not_found unless ``version`` is one of the kept versions."""
    root = Path(resources().settings.index_dir)
    if version not in list_versions(root):
        raise ApiError("not_found", f"No kept index version {version!r}.")
    return root / version


def _version_json(root: Path, name: str, live: str) -> dict:
    manifest = Manifest.read(root / name / "manifest.json")
    return {"version": name, "live": name == live, "count": manifest.count, "images": manifest.vector_count,
            "products": manifest.groups or manifest.count, "variants": manifest.variants,
            "model": manifest.model_id, "index_type": manifest.index_type, "created": manifest.created,
            "catalog": manifest.catalog, "skipped": manifest.skipped, "skipped_images": manifest.skipped_images}
