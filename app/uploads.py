"""Keep uploads in memory: selfies and search photos must never touch the disk.

Werkzeug spools multipart files larger than 500 KB to a temporary file by default; this request class
keeps every part in RAM instead. The body size is bounded by ``MAX_CONTENT_LENGTH``.
"""

from __future__ import annotations

import io

from flask import Request


class InMemoryRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()
