"""Reading an uploaded image: size limit while reading, multipart or raw body, checked decoding.

Every problem becomes an HttpError with a status code and a message naming what was wrong:
413 (body or image too large), 400 (empty, corrupt, truncated or not an image), 422 (a form
without a file field).
"""
from __future__ import annotations

from typing import Any

import numpy as np

FILE_FIELDS = ("file", "image", "upload")
RAW_BODY = "(request body)"


class HttpError(Exception):
    """An error answered as JSON: {"error": {"status", "type", "message"}}."""

    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = int(status), kind, message
        self.headers = headers or {}

    def to_dict(self) -> dict:
        return {"error": {"status": self.status, "type": self.kind, "message": self.message}}


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refusing (413) anything above ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, at_least=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, at_least: bool = False) -> HttpError:
    return HttpError(413, "PayloadTooLarge",
                     f"upload is {'more than ' if at_least else ''}{size} bytes, above the limit of "
                     f"{limit} bytes ({limit / 2**20:.1f} MiB); send a smaller image or raise "
                     "--max-upload-mb")


async def extract_image(request: Any, body: bytes) -> tuple[bytes, str]:
    """(image bytes, name) from a multipart/form-data body (field 'file' / 'image' / the first
    file) or from a raw body (any other content type)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        return body, RAW_BODY
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def once():
        yield body

    try:
        form = await MultiPartParser(request.headers, once(), max_files=4, max_fields=16).parse()
    except MultiPartException as e:
        raise HttpError(400, "BadMultipart", f"the multipart form could not be parsed: {e}") from e
    files = {k: v for k, v in form.multi_items() if isinstance(v, UploadFile)}
    if not files:
        raise HttpError(422, "MissingFile", f"the form has no file field (fields: "
                        f"{sorted(form.keys()) or 'none'}); send the image as field 'file'")
    key = next((k for k in FILE_FIELDS if k in files), next(iter(files)))
    upload = files[key]
    data = await upload.read()
    await upload.close()
    return data, upload.filename or key


def decode_upload(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """Bytes -> BGR uint8 (H, W, 3); HttpError 400 (bad image) or 413 (too many pixels)."""
    from edgefashion.errors import ImageDecodeError
    from edgefashion.runtime.images import MAX_PIXELS, decode_image, header_size

    name = name if name == RAW_BODY else repr(name)
    if not data:
        raise HttpError(400, "EmptyUpload", f"upload {name} is empty (0 bytes); send an image file")
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise _too_many(size[0], size[1], max_pixels, name)
    try:
        img = decode_image(data, name, max(MAX_PIXELS, max_pixels))
    except ImageDecodeError as e:
        raise HttpError(400, "ImageDecodeError", str(e)) from e
    h, w = img.shape[:2]
    if w * h > max_pixels:
        raise _too_many(w, h, max_pixels, name)
    return img


def _too_many(w: int, h: int, limit: int, name: str) -> HttpError:
    return HttpError(413, "ImageTooLarge", f"image {name} is {w}x{h} = {w * h} pixels, above the "
                     f"limit of {limit}; resize it or raise --max-pixels")
