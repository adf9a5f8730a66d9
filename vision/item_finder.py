"""Which candidate boxes of a busy photo are items to shop: faces out, catalog evidence in (shop the look).

A box is an item when its best catalog match is closer than the whole photo's: a crop around a dress
matches the dress far better than the street around it does, while a crop of pavement matches nothing
better than the whole scene. That gain is the item's score; overlapping boxes keep the best one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from vision.face import Box
from vision.item_proposals import non_max_suppression, propose_regions

FACE_GROW = 1.3


@dataclass(frozen=True)
class ItemSettings:
    candidates: int = 6     # boxes embedded per photo (one batched forward pass each)
    max_items: int = 6
    min_gain: float = 0.0   # how much closer than the whole photo an item's best match must be
    same_item: float = 0.3  # items overlapping more than this (IoU) are one item
    face_share: float = 0.4  # a box this much covered by a face is the face, not a product


def candidate_boxes(image: Image.Image, settings: ItemSettings) -> list[Box]:
    """The boxes worth embedding, most object-like first."""
    return [proposal.box for proposal in propose_regions(image, settings.candidates)]


def without_faces(boxes: Sequence[Box], faces: Sequence[Box], settings: ItemSettings) -> list[int]:
    """Indices of the boxes that are not mostly a face: a whole person is an outfit, a head is not a product.

    Face detectors box the eyebrows to the chin; grown by ``FACE_GROW`` the box also takes the hair and ears
    that a box around a head holds.
    """
    grown = [_grown(face, FACE_GROW) for face in faces]
    return [index for index, box in enumerate(boxes) if all(_covered(box, face) < settings.face_share
                                                            for face in grown)]


def pick_items(boxes: Sequence[Box], gains: Sequence[float], settings: ItemSettings) -> list[int]:
    """Indices of the items to show: a gain above ``min_gain``, best first, one box per item, capped."""
    gains = np.asarray(gains, dtype=np.float64)
    worthy = [index for index in range(len(boxes)) if gains[index] > settings.min_gain]
    if not worthy:
        return []
    rows = np.array([[boxes[i].x, boxes[i].y, boxes[i].width, boxes[i].height] for i in worthy])
    kept = non_max_suppression(rows, gains[worthy], settings.same_item, settings.max_items)
    return [worthy[i] for i in kept]


def crop(image: Image.Image, box: Box) -> Image.Image:
    left, top = max(0, round(box.x)), max(0, round(box.y))
    right = min(image.width, max(left + 1, round(box.x + box.width)))
    bottom = min(image.height, max(top + 1, round(box.y + box.height)))
    return image.crop((left, top, right, bottom))


def _grown(box: Box, factor: float) -> Box:
    width, height = box.width * factor, box.height * factor
    return Box(box.x - (width - box.width) / 2, box.y - (height - box.height) / 2, width, height)


def _covered(box: Box, face: Box) -> float:
    """Share of ``box``'s area inside ``face``."""
    return box.overlap(face) / box.area if box.area > 0 else 0.0
