"""What each endpoint accepts, declared once: these models validate requests and write the OpenAPI
document's parameters and request bodies (``app.api_spec``), so the two cannot drift apart.

A constraint a schema cannot state (the photo must decode, a face must be visible, min_price <= max_price)
is enforced by the view and said in words in the operation's description and its 4xx responses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Json,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from spectree.model_adapter.pydantic_adapter import BaseFile
from werkzeug.datastructures import FileStorage

from app.api_spec import api_error
from app.errors import ApiError
from indexer.sources.catalog import MAX_EXTRA_IMAGES
from indexer.stores.filters import SearchFilters
from indexer.stores.recommend import DEFAULT_DIVERSITY
from indexer.values import NO, YES, parse_yes_no
from vision.images import FORMAT_NAMES
from vision.looks import Finish, ProductType

DEFAULT_K = 20
MAX_K = 100
MAX_QUERY_CHARS = 500
MAX_FILTER_CHARS = 200
DEFAULT_TEXT_WEIGHT = 0.5
MAX_SHADE_MATCHES = 20
MAX_SESSION_IDS = 50  # the page keeps the last 30 interactions; a mobile app may keep a few more
MAX_ID_CHARS = 500
MAX_URL_CHARS = 2000
CROP_PATTERN = r"^\d{1,9},\d{1,9},[1-9]\d{0,8},[1-9]\d{0,8}$"
HEX_PATTERN = r"^\s*#?[0-9A-Fa-f]{6}\s*$"


def _one_upload(value: Any) -> FileStorage:
    if isinstance(value, list):
        raise ValueError("send one file in this field, not several")
    if not isinstance(value, FileStorage):
        raise ValueError("must be a file part of a multipart/form-data body")
    return value


def _yes_no(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("give true or false")  # an empty field was dropped already: spaces are a value
        return parse_yes_no(value)
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{char.lower()}{char.upper()}]" if char.isalpha() else re.escape(char) for char in word)


# The spellings parse_yes_no reads, as a JSON Schema pattern (ECMA regexes have no case-insensitive flag).
YES_NO_PATTERN = r"^\s*(" + "|".join(_any_case(word) for word in sorted(YES | NO)) + r")\s*$"


Upload = Annotated[BaseFile, AfterValidator(_one_upload)]
ResultCount = Annotated[int, Field(ge=1, le=MAX_K, description="Number of results.")]
TextWeight = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False,
                                    description="0: the photo only, 1: the text only.")]
YesNo = Annotated[bool, BeforeValidator(_yes_no), WithJsonSchema(
    {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": YES_NO_PATTERN}]})]
Photo = Field(description=f"The photo: {FORMAT_NAMES}; EXIF orientation is applied. Limits: "
                          "SHOPLENS_MAX_UPLOAD_BYTES bytes, SHOPLENS_MAX_PIXELS pixels, each side at least "
                          "SHOPLENS_MIN_IMAGE_SIDE pixels.")


@dataclass(frozen=True)
class Crop:
    """A box in pixels of the upright (EXIF-corrected) image."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class SearchQuery:
    """A validated search, whatever endpoint it came from."""

    image: bytes | None
    text: str | None
    text_weight: float
    k: int
    filters: SearchFilters
    crop: Crop | None
    detect: bool = False  # shop the look: also find the items in the photo
    collapse: bool = True  # one result per group of variants

class ApiModel(BaseModel):
    # Unknown fields are ignored, as before (cache busters, analytics tags); a typo'd filter does nothing.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Parameters(ApiModel):
    """A query string or a form: an empty field counts as absent, because an HTML form sends its empty inputs
    (``min_price=``). The document says so (``app.api_spec.admit_empty_values``)."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if not (isinstance(value, str) and value == "")}
        return data


class ThumbnailSize(IntEnum):
    S128 = 128
    S256 = 256
    S384 = 384
    S512 = 512
    S768 = 768


class Filters(Parameters):
    """``k`` and the catalog filters shared by every search; absent filters are None."""

    k: ResultCount = DEFAULT_K
    category: str = Field(None, max_length=MAX_FILTER_CHARS, description="Only this category (case-insensitive).")
    brand: str = Field(None, max_length=MAX_FILTER_CHARS, description="Only this brand (case-insensitive).")
    product_type: ProductType = Field(None, description="Only this makeup type.")
    min_price: float = Field(None, ge=0, allow_inf_nan=False, description="Lowest price (at most max_price).")
    max_price: float = Field(None, ge=0, allow_inf_nan=False, description="Highest price.")
    in_stock: YesNo = Field(None, description="Only products in (true) or out of (false) stock; also yes/no, "
                                              "1/0, on/off, y/n in any case.")

    @model_validator(mode="after")
    def _price_range(self) -> Filters:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError("min_price is larger than max_price")
        return self

    def search_filters(self) -> SearchFilters:
        return SearchFilters(category=_blank_is_none(self.category), brand=_blank_is_none(self.brand),
                             product_type=self.product_type.value if self.product_type else None,
                             min_price=self.min_price, max_price=self.max_price, in_stock=self.in_stock)


COLLAPSE_HELP = ("group (default): one result per product, its best-matching variant (colour, size, shade) with "
                 "the others listed in variants; none: every variant is a result of its own.")


class Collapse(StrEnum):
    GROUP = "group"
    NONE = "none"


class ResultOptions(Filters):
    """The filters, and how variants of one product come back."""

    collapse: Collapse = Field(Collapse.GROUP, description=COLLAPSE_HELP)

    @property
    def collapse_variants(self) -> bool:
        return self.collapse != Collapse.NONE


class SearchOptions(ResultOptions):
    """What a photo search takes besides the photo, in the query string or in the form.

    ``k`` and ``text_weight`` have no schema default here: a generated client sends a field's default, and
    one sent in both places is refused, so each place leaves them unset and ``merged_search_options``
    fills the defaults.
    """

    k: ResultCount = Field(None, description=f"Number of results (default {DEFAULT_K}).")
    collapse: Collapse = Field(None, description=COLLAPSE_HELP)
    q: str = Field(None, max_length=MAX_QUERY_CHARS, description='Text to mix in ("but in green").',
                   examples=["but in green"])
    text_weight: TextWeight = Field(None, description=f"0: the photo only, 1: the text only (default "
                                                      f"{DEFAULT_TEXT_WEIGHT}).")
    crop: str = Field(None, pattern=CROP_PATTERN,
                      description="x,y,w,h in pixels of the upright photo; the box must start inside the photo "
                                  "and keep at least 8x8 pixels of it.", examples=["40,60,300,420"])
    image_url: str = Field(None, max_length=MAX_URL_CHARS, pattern=r"^\s*[A-Za-z][A-Za-z0-9+.-]*://\S+\s*$",
                           description="Instead of a photo: a link to a picture, or to a web page whose og:image or "
                                       "twitter:image names one (another shop's product page, a post).",
                           examples=["https://shop.example/products/red-dress"])
    detect: YesNo = Field(None, description="Shop the look: also find the items in the photo (inside crop, if "
                                            "given), each with its box and its own k results (default false).")


    @property
    def text(self) -> str | None:
        return (self.q or "").strip() or None

    @property
    def crop_box(self) -> Crop | None:
        return Crop(*map(int, self.crop.split(","))) if self.crop else None


class TextSearch(SearchOptions):
    """A text search; text_weight, crop, image_url and detect are checked as for a photo search but have nothing to act
    on here (a link is searched with POST)."""

    k: ResultCount = DEFAULT_K
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                   description='Text query ("red satin dress"); not only spaces.',
                   examples=["red satin dress"])


class PhotoSearchForm(SearchOptions):
    image: Upload = Field(None, description=f"{Photo.description} Or send image_url instead.")


def merged_search_options(query: SearchOptions, form: PhotoSearchForm | None) -> SearchOptions:
    """A photo search's fields may come in the query string or in the form, as ``curl -F image=@x 'url?k=5'``
    sends them; the same field in both is refused rather than silently picking one.

    :raise ApiError: invalid_parameter.
    """
    if form is None:  # no form at all: a link in the query string (POST ?image_url=...)
        return SearchOptions.model_validate({"k": DEFAULT_K, "text_weight": DEFAULT_TEXT_WEIGHT,
                                             **query.model_dump(include=query.model_fields_set)})
    in_form = form.model_fields_set - {"image"}
    if both := sorted(query.model_fields_set & in_form):
        raise ApiError("invalid_parameter", f"{', '.join(both)} given both in the query string and in the form.")
    values = {"k": DEFAULT_K, "text_weight": DEFAULT_TEXT_WEIGHT,
              **query.model_dump(include=query.model_fields_set), **form.model_dump(include=in_form)}
    try:  # each half was valid alone; together they can still clash (min_price above max_price)
        return SearchOptions.model_validate(values)
    except ValidationError as error:
        raise api_error(error) from None


ProductId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Weight = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


def _weighted_ids(value: Any) -> Any:
    """A list of ids means weight 1 each; an id listed twice is refused (give it a weight instead)."""
    if isinstance(value, list):
        counts = Counter(item for item in value if isinstance(item, str))
        if twice := [item for item, count in counts.items() if count > 1]:
            raise ValueError(f"{twice[0]!r} is listed more than once; send it once, with a weight if it counts "
                             f"more")
        return {item: 1.0 for item in value} if all(isinstance(item, str) for item in value) else value
    return value


WeightedIds = Annotated[dict[ProductId, Weight], BeforeValidator(_weighted_ids), WithJsonSchema({"anyOf": [
    {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}, "uniqueItems": True,
     "maxItems": MAX_SESSION_IDS},
    {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
     "maxProperties": MAX_SESSION_IDS}]})]


class RecommendBody(Filters):
    """A shopper's session, kept by their browser and sent only with this request.

    A JSON body has types of its own, so they are checked strictly (``false`` is no weight, ``"5"`` no k); the
    makeup type stays a plain string of the enum, and in_stock takes the same yes/no words as everywhere.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    product_type: ProductType = Field(None, strict=False, description="Only this makeup type.")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        """Unlike a form's, a JSON body's "" is a value: ``"in_stock": ""`` is refused, not ignored."""
        return data

    positive: WeightedIds = Field(min_length=1, max_length=MAX_SESSION_IDS, description=(
        "Products the shopper viewed, tapped, tried on or put in the basket: a list of ids (weight 1 each) or "
        f'{{"id": weight}} with weights in (0, 1000]; at most {MAX_SESSION_IDS}.'), examples=[["lip-ruby-matte"]])
    negative: WeightedIds = Field(default_factory=dict, max_length=MAX_SESSION_IDS, description=(
        '"Not for me": products whose look to stay away from, as a list or {"id": weight}.'))
    q: str = Field(None, max_length=MAX_QUERY_CHARS, description='Text to mix in ("but in green").')
    text_weight: TextWeight = DEFAULT_TEXT_WEIGHT
    diversity: float = Field(DEFAULT_DIVERSITY, ge=0, le=1, allow_inf_nan=False, description=(
        "0: the closest products only; higher: fewer near copies (maximal marginal relevance, lambda = "
        "1 - diversity)."))
    skip_unknown: bool = Field(False, description=(
        "Leave out ids the catalog no longer has (listed in the answer's unknown) instead of answering 404 "
        "unknown_product: a browser's history outlives re-indexing."))

    @model_validator(mode="after")
    def _disjoint(self) -> RecommendBody:
        if both := sorted(self.positive.keys() & self.negative.keys()):
            raise ValueError(f"{both[0]!r} is both positive and negative")
        return self

    @property
    def text(self) -> str | None:
        return (self.q or "").strip() or None


class PhotoForm(Parameters):
    image: Upload = Photo


class ProductLook(ApiModel):
    product_id: str = Field(max_length=500, description="A catalog product with a product_type and a shade_hex.")
    intensity: float = Field(1.0, ge=0, le=1, strict=True, description="0: photo unchanged, 1: full shade.")


class ColorLook(ApiModel):
    type: ProductType
    color: str = Field(pattern=HEX_PATTERN, description="#RRGGBB (the # is optional).")
    finish: Finish = Field(None)
    intensity: float = Field(1.0, ge=0, le=1, strict=True, description="0: photo unchanged, 1: full shade.")


def _look_kind(value: Any) -> str:
    """A look naming a product is that product's shade, whatever else it says (as before)."""
    return "product" if isinstance(value, dict) and "product_id" in value or hasattr(value, "product_id") else "color"


Look = Annotated[Annotated[ProductLook, Tag("product")] | Annotated[ColorLook, Tag("color")],
                 Discriminator(_look_kind)]
Faces = Literal["all", "largest"]


class TryOnQuery(Parameters):
    faces: Faces = Field(None, description="Make up every face (all, the default) or only the largest.")


class TryOnForm(TryOnQuery):
    image: Upload = Photo
    looks: Json[Annotated[list[Look], Field(min_length=1)]] = Field(
        description='JSON list of {"product_id", "intensity"?} or {"type", "color": "#RRGGBB", "finish"?, '
                    '"intensity"?}; at most SHOPLENS_MAX_LOOKS (8 by default) layers.',
        examples=['[{"type": "lipstick", "color": "#C41E3A", "finish": "gloss"}]'])


class ShadeMatchQuery(Parameters):
    k: int = Field(5, ge=1, le=MAX_SHADE_MATCHES, description="Number of matching lipsticks.")


class ThumbnailQuery(Parameters):
    size: ThumbnailSize = Field(ThumbnailSize.S384, description="Longest side in pixels.")
    image: int = Field(0, ge=0, le=MAX_EXTRA_IMAGES, description=(
        "Which of the product's photos: 0 its main image, n its n-th extra image (as in matched_image_url)."))


class SkippedQuery(Parameters):
    format: Literal["json", "csv"] = Field("json", description="json rows, or a CSV download.")


class RollbackBody(ApiModel):
    version: str = Field(min_length=1, max_length=200, description="A kept version, as listed by /admin/status.",
                         examples=["v20261124-101500-123456"])


def _blank_is_none(value: str | None) -> str | None:
    return (value or "").strip() or None
