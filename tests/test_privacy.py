"""Selfies and search photos stay in memory: no temporary files, nothing in the logs, no caching."""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from pathlib import Path

import pytest
import werkzeug.formparser
from flask import Request
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.uploads import InMemoryRequest

from tests.conftest import astronaut, encode


def _forbid(*args, **kwargs):
    raise AssertionError("an upload was about to be written to a temporary file")


def _forbid_temp_files(monkeypatch) -> None:
    """Any temporary file now fails the test (they are unlinked at once, so watching a folder is not enough)."""
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, _forbid)
    # werkzeug's multipart parser imported these by name: patch where they are looked up.
    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", _forbid)


def large_selfie() -> bytes:
    """Over werkzeug's 500 KB spooling threshold, so a default Flask app would write it to disk."""
    data = encode(astronaut().resize((1400, 1400)), "PNG")
    assert len(data) > 600_000
    return data


def post_in_memory(client, url: str, fields: dict):
    """Encode the multipart body here, in memory (the test client would spool a large one to disk)."""
    boundary, body = encode_multipart(fields)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def files_under(*folders: Path) -> set[tuple[str, int]]:
    return {(str(path), path.stat().st_mtime_ns) for folder in folders if folder.exists()
            for path in folder.rglob("*") if path.is_file()}


def test_uploads_never_touch_the_disk_or_the_logs(makeup_app, makeup_index, caplog):
    client = makeup_app.test_client()
    watched = (Path(tempfile.gettempdir()) / "shoplens-watch", makeup_index, Path.cwd() / "data")
    watched[0].mkdir(exist_ok=True)
    before = files_under(*watched)
    top_of_tmp = set(os.listdir(tempfile.gettempdir()))
    selfie = large_selfie()
    looks = json.dumps([{"product_id": "lip-classic-red"}])
    image = lambda: FileStorage(io.BytesIO(selfie), "my-private-selfie.png", content_type="image/png")  # noqa: E731
    caplog.set_level(logging.DEBUG)
    with pytest.MonkeyPatch.context() as patch:
        _forbid_temp_files(patch)
        tryon = post_in_memory(client, "/api/v1/tryon", {"image": image(), "looks": looks})
        landmarks = post_in_memory(client, "/api/v1/face/landmarks", {"image": image()})
        search = post_in_memory(client, "/api/v1/search?q=secret%20query", {"image": image()})
        shared = post_in_memory(client, "/share", {"image": image(), "title": "secret title"})
    assert files_under(*watched) == before  # no file written or touched in the index or data folders
    assert set(os.listdir(tempfile.gettempdir())) <= top_of_tmp  # nothing new in the temp folder
    assert tryon.status_code == 200, tryon.get_data(as_text=True)
    assert "no-store" in tryon.headers["Cache-Control"] and "ETag" not in tryon.headers
    assert landmarks.status_code == 200 and search.status_code == 200 and shared.status_code == 200
    assert shared.headers["Cache-Control"] == "no-store"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "my-private-selfie" not in logged and "secret query" not in logged and "secret title" not in logged
    assert selfie[:64].hex() not in logged


def test_a_recommend_session_is_neither_kept_nor_logged(makeup_app, makeup_index, caplog):
    client = makeup_app.test_client()
    before = files_under(makeup_index)
    caplog.set_level(logging.DEBUG)
    answer = client.post("/api/v1/recommend", json={"positive": {"lip-mauve": 3}, "negative": ["lip-coral-crush"],
                                                    "q": "secret wish", "k": 3})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers and "no-store" in answer.headers["Cache-Control"]
    assert files_under(makeup_index) == before
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "lip-mauve" not in logged and "lip-coral-crush" not in logged and "secret wish" not in logged


def large_upload_environ() -> dict:
    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(b"x" * 2_000_000), "a.jpg")})
    return {"REQUEST_METHOD": "POST", "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}


def test_request_class_keeps_files_in_memory():
    with pytest.MonkeyPatch.context() as patch:
        _forbid_temp_files(patch)
        upload = InMemoryRequest(large_upload_environ()).files["image"]
    assert isinstance(upload.stream, io.BytesIO) and len(upload.read()) == 2_000_000


def test_the_guard_would_catch_a_default_flask_request():
    """Proof that the guard works: the stock request class does spool a large upload."""
    with pytest.MonkeyPatch.context() as patch:
        _forbid_temp_files(patch)
        with pytest.raises(AssertionError, match="temporary file"):
            Request(large_upload_environ()).files


def test_access_log_format_has_no_query_string():
    from app.server import ACCESS_LOG_FORMAT

    assert "%(U)s" in ACCESS_LOG_FORMAT and "%(q)s" not in ACCESS_LOG_FORMAT and "%(r)s" not in ACCESS_LOG_FORMAT


def test_serve_never_runs_in_debug_mode(makeup_app, makeup_index):
    from app.server import GunicornServer
    from tests.conftest import make_settings

    assert makeup_app.debug is False
    server = GunicornServer(make_settings(makeup_index))
    from gunicorn.workers.gthread import ThreadWorker

    assert server.cfg.reload is False and issubclass(server.cfg.worker_class, ThreadWorker)
    assert "%(U)s" in server.cfg.access_log_format  # path only: no query string in access logs
