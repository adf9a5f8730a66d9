"""Uploaded photos: kept in memory (selfies and search photos must never touch the disk), then decoded.

Werkzeug spools multipart files larger than 500 KB to a temporary file by default; this request class
keeps every part in RAM instead. The body size is bounded by ``MAX_CONTENT_LENGTH``.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Request
from flask.json.provider import DefaultJSONProvider
from PIL import Image
from werkzeug.datastructures import FileStorage

from app.api_requests import Crop
from app.errors import ApiError
from vision.images import ImageLimits, load_image


class InMemoryRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class DepthSafeJSON(DefaultJSONProvider):
    """A JSON body nested thousands deep makes Python's parser raise RecursionError, which werkzeug does not
    treat as bad JSON (it catches ValueError): the request would end in a 500 instead of a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def form_photo(form: Any) -> FileStorage:
    """The ``image`` of a validated upload form.  :raise ApiError: missing_image when the body was no form."""
    if form is None or form.image is None:  # a JSON, text or empty body: spectree validated no form
        raise ApiError("missing_image", "Upload a photo in the multipart field 'image'.")
    return form.image


def uploaded_bytes(upload: FileStorage) -> bytes:
    """The bytes of an uploaded file, read into memory (never spooled to disk: see ``InMemoryRequest``).

    :raise ApiError: empty_image for a file of 0 bytes.
    """
    data = upload.read()
    if not data:
        raise ApiError("empty_image", f"The uploaded file in {upload.name or 'image'!r} is empty.")
    return data


def uploaded_image(upload: FileStorage, limits: ImageLimits) -> Image.Image:
    """The uploaded photo, decoded by the one safe loader.

    :raise ApiError: empty_image.  :raise vision.images.ImageError: for a bad image.
    """
    return load_image(uploaded_bytes(upload), limits)


def crop_photo(image: Image.Image, crop: Crop) -> Image.Image:
    """The part of an upright photo a search's ``crop`` keeps.  :raise ApiError: when the box lies outside it."""
    if crop.x >= image.width or crop.y >= image.height:
        raise ApiError("invalid_parameter", f"crop starts outside the {image.width}x{image.height} image.")
    box = (crop.x, crop.y, min(crop.x + crop.width, image.width), min(crop.y + crop.height, image.height))
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        raise ApiError("invalid_parameter", "crop is smaller than 8x8 pixels inside the image.")
    return image.crop(box)
