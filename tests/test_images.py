"""The image loader: every family of bad input is refused with its own typed error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, gradient_image, png_with_declared_size, zip_bytes
from vision.images import (
    CorruptImage,
    EmptyImage,
    ImageLimits,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedImageType,
    load_image,
)


def test_plain_jpeg_loads_as_rgb():
    image = load_image(encode(gradient_image(), "JPEG"))
    assert image.mode == "RGB" and image.size == (96, 64)


def test_empty_input_is_refused():
    with pytest.raises(EmptyImage):
        load_image(b"")


@pytest.mark.parametrize("payload", [
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    b"just some text, definitely not a picture\n" * 10,
    b"<html><body><img src=x onerror=alert(1)></body></html>",
], ids=["svg", "pdf", "text", "html"])
def test_non_images_are_unsupported(payload):
    with pytest.raises(UnsupportedImageType):
        load_image(payload)


def test_zip_is_unsupported():
    with pytest.raises(UnsupportedImageType):
        load_image(zip_bytes())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_corrupt(fmt):
    data = encode(gradient_image(256, 256), fmt)
    with pytest.raises(CorruptImage):
        load_image(data[: len(data) // 2])


def test_garbage_after_valid_magic_is_corrupt():
    data = encode(gradient_image(), "PNG")
    with pytest.raises((CorruptImage, UnsupportedImageType)):
        load_image(data[:16] + b"\x00" * 64)


def test_byte_limit():
    data = encode(gradient_image(), "PNG")
    with pytest.raises(ImageTooLarge, match="bytes"):
        load_image(data, ImageLimits(max_bytes=len(data) - 1))


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLarge, match="pixels"):
        load_image(png_with_declared_size(30000, 30000))


def test_pixel_limit_is_a_setting():
    data = encode(gradient_image(100, 100), "PNG")
    with pytest.raises(ImageTooLarge):
        load_image(data, ImageLimits(max_pixels=99 * 99))
    assert load_image(data, ImageLimits(max_pixels=100 * 100)).size == (100, 100)


@pytest.mark.parametrize("size", [(1, 1), (200, 8)])
def test_too_small_images_are_refused(size):
    with pytest.raises(ImageTooSmall):
        load_image(encode(Image.new("RGB", size), "PNG"))


def test_rgba_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 32))
    out = np.asarray(load_image(encode(rgba, "PNG")))
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[0, 31]) == (255, 255, 255)


def test_palette_with_transparency():
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([10, 200, 30] + [0, 0, 0] * 255)
    palette.info["transparency"] = 1
    palette.paste(1, (0, 0, 16, 32))
    out = np.asarray(load_image(encode(palette, "PNG", transparency=1)))
    assert tuple(out[0, 31]) == (10, 200, 30)
    assert tuple(out[0, 0]) == (255, 255, 255)


def test_la_mode():
    la = Image.new("LA", (32, 32), (100, 255))
    assert tuple(np.asarray(load_image(encode(la, "PNG")))[5, 5]) == (100, 100, 100)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red ink
    r, g, b = np.asarray(load_image(encode(cmyk, "JPEG", quality=95)))[16, 16]
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_greyscale_keeps_its_range():
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    image = Image.fromarray(values)
    out = np.asarray(load_image(encode(image, "PNG")))[..., 0]
    assert out.min() == 0 and out.max() == 255
    assert 100 < out[32, 32] < 156  # mid-grey stays mid-grey, not clipped to white


def test_one_bit_image():
    bilevel = Image.new("1", (32, 32), 1)
    assert tuple(np.asarray(load_image(encode(bilevel, "PNG")))[0, 0]) == (255, 255, 255)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (32, 32), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = np.asarray(load_image(buffer.getvalue()))[16, 16]
    assert r > 200 and b < 50


@pytest.mark.parametrize("orientation, sensor_rotation", [(3, 180), (6, 90), (8, -90)])
def test_exif_orientation_comes_out_upright(orientation, sensor_rotation):
    upright = gradient_image(96, 64)
    # What a phone stores: the pixels as the sensor saw them, plus the tag saying how to turn them.
    stored = upright.rotate(sensor_rotation, expand=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.size == upright.size
    difference = np.abs(np.asarray(out, np.int16) - np.asarray(upright, np.int16)).mean()
    assert difference < 6


def test_reduced_decode_keeps_enough_pixels():
    data = encode(gradient_image(1600, 1200), "JPEG")
    image = load_image(data, max_side=224)
    assert min(image.size) >= 224 and image.size[0] < 1600


# Phones' own formats: iPhones store HEIC, newer Androids and browsers AVIF. pillow-heif makes HEIC here;
# Pillow writes AVIF itself.
PHONE_FORMATS = ["HEIF", "AVIF"]


def phone_photo(image: Image.Image, fmt: str, **save_args) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()  # the encoder; load_image registers the decoder on its own
    return encode(image, fmt, quality=92, **save_args)


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_phone_formats_load(fmt):
    data = phone_photo(gradient_image(120, 80), fmt)
    out = load_image(data)
    assert out.mode == "RGB" and out.size == (120, 80)
    difference = np.abs(np.asarray(out, np.int16) - np.asarray(gradient_image(120, 80), np.int16)).mean()
    assert difference < 8


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
@pytest.mark.parametrize("orientation, sensor_rotation", [(6, 90), (8, -90)])
def test_phone_formats_come_out_upright(fmt, orientation, sensor_rotation):
    upright = gradient_image(96, 64)
    stored = upright.rotate(sensor_rotation, expand=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image(phone_photo(stored, fmt, exif=exif.tobytes()))
    assert out.size == upright.size
    difference = np.abs(np.asarray(out, np.int16) - np.asarray(upright, np.int16)).mean()
    assert difference < 8


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_phone_formats_keep_the_pixel_limit(fmt):
    # a flat 2000x1500 picture compresses to a few hundred bytes: the shape of a decompression bomb
    data = phone_photo(Image.new("RGB", (2000, 1500), (200, 40, 60)), fmt)
    assert len(data) < 20_000
    with pytest.raises(ImageTooLarge, match="pixels"):
        load_image(data, ImageLimits(max_pixels=1_000_000))
    with pytest.raises(ImageTooLarge, match="bytes"):
        load_image(data, ImageLimits(max_bytes=len(data) - 1))


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_truncated_phone_formats_are_corrupt(fmt):
    data = phone_photo(gradient_image(256, 256), fmt)
    with pytest.raises((CorruptImage, UnsupportedImageType)):
        load_image(data[: len(data) // 2])


def test_unsupported_message_lists_the_phone_formats():
    with pytest.raises(UnsupportedImageType, match="HEIC/HEIF or AVIF"):
        load_image(b"%PDF-1.4 not a photo")
