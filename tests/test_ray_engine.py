"""The Ray engine (local mode) builds the same index as the local engine and shares its cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from indexer.embedding import ray_engine
from indexer.runner import IndexJob, run_index
from indexer.stores.product_table import ProductTable
from indexer.stores.versions import read_current
from tests.conftest import write_catalog

pytestmark = pytest.mark.slow


def version_contents(index_dir: Path) -> tuple[list[str], np.ndarray, list[tuple[int, str]]]:
    folder = index_dir / read_current(index_dir)
    ids = [product.id for product in ProductTable.open(folder)]
    skipped = [(row["line"], row["reason"]) for row in map(json.loads, (folder / "skipped.jsonl").read_text().splitlines())]
    return ids, np.load(folder / "vectors.npy"), skipped


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """40 products, one image corrupt and one duplicated under another id (embedded once)."""
    folder = tmp_path_factory.mktemp("ray-shop")
    path = write_catalog(folder, 40)
    (folder / "images" / "p007.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "images" / "p011.jpg").write_bytes((folder / "images" / "p012.jpg").read_bytes())
    return path


@pytest.fixture(scope="module")
def local_index(catalog, embedder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "index"
    run_index(IndexJob(catalog=catalog, out_dir=out, show_progress=False), embedder)
    return out


def test_ray_and_local_engines_build_the_same_index(catalog, local_index, tiny_config, embedder, tmp_path, capsys):
    out = tmp_path / "index"
    code = cli_main(["index", "--engine", "ray", "--ray-workers", "2", "--catalog", str(catalog), "--out", str(out),
                     "--model", tiny_config.model, "--pretrained", tiny_config.pretrained, "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert "39 products" in capsys.readouterr().out
    local_ids, local_vectors, local_skipped = version_contents(local_index)
    ray_ids, ray_vectors, ray_skipped = version_contents(out)
    assert ray_ids == local_ids and len(ray_ids) == 39
    np.testing.assert_allclose(ray_vectors, local_vectors, atol=1e-5)
    assert ray_skipped == local_skipped and [reason for _, reason in ray_skipped] == ["unsupported_media_type"]

    again = run_index(IndexJob(catalog=catalog, out_dir=out, show_progress=False, engine="ray"), embedder)
    assert again.embedded == 0 and again.reused == 39  # the same cache serves both engines


def test_a_crashed_embedding_worker_is_restarted_and_its_batch_retried(catalog, local_index, embedder, tmp_path,
                                                                     monkeypatch):
    crashed = tmp_path / "crashed"

    class CrashesOnce(ray_engine._EmbedActor):  # defined here, so Ray ships it to the worker by value
        def __call__(self, batch):
            if not crashed.exists():
                crashed.touch()
                os._exit(1)  # the worker process dies mid-batch, as when a node is lost
            return super().__call__(batch)

    monkeypatch.setattr(ray_engine, "_EmbedActor", CrashesOnce)
    out = tmp_path / "index"
    report = run_index(IndexJob(catalog=catalog, out_dir=out, show_progress=False, engine="ray", ray_workers=1),
                       embedder)
    assert crashed.exists() and report.embedded == 38  # 39 products, two share one image
    local_ids, local_vectors, _ = version_contents(local_index)
    ray_ids, ray_vectors, _ = version_contents(out)
    assert ray_ids == local_ids
    np.testing.assert_allclose(ray_vectors, local_vectors, atol=1e-5)


def test_unknown_engine_is_refused(catalog, tmp_path):
    with pytest.raises(ValueError, match="engine"):
        IndexJob(catalog=catalog, out_dir=tmp_path, engine="spark")
    assert cli_main(["index", "--engine", "spark", "--catalog", str(catalog), "--out", str(tmp_path)]) == 2
