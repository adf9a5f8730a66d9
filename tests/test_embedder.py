"""The embedder loads a checkpoint exactly as production does and matches open_clip's own output."""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import numpy as np
import open_clip
import pytest
import torch

from tests.conftest import gradient_image
from tests.tiny_model import write_tiny_model
from vision import devices
from vision.embedder import Embedder, EmbedderConfig
from vision.weights import UnknownModel, WeightsNotFound


@pytest.fixture(scope="module")
def reference(tiny_model_files):
    """open_clip's own model and preprocessing, built independently of Embedder."""
    config_path, checkpoint = tiny_model_files
    model, _, preprocess = open_clip.create_model_and_transforms(config_path.stem, pretrained=str(checkpoint))
    return model.eval(), preprocess, open_clip.get_tokenizer(config_path.stem)


@pytest.fixture(scope="module")
def fp32_embedder(tiny_config):
    return Embedder(replace(tiny_config, precision="fp32"))


def test_image_embeddings_equal_open_clip(fp32_embedder, reference):
    embedder = fp32_embedder
    model, preprocess, _ = reference
    images = [gradient_image(90 + 7 * i, 70 + 3 * i, seed=i) for i in range(6)]  # more than one batch
    ours = embedder.encode_images(images)
    with torch.no_grad():
        theirs = model.encode_image(torch.stack([preprocess(image) for image in images]))
    theirs = (theirs / theirs.norm(dim=-1, keepdim=True)).numpy()
    assert ours.dtype == np.float32 and ours.shape == (6, embedder.dim)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_text_embeddings_equal_open_clip(fp32_embedder, reference):
    embedder = fp32_embedder
    model, _, tokenizer = reference
    texts = ["red satin dress", "matte lipstick", "", "sneakers", "ünïcödé ✨ text"]
    ours = embedder.encode_texts(texts)
    with torch.no_grad():
        theirs = model.encode_text(tokenizer(texts))
    theirs = (theirs / theirs.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_request_threads_prepare_exactly_the_tensor_open_clip_makes(fp32_embedder, reference, mode):
    """Request threads run the whole preprocessing (its ToTensor + Normalize in numpy): bit for bit open_clip's,
    so the server's queries meet the indexer's vectors exactly."""
    _, preprocess, _ = reference
    images = [gradient_image(90 + 7 * i, 70 + 3 * i, seed=i).convert(mode) for i in range(3)]
    prepared = [fp32_embedder.prepare_image(image) for image in images]
    assert all(isinstance(item, torch.Tensor) for item in prepared)
    for image, item in zip(images, prepared):
        assert torch.equal(item, preprocess(image)) and torch.equal(fp32_embedder.preprocess(image), preprocess(image))
    np.testing.assert_array_equal(fp32_embedder.encode_prepared(prepared), fp32_embedder.encode_images(images))


def test_vectors_have_unit_norm(embedder):
    vectors = np.concatenate([embedder.encode_images([gradient_image()]), embedder.encode_texts(["shoe"])])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_batches(embedder):
    assert embedder.encode_images([]).shape == (0, embedder.dim)
    assert embedder.encode_texts([]).shape == (0, embedder.dim)


def test_model_id_names_the_weights(tmp_path, embedder, tiny_config):
    assert embedder.model_id.startswith("shoplens-tiny@")
    assert Embedder(tiny_config).model_id == embedder.model_id  # stable across loads
    config_path, other_weights = write_tiny_model(tmp_path, seed=1)
    other = Embedder(EmbedderConfig(model=str(config_path), pretrained=str(other_weights), device="cpu"))
    assert other.model_id != embedder.model_id


def test_registered_name_works_like_the_config_path(tiny_config, embedder):
    by_name = Embedder(EmbedderConfig(model="shoplens-tiny", pretrained=tiny_config.pretrained, device="cpu"))
    np.testing.assert_allclose(by_name.encode_texts(["a"]), embedder.encode_texts(["a"]), atol=1e-6)


def test_missing_checkpoint_file_names_the_setting(tiny_config, tmp_path):
    with pytest.raises(WeightsNotFound, match="SHOPLENS_PRETRAINED"):
        Embedder(EmbedderConfig(model=tiny_config.model, pretrained=str(tmp_path / "nope.pt"), device="cpu"))


def test_no_weights_at_all_is_an_error_not_random_weights(tiny_config):
    with pytest.raises(WeightsNotFound):
        Embedder(EmbedderConfig(model=tiny_config.model, pretrained="", device="cpu"))


def test_unknown_tag_lists_available_tags():
    with pytest.raises(WeightsNotFound, match="laion2b_s34b_b79k"):
        Embedder(EmbedderConfig(model="ViT-B-32", pretrained="no-such-tag", device="cpu"))


def test_uncached_tag_fails_fast_without_download(tmp_path):
    with pytest.raises(WeightsNotFound, match="fetch-model"):
        Embedder(EmbedderConfig(model="ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu",
                                cache_dir=str(tmp_path), allow_download=False))


@pytest.mark.parametrize("model", ["ViT-Nope-99", "/does/not/exist.json"])
def test_unknown_model(model):
    with pytest.raises(UnknownModel):
        Embedder(EmbedderConfig(model=model, pretrained="x.pt", device="cpu"))


def test_bad_config_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(UnknownModel, match="not valid JSON"):
        Embedder(EmbedderConfig(model=str(bad), pretrained="x.pt", device="cpu"))


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps(cuda, mps, expected):
    with mock.patch.object(torch.cuda, "is_available", return_value=cuda), \
            mock.patch.object(devices, "_mps_available", return_value=mps):
        assert devices.resolve_device("auto").type == expected


def test_named_device_that_is_absent_is_an_error():
    with mock.patch.object(torch.cuda, "is_available", return_value=False):
        with pytest.raises(devices.DeviceUnavailable):
            devices.resolve_device("cuda")
    with pytest.raises(ValueError, match="Available"):
        devices.resolve_device("tpu")


def test_batch_size_adapts_to_device():
    assert devices.default_batch_size(torch.device("cuda")) > devices.default_batch_size(torch.device("cpu"))
