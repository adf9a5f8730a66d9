"""The only place where untrusted bytes become pixels.

Every upload (search photo, selfie) and every catalog image goes through :func:`load_image`, so the
limits, the format allow-list and the EXIF/mode normalisation are enforced in exactly one spot.
"""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Raster formats a phone, a browser or a shop platform produces (HEIF: iPhone photos, through pillow-heif;
# AVIF: Pillow's own decoder). Anything else (SVG, PDF, EPS, ICO tricks, PSD...) is refused before
# decoding, because exotic decoders are where the parser bugs live.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")  # JPEG's opener also yields MPO
FORMAT_NAMES = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF"


class ImageError(ValueError):
    """An image the service refuses; ``code`` is the stable error code the API reports."""

    code = "invalid_image"


class EmptyImage(ImageError):
    code = "empty_image"


class UnsupportedImageType(ImageError):
    code = "unsupported_media_type"


class CorruptImage(ImageError):
    code = "invalid_image"


class ImageTooLarge(ImageError):
    """Too many bytes or too many pixels (a decompression bomb is the latter)."""

    code = "image_too_large"


class ImageTooSmall(ImageError):
    code = "image_too_small"


@dataclass(frozen=True)
class ImageLimits:
    """Bounds applied to every decoded image; the defaults suit phone photos and catalog shots."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 16


def load_image(data: bytes, limits: ImageLimits = ImageLimits(), *, max_side: int | None = None) -> Image.Image:
    """Decode ``data`` into an upright RGB image.

    ``max_side`` lets callers that only need a small picture (the CLIP preprocessor) ask JPEG for a
    reduced-scale decode, which is several times faster; the result may then be smaller than the
    original but never smaller than ``max_side`` on its short side unless the original is.

    :raise ImageError: (a subclass naming the problem) when the bytes are not an acceptable image.
    """
    if not data:
        raise EmptyImage("The image is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"The image is {len(data):,} bytes; the limit is {limits.max_bytes:,}.")
    image = _open_checked(data, limits)
    if max_side is not None and image.format in ("JPEG", "MPO"):
        image.draft("RGB", (max_side, max_side))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            image.seek(0)  # first frame of an animation
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = to_rgb(upright)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"The image could not be decoded ({_reason(exc)}).") from exc
    _refuse_truncation(caught)
    if min(rgb.size) < limits.min_side:
        raise ImageTooSmall(
            f"The image is {rgb.width}x{rgb.height} pixels; each side must be at least {limits.min_side}."
        )
    return rgb


def upright_size(data: bytes, decoded: Image.Image, limits: ImageLimits = ImageLimits()) -> tuple[int, int]:
    """(width, height) that ``load_image`` gives ``data`` at full size, when ``decoded`` came from a reduced
    decode: for mapping boxes back to the shopper's pixels.  :raise ImageError:

    The header's size, turned a quarter when the decoded (EXIF-rotated) picture has the other shape: no
    second reading of the EXIF block, so the two can never disagree.
    """
    width, height = _open_checked(data, limits).size
    straight = abs(width / decoded.width - height / decoded.height)
    turned = abs(height / decoded.width - width / decoded.height)
    return (width, height) if straight <= turned else (height, width)


def _open_checked(data: bytes, limits: ImageLimits) -> Image.Image:
    """Read only the header: format and size are checked before any pixel is decoded."""
    _register_heif()
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Pillow's own bomb guard is a process-wide setting; ours is the per-call pixel limit below.
            warnings.simplefilter("always")
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        raise UnsupportedImageType(
            f"The file is not a supported image; send a {FORMAT_NAMES} photo."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"The image has too many pixels ({_reason(exc)}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage(f"The image header is damaged ({_reason(exc)}).") from exc
    _refuse_truncation(caught)
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels:,} pixels in all."
        )
    return image


@functools.cache
def _register_heif() -> None:
    """pillow-heif's opener, registered on first use. It applies the HEIF rotation (irot/imir) while
    decoding and resets the EXIF orientation to 1, so ``exif_transpose`` below never turns a photo twice."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _refuse_truncation(caught: list[warnings.WarningMessage]) -> None:
    """Some decoders (TIFF) only *warn* about missing data and hand back partial pixels: corrupt.

    Other warnings (a slightly broken EXIF block, common from phones) do not spoil the pixels.
    """
    for warning in caught:
        text = str(warning.message)
        if "runcated" in text or "larger than file" in text:
            raise CorruptImage(f"The image is truncated ({_reason(warning.message)}).")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white like a web page."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16-bit (or float) greyscale to 8 bits; Pillow's own conversion clips it to white."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        top = 65535.0
    else:
        top = float(values.max()) if values.size and values.max() > 255 else 255.0
    grey = np.clip(values / max(top, 1.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


def _reason(exc: BaseException | Warning) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
