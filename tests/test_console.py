"""The merchandiser console's API: status, background re-index with progress, cancel, history,
rollback, skipped rows (JSON and CSV), all behind the admin token."""

from __future__ import annotations

import csv
import io
import time

import pytest

import app.jobs
from app import create_app
from indexer.runner import IndexJob, run_index
from tests.conftest import make_settings, product_image, write_catalog

AUTH = {"Authorization": "Bearer s3cret-token"}


@pytest.fixture()
def console(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 8)
    with open(catalog, "a") as handle:
        handle.write("bad-1,Broken,images/missing.jpg,shoes,b,1,EUR,,true\n")
    index = tmp_path / "index"
    run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), embedder)
    flask_app = create_app(make_settings(index, catalog=str(catalog), batch_size=4), background_load=False)
    return flask_app.test_client(), catalog, index


@pytest.fixture()
def slow_jobs(monkeypatch):
    """Each batch of the console's jobs takes 0.15 s longer, so progress and cancel can be watched."""
    original = app.jobs.run_index

    def slowed(job, embedder, on_progress=None):
        def progress(done, total, errors):
            time.sleep(0.15)
            on_progress(done, total, errors)
        return original(job, embedder, on_progress=progress)

    monkeypatch.setattr(app.jobs, "run_index", slowed)
    monkeypatch.setattr(app.jobs, "PROGRESS_EVERY", 0.0)


def wait_for_job_end(client, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/v1/admin/status", headers=AUTH).get_json()
        if status["job"] is None:
            return status
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def add_products(catalog, start, count):
    with open(catalog, "a") as handle:
        for i in range(start, start + count):
            product_image(500 + i).save(catalog.parent / "images" / f"n{i}.jpg")
            handle.write(f"n{i},New {i},images/n{i}.jpg,bags,b,5,EUR,,true\n")


@pytest.mark.parametrize("method, url", [("get", "/api/v1/admin/status"), ("post", "/api/v1/admin/reindex"),
                                         ("post", "/api/v1/admin/rollback"),
                                         ("post", "/api/v1/admin/jobs/current/cancel"),
                                         ("get", "/api/v1/admin/versions/x/skipped")])
def test_console_api_needs_the_token(console, method, url):
    assert getattr(console[0], method)(url).status_code == 401


def test_status_describes_the_live_index(console):
    client, catalog, _ = console
    status = client.get("/api/v1/admin/status", headers=AUTH).get_json()
    assert status["live"]["count"] == 8 and status["live"]["index_type"] == "Flat"
    assert status["live"]["skipped"] == {"image_missing": 1}
    assert status["catalog_source"] == str(catalog) and status["job"] is None and status["history"] == []
    assert [v["live"] for v in status["versions"]] == [True]


def test_reindex_runs_in_the_background_with_progress(console, slow_jobs):
    client, catalog, _ = console
    add_products(catalog, 0, 12)  # 12 new images: 3 batches of 4 to embed
    started = client.post("/api/v1/admin/reindex", headers=AUTH)
    assert started.status_code == 202 and started.get_json()["job"]["state"] == "running"
    assert client.post("/api/v1/admin/reindex", headers=AUTH).get_json()["error"]["code"] == "job_running"
    seen_progress, observed = False, []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get("/api/v1/admin/status", headers=AUTH).get_json()["job"]
        if job is None:
            break
        observed.append((job["done"], job["total"]))
        if job["total"] == 12 and job["done"] > 0:
            seen_progress = True
            assert job["images_per_second"] > 0 and job["errors"] == 0
        time.sleep(0.03)
    assert seen_progress, observed
    status = wait_for_job_end(client)
    outcome = status["history"][0]
    assert outcome["state"] == "succeeded" and outcome["products"] == 20 and outcome["errors"] == 1
    assert status["live"]["version"] == outcome["version"] and status["live"]["count"] == 20
    assert client.get("/api/v1/products/n3").status_code == 200  # this worker switched at once


def test_cancel_keeps_the_old_version(console, slow_jobs):
    client, catalog, _ = console
    before = client.get("/api/v1/admin/status", headers=AUTH).get_json()["live"]["version"]
    add_products(catalog, 0, 40)
    assert client.post("/api/v1/admin/reindex", headers=AUTH).status_code == 202
    time.sleep(0.3)
    assert client.post("/api/v1/admin/jobs/current/cancel", headers=AUTH).get_json() == {"cancelling": True}
    status = wait_for_job_end(client)
    assert status["history"][0]["state"] == "cancelled"
    assert status["live"]["version"] == before and status["live"]["count"] == 8
    response = client.post("/api/v1/admin/jobs/current/cancel", headers=AUTH)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "no_job"
    # The next run finishes and reuses what the cancelled one embedded.
    assert client.post("/api/v1/admin/reindex", headers=AUTH).status_code == 202
    assert wait_for_job_end(client)["history"][0]["state"] == "succeeded"


def test_failed_job_is_reported(console):
    client, catalog, _ = console
    catalog.write_text("id,title,image\na,A,missing.jpg\n")
    assert client.post("/api/v1/admin/reindex", headers=AUTH).status_code == 202
    outcome = wait_for_job_end(client)["history"][0]
    assert outcome["state"] == "failed" and "No valid product" in outcome["message"]


def test_rollback_to_a_kept_version(console, embedder):
    client, catalog, index = console
    first = client.get("/api/v1/admin/status", headers=AUTH).get_json()["live"]["version"]
    add_products(catalog, 0, 2)
    second = run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), embedder).version
    client.post("/api/v1/admin/reload", headers=AUTH)
    assert client.get("/api/v1/admin/status", headers=AUTH).get_json()["live"]["version"] == second
    response = client.post("/api/v1/admin/rollback", json={"version": first}, headers=AUTH)
    assert response.status_code == 200 and response.get_json() == {"version": first}
    assert client.get("/api/v1/products/n1").status_code == 404
    missing = client.post("/api/v1/admin/rollback", json={"version": "v1999"}, headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_skipped_rows_as_json_and_csv(console):
    client, _, _ = console
    version = client.get("/api/v1/admin/status", headers=AUTH).get_json()["live"]["version"]
    rows = client.get(f"/api/v1/admin/versions/{version}/skipped", headers=AUTH).get_json()["rows"]
    assert [(r["line"], r["product_id"], r["reason"]) for r in rows] == [(10, "bad-1", "image_missing")]
    response = client.get(f"/api/v1/admin/versions/{version}/skipped?format=csv", headers=AUTH)
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    parsed = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert parsed[0]["product_id"] == "bad-1" and parsed[0]["reason"] == "image_missing"
    assert client.get("/api/v1/admin/versions/../skipped", headers=AUTH).status_code == 404


def test_console_page_is_served(console):
    with console[0].get("/admin") as page:
        assert page.status_code == 200 and b"merchandiser console" in page.data
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("body", [[{"version": "v1"}], 5, "v1", None, {"version": ""}, {"version": 7}, {}])
def test_rollback_refuses_a_body_that_is_not_a_version_object(console, body):
    client, _, _ = console
    response = client.post("/api/v1/admin/rollback", json=body, headers=AUTH)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_rollback_refuses_a_body_that_is_not_json(console):
    response = console[0].post("/api/v1/admin/rollback", data="version=v1", headers=AUTH,
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_skipped_report_refuses_an_unknown_format(console):
    client, _, _ = console
    version = client.get("/api/v1/admin/status", headers=AUTH).get_json()["live"]["version"]
    response = client.get(f"/api/v1/admin/versions/{version}/skipped?format=xlsx", headers=AUTH)
    assert response.status_code == 400 and "format" in response.get_json()["error"]["message"]


def test_a_job_finishing_while_its_state_is_read_is_no_job(tmp_path, monkeypatch):
    """The status poll read current.json just before the job finished and removed it: no 500, no job."""
    board = app.jobs.JobBoard(tmp_path)
    board.folder.mkdir()
    board.save(app.jobs.JobState(id="j1", state="running", catalog="c.csv", started=time.time()))
    read = app.jobs._read

    def read_then_finish(path):
        state = read(path)
        if path == board.current_path:  # the job ends right after this read
            monkeypatch.setattr(app.jobs, "_read", read)
            board.finish(app.jobs.JobState(id="j1", state="succeeded", catalog="c.csv", started=time.time()))
        return state

    monkeypatch.setattr(app.jobs, "_read", read_then_finish)
    assert board.current() is None
    assert board.history()[0].state == "succeeded"
