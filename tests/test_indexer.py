"""Indexing runs end to end: versions, incremental re-embedding, crash safety, the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main as cli_main
from indexer.records import VectorStoreConfig
from indexer.runner import IndexJob, NothingToIndex, run_index
from indexer.sources.catalog import CatalogError
from indexer.stores.index_store import IndexStore
from indexer.stores.versions import IndexBusy, exclusive, list_versions, read_current
from tests.conftest import product_image, write_catalog
from vision.images import load_image


def job(catalog: Path, out: Path, **kw) -> IndexJob:
    return IndexJob(catalog=catalog, out_dir=out, show_progress=False, **kw)


def test_index_run_writes_a_live_version(tmp_path, embedder):
    report = run_index(job(write_catalog(tmp_path / "shop", 10), tmp_path / "index"), embedder)
    assert report.products == 10 and report.embedded == 10 and report.reused == 0
    version = tmp_path / "index" / report.version
    assert read_current(tmp_path / "index") == report.version
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["count"] == 10 and manifest["dim"] == embedder.dim
    assert manifest["model_id"] == embedder.model_id and manifest["index_type"] == "Flat"
    assert len(manifest["catalog_checksum"]) == 64 and manifest["created"]
    assert {"index.faiss", "vectors.npy", "products.arrow", "skipped.jsonl"} <= {p.name for p in version.iterdir()}


def test_catalog_image_finds_itself_first(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 12)
    run_index(job(catalog, tmp_path / "index"), embedder)
    store = IndexStore.open(tmp_path / "index")
    for product_id in ("p000", "p007", "p011"):
        image = load_image((tmp_path / "shop" / "images" / f"{product_id}.jpg").read_bytes())
        hits = store.search(embedder.encode_images([image])[0], k=3)
        assert hits[0].product.id == product_id and hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_incremental_run_embeds_only_changed_images(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 20)
    run_index(job(catalog, tmp_path / "index"), embedder)
    product_image(99).save(tmp_path / "shop" / "images" / "p004.jpg", quality=92)  # 1 of 20 changed
    report = run_index(job(catalog, tmp_path / "index"), embedder)
    assert (report.embedded, report.reused) == (1, 19)
    store = IndexStore.open(tmp_path / "index")
    new_image = load_image((tmp_path / "shop" / "images" / "p004.jpg").read_bytes())
    assert store.search(embedder.encode_images([new_image])[0], k=1)[0].product.id == "p004"


def test_undecodable_image_is_a_skipped_row(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 4)
    (tmp_path / "shop" / "images" / "p002.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report = run_index(job(catalog, tmp_path / "index"), embedder)
    assert report.products == 3
    assert [(row.line, row.reason) for row in report.skipped] == [(4, "invalid_image")]
    skipped_file = tmp_path / "index" / report.version / "skipped.jsonl"
    assert json.loads(skipped_file.read_text())["product_id"] == "p002"


def test_nothing_valid_keeps_the_old_version(tmp_path, embedder):
    good = write_catalog(tmp_path / "shop", 3)
    first = run_index(job(good, tmp_path / "index"), embedder).version
    bad = tmp_path / "shop" / "bad.csv"
    bad.write_text("id,title,image\na,A,missing.jpg\n")
    with pytest.raises(NothingToIndex):
        run_index(job(bad, tmp_path / "index"), embedder)
    assert read_current(tmp_path / "index") == first


def test_duplicate_ids_abort_before_anything_changes(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 3)
    with open(catalog, "a") as handle:
        handle.write("p000,Dup,images/p000.jpg,,,,,,\n")
    with pytest.raises(CatalogError):
        run_index(job(catalog, tmp_path / "index"), embedder)
    assert read_current(tmp_path / "index") is None


def test_only_three_versions_are_kept(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 3)
    names = [run_index(job(catalog, tmp_path / "index"), embedder).version for _ in range(5)]
    assert list_versions(tmp_path / "index") == names[-3:]
    assert read_current(tmp_path / "index") == names[-1]


def test_a_second_indexer_on_the_same_folder_is_refused(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 2)
    with exclusive(tmp_path / "index"):
        with pytest.raises(IndexBusy):
            run_index(job(catalog, tmp_path / "index"), embedder)


def test_ann_index_factory_override(tmp_path, embedder):
    report = run_index(job(write_catalog(tmp_path / "shop", 30), tmp_path / "index",
                           vectors=VectorStoreConfig(index_factory="HNSW16,Flat")), embedder)
    assert report.index_type == "HNSW16,Flat"
    store = IndexStore.open(tmp_path / "index")
    assert not store.live.vectors.images.exact and len(store.search(store.live.vectors.vector(0), k=5)) == 5


CRASHING_RUN = """
import sys, time
from pathlib import Path
from indexer.runner import IndexJob, run_index
from vision.embedder import Embedder, EmbedderConfig
embedder = Embedder(EmbedderConfig(model=sys.argv[1], pretrained=sys.argv[2], device="cpu", batch_size=4))
job = IndexJob(catalog=Path(sys.argv[3]), out_dir=Path(sys.argv[4]), show_progress=False)
run_index(job, embedder, on_progress=lambda done, total, errors: time.sleep(0.3))
"""


def test_kill_9_mid_build_keeps_old_version_and_next_run_reuses_work(tmp_path, embedder, tiny_config):
    catalog = write_catalog(tmp_path / "shop", 4)
    out = tmp_path / "index"
    old = run_index(job(catalog, out), embedder).version
    big = write_catalog(tmp_path / "shop", 40, name="big.csv")  # 36 new images, 10 batches of 4
    process = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, tiny_config.model, tiny_config.pretrained,
                                str(big), str(out)], cwd=Path(__file__).parent.parent)
    cache_db = next((out / "cache").glob("*.sqlite"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _cached_count(cache_db) < 4 + 8:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert _cached_count(cache_db) >= 12, "the killed run should have committed some batches"
    assert read_current(out) == old
    assert IndexStore.open(out).live.manifest.count == 4
    report = run_index(job(big, out), embedder)
    assert report.products == 40 and report.reused >= 12 and report.embedded == 40 - report.reused
    assert not list(out.glob(".tmp-*"))


def _cached_count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_cli_index_prints_a_summary(tmp_path, tiny_config, capsys):
    catalog = write_catalog(tmp_path / "shop", 6)
    (tmp_path / "shop" / "images" / "p001.jpg").unlink()
    code = cli_main(["index", "--catalog", str(catalog), "--out", str(tmp_path / "index"), "--model",
                     tiny_config.model, "--pretrained", tiny_config.pretrained, "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0
    assert "5 products (Flat)" in out and "embedded 5 images" in out and "image_missing: 1" in out
    assert "skipped line 3" in out


def test_cli_exit_code_when_weights_are_missing(tmp_path, tiny_config, capsys):
    catalog = write_catalog(tmp_path / "shop", 2)
    code = cli_main(["index", "--catalog", str(catalog), "--out", str(tmp_path / "index"), "--model",
                     tiny_config.model, "--pretrained", str(tmp_path / "missing.pt")])
    assert code == 1
    assert "SHOPLENS_PRETRAINED" in capsys.readouterr().err
    assert read_current(tmp_path / "index") is None


def test_cli_reads_env_settings(tmp_path, tiny_config, monkeypatch, capsys):
    catalog = write_catalog(tmp_path / "shop", 2)
    monkeypatch.setenv("SHOPLENS_CATALOG", str(catalog))
    monkeypatch.setenv("SHOPLENS_INDEX_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("SHOPLENS_MODEL", tiny_config.model)
    monkeypatch.setenv("SHOPLENS_PRETRAINED", tiny_config.pretrained)
    assert cli_main(["index"]) == 0
    assert read_current(tmp_path / "from-env")
