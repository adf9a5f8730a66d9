"""The CPU fast path: bf16 is used only where it is native and agrees with fp32; the index records the
precision it was built in, and a server queries in another one only while the two stay close."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import replace

import numpy as np
import pytest

import vision.embedder
from app.errors import ApiError
from app.resources import ModelMismatch, Resources
from app.settings import Settings
from indexer.runner import IndexJob, run_index
from indexer.stores.versions import read_current
from tests.conftest import gradient_image, make_settings, write_catalog
from vision import openvino_towers as vision_openvino
from vision.embedder import Embedder
from vision.openvino_towers import int8_available, openvino_available
from vision.precision import (
    AUTO_INT8_BOUND,
    FIDELITY_BOUND,
    Precision,
    PrecisionUnavailable,
    combined_fidelity,
    fidelity_between,
)

TEXTS = ["red satin dress", "matte lipstick", "sneakers", "robe rouge en satin"]


@pytest.fixture(scope="module")
def fp32(tiny_config) -> Embedder:
    return Embedder(replace(tiny_config, precision="fp32"))


@pytest.fixture()
def native_bf16(monkeypatch):
    """torch's own bf16 path: a CPU with native bf16, without the optional OpenVINO runtime."""
    monkeypatch.setattr(vision.embedder, "native_bf16", lambda: True)
    monkeypatch.setattr(vision.embedder, "openvino_available", lambda: False)
    monkeypatch.setattr(vision.embedder, "int8_available", lambda: False)


requires_openvino = pytest.mark.skipif(not openvino_available(), reason="the openvino extra is not installed")
requires_int8 = pytest.mark.skipif(not int8_available(), reason="the openvino extra (with nncf) is not installed")


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.sum(first * second, axis=1)


def test_fp32_is_exact_and_names_its_vectors_as_before(fp32):
    assert fp32.precision.name == "fp32" and fp32.precision.fidelity == 1.0
    assert fp32.vector_key == fp32.model_id


def test_auto_uses_bf16_where_it_is_native_and_close_to_fp32(tiny_config, fp32, native_bf16):
    fast = Embedder(replace(tiny_config, precision="auto"))
    assert fast.precision.name == "bf16" and FIDELITY_BOUND <= fast.precision.fidelity < 1.0
    assert fast.vector_key == f"{fast.model_id}@bf16"
    images = [gradient_image(80 + 9 * i, 64 + 5 * i, seed=i) for i in range(6)]
    assert cosines(fast.encode_images(images), fp32.encode_images(images)).min() >= FIDELITY_BOUND
    assert cosines(fast.encode_texts(TEXTS), fp32.encode_texts(TEXTS)).min() >= FIDELITY_BOUND
    vectors = fast.encode_images(images)
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_auto_stays_fp32_without_native_bf16(tiny_config, monkeypatch, caplog):
    monkeypatch.setattr(vision.embedder, "native_bf16", lambda: False)
    monkeypatch.setattr(vision.embedder, "openvino_available", lambda: False)
    monkeypatch.setattr(vision.embedder, "int8_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="vision.embedder"):
        assert Embedder(replace(tiny_config, precision="auto")).precision.name == "fp32"
    assert "no native bf16" in caplog.text


def test_auto_falls_back_to_fp32_when_the_probes_disagree(tiny_config, fp32, native_bf16, monkeypatch, caplog):
    monkeypatch.setattr(vision.embedder, "FIDELITY_BOUND", 0.9999999)
    with caplog.at_level(logging.WARNING, logger="vision.embedder"):
        fallback = Embedder(replace(tiny_config, precision="auto"))
    assert fallback.precision.name == "fp32"
    assert [record.message for record in caplog.records if "agrees with fp32 only" in record.message]
    images = [gradient_image(seed=3)]
    np.testing.assert_array_equal(fallback.encode_images(images), fp32.encode_images(images))
    asked = Embedder(replace(tiny_config, precision="bf16"))  # asked for by name: kept, with a warning
    assert asked.precision.name == "bf16"


@pytest.mark.parametrize("precision", ["fp16", "int4", "bf-16"])
def test_precisions_the_cpu_cannot_run_are_refused(tiny_config, precision):
    with pytest.raises(PrecisionUnavailable):
        Embedder(replace(tiny_config, precision=precision))


@requires_openvino
@pytest.mark.parametrize("native", [True, False])
def test_auto_prefers_openvino_where_it_is_installed(tiny_config, fp32, monkeypatch, native):
    """bf16 in OpenVINO where the CPU has it, f32 elsewhere; both under the same fidelity check."""
    monkeypatch.setattr(vision.embedder, "native_bf16", lambda: native)
    fast = Embedder(replace(tiny_config, precision="auto"))
    assert fast.precision.name == "openvino" and FIDELITY_BOUND <= fast.precision.fidelity <= 1.0
    assert fast.vector_key == f"{fast.model_id}@openvino"
    images = [gradient_image(80 + 9 * i, 64 + 5 * i, seed=i) for i in range(6)]
    assert cosines(fast.encode_images(images), fp32.encode_images(images)).min() >= FIDELITY_BOUND
    assert cosines(fast.encode_texts(TEXTS), fp32.encode_texts(TEXTS)).min() >= FIDELITY_BOUND
    one_by_one = np.concatenate([fast.encode_images([image]) for image in images])  # any batch size
    np.testing.assert_allclose(one_by_one, fast.encode_images(images), atol=2e-2)
    assert fast.encode_images(images).dtype == np.float32


@requires_int8
def test_int8_by_name_agrees_with_fp32(tiny_config, fp32, tmp_path):
    int8 = Embedder(replace(tiny_config, precision="openvino-int8", cache_dir=str(tmp_path)))
    assert int8.precision.name == "openvino-int8" and FIDELITY_BOUND <= int8.precision.fidelity < 1.0
    assert int8.vector_key == f"{int8.model_id}@openvino-int8"
    images = [gradient_image(80 + 9 * i, 64 + 5 * i, seed=i) for i in range(6)]
    # the 64-wide test model is harder on int8 than ViT-B-32 (0.996 on the probes, against 0.9996)
    assert cosines(int8.encode_images(images), fp32.encode_images(images)).min() >= 0.99
    np.testing.assert_allclose(np.concatenate([int8.encode_images([image]) for image in images]),
                               int8.encode_images(images), atol=1e-4)  # any batch size


@requires_int8
def test_the_int8_tower_is_quantized_once_and_cached(tiny_config, monkeypatch, tmp_path, caplog):
    config = replace(tiny_config, precision="openvino-int8", cache_dir=str(tmp_path))
    first = Embedder(config)
    cached = sorted(path.name for path in (tmp_path / "openvino").iterdir())
    assert len(cached) == 3 and {name.rsplit(".", 1)[1] for name in cached} == {"xml", "bin", "json"}
    assert all(first.model_id.split("@")[1] in name for name in cached)  # named by the weights it was made from

    def no_quantizing(*args, **kwargs):
        raise AssertionError("quantized again although the cache holds the tower")

    monkeypatch.setattr(vision_openvino, "_quantized", no_quantizing)
    again = Embedder(config)
    images = [gradient_image(seed=i) for i in range(3)]
    np.testing.assert_array_equal(again.encode_images(images), first.encode_images(images))
    assert again.precision == first.precision

    monkeypatch.undo()
    xml = next((tmp_path / "openvino").glob("*.xml"))
    xml.write_text("<not a model")
    with caplog.at_level(logging.WARNING, logger="vision.openvino_towers"):
        repaired = Embedder(config)
    assert "unreadable" in caplog.text and repaired.precision.name == "openvino-int8"
    np.testing.assert_allclose(repaired.encode_images(images), first.encode_images(images), atol=1e-5)


@pytest.mark.parametrize("precision", ["openvino", "openvino-int8"])
def test_openvino_by_name_needs_the_extra(tiny_config, monkeypatch, precision):
    monkeypatch.setattr(vision_openvino, "openvino_available", lambda: False)
    with pytest.raises(PrecisionUnavailable, match=r"pip install 'shoplens\[openvino\]'"):
        Embedder(replace(tiny_config, precision=precision))


def test_combined_fidelity_adds_angles():
    assert combined_fidelity(1.0, 0.999) == pytest.approx(0.999)
    assert combined_fidelity(math.cos(0.1), math.cos(0.2)) == pytest.approx(math.cos(0.3))
    assert combined_fidelity(-1.0, -1.0) == pytest.approx(-1.0)


def test_the_same_path_agrees_with_itself_and_two_paths_add_their_angles():
    int8, bf16 = Precision("openvino-int8", math.cos(0.1)), Precision("bf16", math.cos(0.02))
    assert fidelity_between(int8, Precision("openvino-int8", math.cos(0.1))) == 1.0
    assert fidelity_between(int8, bf16) == pytest.approx(math.cos(0.12))
    assert fidelity_between(Precision(), Precision()) == 1.0
    # the margin auto asks of int8 keeps an int8 index within the bound of bf16 / OpenVINO queries
    assert fidelity_between(Precision("openvino-int8", AUTO_INT8_BOUND), Precision("openvino", 0.9999)) > 0.996


class TowerBuilds:
    """Counts the OpenVINO towers an Embedder builds, int8 ones apart."""

    def __init__(self, monkeypatch):
        self.int8 = self.total = 0
        real = vision.embedder.OpenVinoTowers

        def counted(*args, **kwargs):
            self.total += 1
            self.int8 += args[5] is not None  # the calibration pictures
            return real(*args, **kwargs)

        monkeypatch.setattr(vision.embedder, "OpenVinoTowers", counted)


@requires_int8
def test_auto_tries_int8_first_under_a_stricter_bound_and_remembers_a_refusal(tiny_config, fp32, tmp_path,
                                                                              monkeypatch, caplog):
    config = replace(tiny_config, precision="auto", cache_dir=str(tmp_path))
    builds = TowerBuilds(monkeypatch)
    with caplog.at_level(logging.INFO, logger="vision.embedder"):
        first = Embedder(config)
    # the 64-wide test model agrees to 0.996 in int8: within the bound, not within auto's margin
    assert first.precision.name == "openvino" and (builds.int8, builds.total) == (1, 2)
    assert "Precision auto: openvino, since openvino-int8 agrees with fp32 only to cosine 0.99" in caplog.text
    assert f"(auto asks {AUTO_INT8_BOUND:.3f})" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vision.embedder"):
        again = Embedder(config)  # the cached tower's agreement is on record: not built to be refused again
    assert again.precision.name == "openvino" and (builds.int8, builds.total) == (1, 3)
    assert "openvino-int8 agrees with fp32 only to cosine 0.99" in caplog.text

    monkeypatch.setattr(vision.embedder, "AUTO_INT8_BOUND", FIDELITY_BOUND)  # a model int8 suits
    chosen = Embedder(config)
    assert chosen.precision.name == "openvino-int8" and builds.int8 == 2
    assert chosen.precision.fidelity == pytest.approx(first_int8_fidelity(tiny_config, tmp_path), abs=1e-6)
    images = [gradient_image(80 + 9 * i, 64 + 5 * i, seed=i) for i in range(4)]
    assert cosines(chosen.encode_images(images), fp32.encode_images(images)).min() >= 0.99


def first_int8_fidelity(tiny_config, cache_dir) -> float:
    return Embedder(replace(tiny_config, precision="openvino-int8", cache_dir=str(cache_dir))).precision.fidelity


@requires_int8
def test_int8_is_quantized_the_same_way_by_every_process(tiny_config, tmp_path):
    """What lets a server query an int8 index in int8 (the same path) with no fidelity lost between them."""
    images = [gradient_image(70 + 7 * i, 60 + 3 * i, seed=i) for i in range(5)]
    vectors = [Embedder(replace(tiny_config, precision="openvino-int8", cache_dir=str(tmp_path / name),
                                threads=threads)).encode_images(images) for name, threads in (("a", 1), ("b", 2))]
    assert cosines(*vectors).min() > 0.99999


def test_precision_and_threads_are_settings():
    settings = Settings.from_env({"SHOPLENS_PRECISION": "fp32", "SHOPLENS_TORCH_THREADS": "3"})
    config = settings.embedder_config()
    assert (config.precision, config.threads) == ("fp32", 3)
    assert Settings.from_env({}).embedder_config().precision == "auto"
    assert Settings(workers=2, torch_threads=0).serving_threads() >= 1
    assert Settings(workers=1, torch_threads=0).serving_threads() == (os.cpu_count() or 1)


def test_the_manifest_records_the_precision_and_the_cache_keeps_them_apart(tmp_path, tiny_config, fp32,
                                                                          native_bf16):
    catalog = write_catalog(tmp_path / "shop", 6)
    index = tmp_path / "index"
    fast = Embedder(replace(tiny_config, precision="bf16"))
    first = run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), fast)
    manifest = json.loads((index / first.version / "manifest.json").read_text())
    assert manifest["precision"] == "bf16"
    assert manifest["precision_fidelity"] == pytest.approx(fast.precision.fidelity, abs=1e-6)
    second = run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), fp32)
    assert second.embedded == 6 and second.reused == 0  # fp32 vectors are not taken from the bf16 cache
    assert json.loads((index / second.version / "manifest.json").read_text())["precision"] == "fp32"
    third = run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), fast)
    assert third.reused == 6


def set_index_fidelity(index, fidelity: float, precision: str = "openvino") -> None:
    """Rewrite the live manifest as if built in ``precision`` (by default not bf16, which the servers here run)."""
    path = index / read_current(index) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(precision=precision, precision_fidelity=fidelity)
    path.write_text(json.dumps(manifest))


@pytest.fixture()
def bf16_index(tmp_path, tiny_config, native_bf16):
    catalog = write_catalog(tmp_path / "shop", 6)
    index = tmp_path / "index"
    run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False),
              Embedder(replace(tiny_config, precision="bf16")))
    return index


def served_precision(index, precision: str) -> str:
    resources = Resources(make_settings(index, precision=precision))
    resources.load()
    return resources.embedder.precision.name


def test_a_server_may_query_in_another_precision_while_the_two_stay_close(bf16_index):
    assert served_precision(bf16_index, "fp32") == "fp32"
    assert served_precision(bf16_index, "auto") == "bf16"
    # an index whose own fidelity leaves no room for the server's bf16 error: the server queries in fp32
    set_index_fidelity(bf16_index, FIDELITY_BOUND + 1e-6)
    assert served_precision(bf16_index, "auto") == "fp32"
    # built in bf16 itself: the server's bf16 queries are the same computation, however far both are from fp32
    set_index_fidelity(bf16_index, FIDELITY_BOUND + 1e-6, "bf16")
    assert served_precision(bf16_index, "auto") == "bf16"


@requires_int8
def test_an_int8_index_is_served_in_int8_and_finds_its_own_pictures_exactly(tmp_path, tiny_config):
    """Two int8 sides near the bound would add up past it if treated as two paths; they are one."""
    catalog = write_catalog(tmp_path / "shop", 6)
    index, cache = tmp_path / "index", tmp_path / "cache"
    built = Embedder(replace(tiny_config, precision="openvino-int8", cache_dir=str(cache)))
    assert combined_fidelity(built.precision.fidelity, built.precision.fidelity) < FIDELITY_BOUND
    run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), built)
    resources = Resources(make_settings(index, precision="openvino-int8", cache_dir=str(cache)))
    resources.load()
    assert resources.embedder.precision.name == "openvino-int8"
    picture = gradient_image(seed=0).resize((80, 64))
    assert cosines(resources.embedder.encode_images([picture]), built.encode_images([picture]))[0] > 0.99999


def test_an_index_too_far_from_fp32_is_refused_with_the_fix(bf16_index):
    set_index_fidelity(bf16_index, 0.98, "bf16")
    with pytest.raises(ModelMismatch, match="--precision fp32"):
        Resources(make_settings(bf16_index, precision="fp32")).load()


def test_a_new_version_too_far_from_the_queries_is_not_switched_to(bf16_index, tmp_path, tiny_config):
    resources = Resources(make_settings(bf16_index, precision="auto"))
    resources.load()
    assert resources.embedder.precision.name == "bf16"
    live = resources.store.live.name
    catalog = write_catalog(tmp_path / "shop", 8)
    run_index(IndexJob(catalog=catalog, out_dir=bf16_index, show_progress=False),
              Embedder(replace(tiny_config, precision="bf16")))
    set_index_fidelity(bf16_index, FIDELITY_BOUND + 1e-6)  # alone within the bound, not with bf16 queries
    with pytest.raises(ApiError, match="too far from this server's queries"):
        resources.reload_index()
    assert resources.store.live.name == live
