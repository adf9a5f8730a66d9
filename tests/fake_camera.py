"""A fake camera for Chromium: a Y4M clip of a real face (skimage's astronaut) that moves and zooms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

BACKDROP = (96, 110, 124)
FACE_CROP = (95, 15, 335, 255)  # the astronaut's head and shoulders, so the face fills a phone's selfie view


def face_frames(count: int = 30, size: tuple[int, int] = (640, 480)) -> list[Image.Image]:
    """``count`` RGB frames: the astronaut photo over a plain backdrop, drifting sideways and zooming a little."""
    from skimage import data

    face = Image.fromarray(data.astronaut()).crop(FACE_CROP)
    width, height = size
    frames = []
    for index in range(count):
        phase = 2 * math.pi * index / count
        side = int(height * (0.88 + 0.06 * math.sin(phase)))
        scaled = face.resize((side, side), Image.LANCZOS)
        frame = Image.new("RGB", size, BACKDROP)
        frame.paste(scaled, ((width - side) // 2 + int(24 * math.sin(phase)), (height - side) // 2))
        frames.append(frame)
    return frames


def write_y4m(path: Path, frames: list[Image.Image], fps: int = 15) -> Path:
    """Frames as a YUV4MPEG2 file in 4:2:0, the format --use-file-for-fake-video-capture reads."""
    width, height = frames[0].size
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            y, cb, cr = (np.asarray(plane) for plane in frame.convert("YCbCr").split())
            out.write(b"FRAME\n")
            out.write(y.tobytes())
            for chroma in (cb, cr):
                half = Image.fromarray(chroma).resize((width // 2, height // 2), Image.BILINEAR)
                out.write(np.asarray(half).tobytes())
    return path
