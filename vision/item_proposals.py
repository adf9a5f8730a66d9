"""Class-agnostic boxes that may hold one item of a busy photo, best first (shop the look).

No detector weights can be shipped, so candidates come from low-level grouping: OpenCV's selective search
(Uijlings et al., "Selective Search for Object Recognition", IJCV 2013) proposes boxes from a
hierarchical merge of Felzenszwalb-Huttenlocher segments, and each box is ranked by *superpixel
straddling* (Alexe, Deselaers & Ferrari, "Measuring the objectness of image windows", TPAMI 2012): a box
that cuts through few segments outlines a whole thing. Only the best few are embedded, so this ranking
is what keeps shop the look within a few forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from vision.face import Box

WORK_SIDE = 128             # proposals are found on a copy this long: ~25 ms; boxes stay within a few pixels
SEARCH_K = 150              # selective search's segmentation scale (bigger: fewer, larger base segments)
SEGMENT_K, SEGMENT_SIGMA, SEGMENT_MIN = 200, 0.8, 30  # the superpixels that boxes are scored against
MIN_AREA, MAX_AREA = 0.015, 0.6  # of the photo: smaller is a detail, larger is the whole scene again
MAX_ASPECT = 4.0
SAME_BOX = 0.6              # proposals overlapping more than this (IoU) are one candidate


@dataclass(frozen=True)
class Proposal:
    box: Box           # in the photo's pixels
    objectness: float  # superpixel straddling in [0, 1]


def propose_regions(image: Image.Image, limit: int) -> list[Proposal]:
    """At most ``limit`` candidate boxes of an RGB photo, most object-like first."""
    scale = WORK_SIDE / max(image.size)
    small = image if scale >= 1 else image.resize((max(1, round(image.width * scale)),
                                                   max(1, round(image.height * scale))), Image.BILINEAR)
    scale = small.width / image.width
    pixels = np.ascontiguousarray(np.asarray(small.convert("RGB"))[:, :, ::-1])  # OpenCV wants BGR
    boxes = plausible_boxes(_selective_search(pixels), small.width, small.height)
    if len(boxes) == 0:
        return []
    scores = straddling_scores(_superpixels(pixels), boxes)
    kept = non_max_suppression(boxes, scores, SAME_BOX, limit)
    return [Proposal(Box(*(float(v) / scale for v in boxes[i])), float(scores[i])) for i in kept]


def plausible_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(x, y, w, h) rows of a size and shape an item can have, duplicates removed."""
    boxes = np.unique(np.asarray(boxes, dtype=np.int64).reshape(-1, 4), axis=0)
    w, h = boxes[:, 2], boxes[:, 3]
    area = (w * h) / float(width * height)
    aspect = np.maximum(w, h) / np.maximum(np.minimum(w, h), 1)
    return boxes[(area >= MIN_AREA) & (area <= MAX_AREA) & (aspect <= MAX_ASPECT)]


def straddling_scores(labels: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """1 - sum over segments of min(pixels outside, pixels inside) / box area, for each (x, y, w, h)."""
    count = int(labels.max()) + 1
    totals = np.bincount(labels.ravel(), minlength=count)
    scores = np.empty(len(boxes))
    for i, (x, y, w, h) in enumerate(boxes):
        inside = np.bincount(labels[y:y + h, x:x + w].ravel(), minlength=count)
        scores[i] = 1.0 - np.minimum(inside, totals - inside).sum() / float(w * h)
    return scores


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, overlap: float, limit: int) -> list[int]:
    """Indices of the best-scoring boxes, skipping any that overlaps a kept one by more than ``overlap``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    kept: list[int] = []
    for index in np.argsort(-np.asarray(scores), kind="stable"):
        if len(kept) >= limit:
            break
        if not kept or box_iou(boxes[index], boxes[kept]).max() <= overlap:
            kept.append(int(index))
    return kept


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (x, y, w, h) with each row of ``others``."""
    left = np.maximum(box[0], others[:, 0])
    top = np.maximum(box[1], others[:, 1])
    right = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    bottom = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    overlap = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = box[2] * box[3] + others[:, 2] * others[:, 3] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-9), 0.0)


def _selective_search(bgr: np.ndarray) -> np.ndarray:
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(bgr)
    search.switchToSingleStrategy(SEARCH_K)
    return search.process()


def _superpixels(bgr: np.ndarray) -> np.ndarray:
    segmenter = cv2.ximgproc.segmentation.createGraphSegmentation(SEGMENT_SIGMA, SEGMENT_K, SEGMENT_MIN)
    return segmenter.processImage(bgr)
