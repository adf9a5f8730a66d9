"""Shop the look: a photo search that also finds each product in a busy photo (``detect=true``).

One batch of forward passes embeds the whole photo and the candidate boxes together; MediaPipe looks for
faces in the request thread meanwhile, so they cost no extra wait. Every candidate then runs an ordinary
filtered search, and ``vision.item_finder`` keeps the boxes whose best match beats the whole photo's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np
from PIL import Image

from app.api_requests import SearchQuery
from app.errors import ApiError
from app.metrics import metrics
from app.resources import resources
from app.uploads import crop_photo
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import SearchHit
from vision.batching import ClientGone, Overloaded
from vision.face import Box
from vision.images import ImageLimits, load_image, upright_size
from vision.item_finder import ItemSettings, candidate_boxes, crop, pick_items, without_faces

DETECT_SIDE = 1024  # JPEGs are decoded reduced to about this: boxes found at 128 px need no more
Mix = Callable[[np.ndarray], np.ndarray]


class ImageEncoder(Protocol):
    """``vision.batching.QueryBatcher``'s side that shop the look uses."""

    def submit_images(self, images: Sequence[Image.Image],
                      still_wanted: Callable[[], bool] = ...) -> Callable[[], np.ndarray]: ...


class Searcher(Protocol):
    def search(self, vector: np.ndarray, k: int, filters: SearchFilters = ..., collapse: bool = ...) -> list[SearchHit]:
        ...


@dataclass(frozen=True)
class FoundItem:
    box: Box        # in the pixels of the picture searched
    score: float    # how much closer its best match is than the whole picture's
    hits: list[SearchHit]


@dataclass(frozen=True)
class Look:
    hits: list[SearchHit]  # the whole picture's results
    items: list[FoundItem]


def find_look(image: Image.Image, encoder: ImageEncoder, store: Searcher, faces: Callable[[Image.Image], list[Box]],
              settings: ItemSettings, k: int, filters: SearchFilters = SearchFilters(), mix: Mix = lambda v: v,
              still_wanted: Callable[[], bool] = lambda: True, collapse: bool = True) -> Look:
    """The picture's own results and the items in it.  :raise Overloaded, ClientGone:

    ``mix`` turns an image vector into the query vector (mixing in a text), for the picture and each item.
    """
    boxes = candidate_boxes(image, settings)
    pending = encoder.submit_images([image, *(crop(image, box) for box in boxes)], still_wanted)
    face_boxes = faces(image)  # while the model works
    vectors = pending()
    whole = store.search(mix(vectors[0]), k, filters, collapse)
    kept = without_faces(boxes, face_boxes, settings)
    searched = [store.search(mix(vectors[1 + index]), k, filters, collapse) for index in kept]
    best_whole = whole[0].score if whole else -1.0
    gains = [hits[0].score - best_whole if hits else -np.inf for hits in searched]
    chosen = pick_items([boxes[index] for index in kept], gains, settings)
    return Look(whole, [FoundItem(boxes[kept[i]], float(gains[i]), searched[i]) for i in chosen])


def shop_the_look(query: SearchQuery, mix: Mix, still_wanted: Callable[[], bool]) -> Look:
    """``find_look`` on an uploaded photo, its boxes in the photo's upright pixels.  :raise ApiError:"""
    state = resources()
    image, scale, offset = _decode(query, state.settings.image_limits())
    try:
        look = find_look(image, state.queries, state.store, _faces_big_enough_to_matter,
                         state.settings.item_settings(), query.k, query.filters, mix, still_wanted, query.collapse)
    except (Overloaded, ClientGone) as exc:
        raise ApiError("overloaded", str(exc), {"Retry-After": "2"}) from None
    metrics().look_items.observe(len(look.items))
    items = [FoundItem(photo_box(item.box, scale, offset), item.score, item.hits) for item in look.items]
    return Look(look.hits, items)


def _faces_big_enough_to_matter(image: Image.Image) -> list[Box]:
    """Faces of a size that could fill a candidate box (which is >= 1.5 % of the photo): no small-face tiles."""
    return resources().landmarker.face_boxes(image, small_faces=False)


def photo_box(box: Box, scale: tuple[float, float], offset: tuple[int, int]) -> Box:
    """A box found on a reduced (and maybe cropped) decode, in whole pixels of the photo."""
    left, top = round(box.x * scale[0]) + offset[0], round(box.y * scale[1]) + offset[1]
    return Box(left, top, max(1, round(box.width * scale[0])), max(1, round(box.height * scale[1])))


def _decode(query: SearchQuery, limits: ImageLimits) -> tuple[Image.Image, tuple[float, float], tuple[int, int]]:
    """The picture boxes are found on, its scale to the photo's pixels and its offset (a crop's corner)."""
    started = time.perf_counter()
    if query.crop is not None:  # crop coordinates are the full-size photo's: decode it full size
        image = load_image(query.image, limits)
        metrics().decode.observe(time.perf_counter() - started)
        return crop_photo(image, query.crop), (1.0, 1.0), (query.crop.x, query.crop.y)
    image = load_image(query.image, limits, max_side=DETECT_SIDE)
    width, height = upright_size(query.image, image, limits)
    metrics().decode.observe(time.perf_counter() - started)
    return image, (width / image.width, height / image.height), (0, 0)
