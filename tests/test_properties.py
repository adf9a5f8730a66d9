"""Property-based tests: the request models and the image loader never fail in an unplanned way."""

from __future__ import annotations

import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage

from app.api_requests import MAX_K, Filters, SearchOptions, TryOnForm
from app.api_spec import api_error
from app.errors import ApiError
from app.look_params import look_layers
from vision.images import ImageError, ImageLimits, load_image

TEXT = st.text(max_size=40) | st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,5})?(e[+-]?[0-9]{1,4})?", fullmatch=True)


def parse(model, data):
    """Validate as the API does: a model instance, or the ApiError the client would get."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise api_error(error) from None


@given(TEXT)
def test_k_is_in_range_or_a_400(raw):
    try:
        k = parse(Filters, {"k": raw}).k
    except ApiError as error:
        assert error.code == "invalid_parameter"
    else:
        assert 1 <= k <= MAX_K


@given(TEXT)
def test_prices_are_finite_and_non_negative_or_a_400(raw):
    try:
        price = parse(Filters, {"min_price": raw}).min_price
    except ApiError as error:
        assert error.code == "invalid_parameter"
    else:
        assert price is None or (np.isfinite(price) and price >= 0)


@given(TEXT)
def test_fractions_stay_in_zero_one(raw):
    try:
        value = parse(SearchOptions, {"text_weight": raw}).text_weight
    except ApiError as error:
        assert error.code == "invalid_parameter"
    else:
        assert value is None if raw == "" else 0.0 <= value <= 1.0  # empty: absent, the default applies later


@given(TEXT | st.sampled_from(["TRUE", " yes ", "No", "0", "on", "off", ""]))
def test_in_stock_is_a_bool_or_a_400(raw):
    try:
        assert parse(Filters, {"in_stock": raw}).in_stock in ((None,) if raw == "" else (True, False))
    except ApiError as error:
        assert error.code == "invalid_parameter"


@given(st.lists(st.integers(-10**6, 10**6) | st.text(max_size=5), min_size=0, max_size=6).map(
    lambda parts: ",".join(map(str, parts))))
def test_crop_is_a_positive_box_or_a_400(raw):
    try:
        crop = parse(SearchOptions, {"crop": raw}).crop_box
    except ApiError as error:
        assert error.code == "invalid_parameter"
    else:
        assert crop is None or (crop.x >= 0 and crop.y >= 0 and crop.width >= 1 and crop.height >= 1)


@given(st.dictionaries(st.sampled_from(["category", "brand", "product_type", "min_price", "max_price",
                                        "in_stock"]), TEXT))
def test_filters_parse_or_raise_400(args):
    try:
        filters = parse(Filters, args).search_filters()
    except ApiError as error:
        assert error.code == "invalid_parameter"
    else:
        if filters.min_price is not None and filters.max_price is not None:
            assert filters.min_price <= filters.max_price


@given(st.lists(TEXT, min_size=2, max_size=3))
def test_a_repeated_parameter_is_refused_by_name(values):
    try:
        parse(Filters, {"k": values})
    except ApiError as error:
        assert error.code == "invalid_parameter" and "k is given more than once" in error.message
    else:
        raise AssertionError("a repeated k was accepted")


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "color", "finish", "intensity", "product_id", "x"]), children,
                        max_size=4), max_leaves=12)


@given(JSON)
def test_looks_are_layers_or_a_4xx(value):
    from indexer.stores.index_store import UnknownProduct

    def lookup(product_id):
        raise UnknownProduct(product_id)

    try:
        form = parse(TryOnForm, {"image": FileStorage(io.BytesIO(b"x"), "x.jpg"), "looks": json.dumps(value)})
        layers = look_layers(form.looks, lookup, max_looks=8)
    except (ApiError, UnknownProduct):
        pass
    else:
        assert 1 <= len(layers) <= 8 and all(0 <= layer.intensity <= 1 for layer, _ in layers)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_loader_never_crashes_on_arbitrary_bytes(data):
    try:
        image = load_image(data)
    except ImageError:
        return
    assert image.mode == "RGB"


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]),
       size=st.tuples(st.integers(16, 80), st.integers(16, 80)),
       fmt=st.sampled_from(["PNG", "TIFF", "GIF", "WEBP", "BMP", "JPEG"]),
       cut=st.floats(0.0, 1.0))
def test_loader_handles_any_mode_and_any_truncation(mode, size, fmt, cut):
    image = Image.new(mode, size)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        return  # this format cannot store this mode; nothing to test
    data = buffer.getvalue()
    data = data[: max(1, int(len(data) * cut))] if cut < 0.95 else data
    try:
        loaded = load_image(data, ImageLimits(min_side=16))
    except ImageError:
        return
    assert loaded.mode == "RGB" and min(loaded.size) >= 16
