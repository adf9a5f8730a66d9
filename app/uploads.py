"""Uploaded photos: kept in memory (selfies and search photos must never touch the disk), then decoded.

Werkzeug spools multipart files larger than 500 KB to a temporary file by default; this request class
keeps every part in RAM instead. The body size is bounded by ``MAX_CONTENT_LENGTH``.
"""

from __future__ import annotations

import io
from typing import Mapping

from flask import Request
from PIL import Image
from werkzeug.datastructures import FileStorage

from app.errors import ApiError
from vision.images import ImageLimits, load_image


class InMemoryRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def uploaded_bytes(files: Mapping[str, FileStorage] | None, field: str = "image") -> bytes:
    """The bytes of an uploaded file, read into memory (never spooled to disk: see ``InMemoryRequest``).

    :raise ApiError: missing_image when the field is absent.
    """
    upload = files.get(field) if files else None
    if upload is None:
        raise ApiError("missing_image", f"Upload a photo in the multipart field {field!r}.")
    data = upload.read()
    if not data:
        raise ApiError("empty_image", f"The uploaded file in {field!r} is empty.")
    return data


def uploaded_image(files: Mapping[str, FileStorage] | None, limits: ImageLimits, field: str = "image") -> Image.Image:
    """The uploaded photo, decoded by the one safe loader.

    :raise ApiError: missing_image / empty_image.  :raise vision.images.ImageError: for a bad image.
    """
    return load_image(uploaded_bytes(files, field), limits)
