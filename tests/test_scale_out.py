"""N stateless replicas over shared storage follow the same index version, on either backend."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request

import pytest

from indexer.records import VectorStoreConfig
from indexer.runner import IndexJob, run_index
from indexer.stores.versions import read_current, switch_current
from tests.browser import running_server
from tests.conftest import write_catalog

pytestmark = pytest.mark.slow
REPLICAS = 2


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_version(bases: list[str], version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while {get_json(base + "/readyz")["version"] for base in bases} != {version}:
        assert time.monotonic() < deadline, f"replicas did not all switch to {version}"
        time.sleep(0.2)


@pytest.mark.parametrize("backend", ["faiss", "milvus"])
def test_replicas_follow_new_versions_and_rollbacks(backend, tmp_path, tiny_config, embedder, milvus_uri):
    shared = tmp_path / "shared-index"  # stands for the volume every replica mounts
    vectors = VectorStoreConfig(kind=backend, milvus_uri=milvus_uri, milvus_prefix=f"replicas_{backend}")
    catalog = write_catalog(tmp_path / "shop", 10)
    first = run_index(IndexJob(catalog=catalog, out_dir=shared, show_progress=False, vectors=vectors), embedder)
    args = ("--index", str(shared), "--workers", "1", "--threads", "2", "--reload-interval", "0.3",
            "--model", tiny_config.model, "--pretrained", tiny_config.pretrained, "--device", "cpu")
    env = {"SHOPLENS_MILVUS_URI": milvus_uri}
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(running_server(*args, env=env)) for _ in range(REPLICAS)]
        wait_for_version(bases, first.version)

        write_catalog(tmp_path / "shop", 14)  # the merchandiser adds four products and re-indexes
        second = run_index(IndexJob(catalog=catalog, out_dir=shared, show_progress=False, vectors=vectors), embedder)
        wait_for_version(bases, second.version)
        for base in bases:  # every replica answers from the new version, with the same results
            assert get_json(base + "/readyz")["products"] == 14
        results = [[hit["id"] for hit in get_json(base + "/api/v1/search?q=shoes&k=14")["results"]] for base in bases]
        assert results[0] == results[1] and len(results[0]) == 14

        switch_current(shared, first.version)  # rollback, as the console does
        wait_for_version(bases, first.version)
        assert [status(base + "/api/v1/products/p012") for base in bases] == [404] * REPLICAS
    assert read_current(shared) == first.version
