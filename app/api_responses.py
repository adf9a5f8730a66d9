"""What each endpoint answers, declared once: the OpenAPI document's response schemas come from these
models, and responses are checked against them (a view that drifts from its model fails loudly in tests).

The views build plain dicts (``product_json`` ...) for speed; these models describe those dicts.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.errors import STATUS
from app.jobs import JobState
from vision.looks import Finish, ProductType

# The error codes are generated from the one error table, so the document lists exactly what can happen.
ErrorCode = StrEnum("ErrorCode", {code: code for code in STATUS})


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Response):
    code: ErrorCode = Field(description="Stable, machine-readable; clients switch on it.")
    message: str = Field(description="For people: what went wrong and what to do.")


class ErrorBody(Response):
    """Every error of the API, whatever its status."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "invalid_parameter", "message": "k: Input should be less than or equal to 100"}}]})
    error: ErrorDetail


class Product(Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "lip-ruby-matte", "title": "Velvet Matte Lipstick — Ruby", "price": 24.0, "currency": "EUR",
        "url": "https://shop.example/lip-ruby-matte", "category": "lipstick", "brand": "Maison Rouge",
        "in_stock": True, "product_type": "lipstick", "shade_hex": "#9B111E", "finish": "matte",
        "image_url": "/catalog/images/lip-ruby-matte"}]})
    id: str
    title: str
    price: float | None
    currency: str | None = Field(description="ISO 4217 code, e.g. EUR.")
    url: str | None = Field(description="The product page: the buy link.")
    category: str | None
    brand: str | None
    in_stock: bool
    product_type: ProductType | None = Field(description="For makeup: what can be tried on.")
    shade_hex: str | None = Field(description="For makeup: the shade as #RRGGBB.")
    finish: Finish | None
    image_url: str = Field(description="Thumbnail served by this app (/catalog/images/{id}).")
    group: str | None = Field(description="The product this is a variant of (Merchant Center item_group_id, a "
                                          "Shopify handle); null for a product without variants.")
    options: dict[str, str] = Field(description='This variant\'s option values, e.g. {"Color": "Red", "Size": "M"}.')


class Variant(Response):
    """Another variant of a result's group: enough to show a swatch and switch to it."""

    id: str
    options: dict[str, str]
    price: float | None
    currency: str | None
    in_stock: bool
    shade_hex: str | None
    url: str | None
    image_url: str


class ProductDetail(Product):
    image_urls: list[str] = Field(description="Every photo of the product (main image first), as thumbnails.")
    variants: list[Variant] = Field(description="The other variants of its group, in catalog order.")


class ScoredProduct(Product):
    score: float = Field(description="Cosine similarity to the query (of the product's best-matching photo), "
                                     "-1..1; higher is closer.")
    matched_image_url: str = Field(description=(
        "The product photo that matched best (on-model, detail...): show it next to the result; equals "
        "image_url when the main image matched best."))
    variants: list[Variant] = Field(description=(
        "With collapse=group (the default): the group's other variants, whatever the filters (each says its own "
        "stock); empty otherwise."))


class LookItem(Response):
    box: list[int] = Field(min_length=4, max_length=4, description=(
        "x, y, width, height in pixels of the uploaded photo, upright (EXIF-corrected) like crop: send it back as "
        "crop to search that item alone."))
    score: float = Field(description="How much closer this item's best match is than the whole photo's (cosine "
                                     "difference); higher is a surer item.")
    results: list[ScoredProduct] = Field(description="The item's best matches, with the search's filters and k.")


class SearchResults(Response):
    results: list[ScoredProduct] = Field(description="Best first; exactly k when the catalog has enough "
                                                     "products passing the filters.")
    items: list[LookItem] | None = Field(None, description=(
        "Only with detect=true: the items found in the photo (at most SHOPLENS_MAX_ITEMS), surest first; "
        "empty when nothing in it beats the whole photo."))
    version: str = Field(description="The index version that answered.")
    took_ms: float


class RecommendedProduct(ScoredProduct):
    because: str = Field(description="The id of the session's positive product this one is closest to: what a "
                                     'page may honestly say ("Because you looked at ...").')


class Recommendations(Response):
    results: list[RecommendedProduct] = Field(description=(
        "In the order picked (relevance traded against variety); never a product of the session; exactly k when "
        "the catalog has enough products passing the filters."))
    unknown: list[str] = Field(description="Session ids left out because the catalog lacks them (skip_unknown).")
    version: str = Field(description="The index version that answered.")
    took_ms: float


class ShadeMatch(Product):
    delta_e: float = Field(description="CIEDE2000 distance to the measured colour; under 2 is a close match.")


class SkinTone(Response):
    hex: str
    lab: list[float] = Field(min_length=3, max_length=3, description="CIELAB L*, a*, b*.")
    ita: float = Field(description="Individual Typology Angle in degrees.")
    ita_category: str
    monk: int = Field(ge=1, le=10, description="Monk Skin Tone scale step.")
    undertone: str = Field(description="warm, neutral or cool.")
    confidence: float = Field(ge=0, le=1)
    white_balanced: bool


class AnalyzedFace(Response):
    box: list[int] = Field(min_length=4, max_length=4, description="x, y, width, height in pixels.")
    skin: SkinTone
    recommendations: list[ShadeMatch] = Field(description="Closest foundation and concealer shades.")


class FaceAnalysis(Response):
    faces: list[AnalyzedFace]


class LipstickMatches(Response):
    lip_color: str = Field(description="The measured lip colour, #RRGGBB.")
    lab: list[float] = Field(min_length=3, max_length=3)
    matches: list[ShadeMatch] = Field(description="Closest catalog lipsticks first.")


class FaceRegions(Response):
    box: list[int] = Field(min_length=4, max_length=4, description="x, y, width, height in pixels.")
    regions: dict[str, list[list[float]]] = Field(description="Named region (lips, eyes...) -> polygon of "
                                                              "[x, y] points in pixels of the upright photo.")


class FaceLandmarks(Response):
    width: int
    height: int
    faces: list[FaceRegions]


class MakeupLine(Product):
    shades: list[Product] = Field(description=(
        "A line sold in shades (variants of one group): every shade of it in catalog order, this one (its first) "
        "included; empty for a product sold alone."))


class MakeupShades(Response):
    groups: dict[str, list[MakeupLine]] = Field(description=(
        "Product type -> the catalog's products of that type that carry a shade, a line of shades once."))


class ReloadOutcome(Response):
    switched: bool
    version: str
    count: int


class VersionInfo(Response):
    version: str
    live: bool
    count: int = Field(description="Product rows: every variant counted.")
    products: int = Field(description="Products once the variants of a group count as one.")
    variants: int = Field(description="Product rows that are one variant of a group of several.")
    images: int = Field(description="Photos indexed (one vector each): main and extra images.")
    model: str
    index_type: str
    created: str
    catalog: str
    skipped: dict[str, int] = Field(description="Skipped rows by reason.")
    skipped_images: dict[str, int] = Field(description="Extra images left out of indexed products, by reason.")


class ConsoleStatus(Response):
    live: VersionInfo
    versions: list[VersionInfo] = Field(description="Kept versions, newest first.")
    job: JobState | None
    history: list[JobState]
    catalog_source: str
    model: str


class SkippedRow(BaseModel):
    line: int
    reason: str
    message: str
    product_id: str = ""
    image: str = Field("", description="Set for an extra image left out of a product that was indexed.")


class SkippedRows(Response):
    version: str
    rows: list[SkippedRow]


class LiveVersion(Response):
    version: str


class JobStarted(Response):
    job: JobState


class Cancelling(Response):
    cancelling: bool


class Health(Response):
    status: str


class Readiness(Response):
    status: str = Field(description="ready")
    version: str
    products: int
    model: str
    device: str
    reload_error: str = Field(None, description="Why the newest version could not be loaded, if it could not.")


class NotReady(Response):
    status: str = Field(description="loading")
    error: ErrorDetail


class FaceMeshFiles(Response):
    available: bool = Field(description="False when the browser package is not installed: live try-on is off.")
    version: str | None
    base_url: str | None = Field(description="Where the package's files are served (the solution's locateFile).")


class LiveTryOnConfig(Response):
    face_mesh: FaceMeshFiles
    landmarks: int = Field(description="Landmarks per face (Face Mesh with iris refinement).")
    regions: dict[str, list[int]] = Field(description="Region name -> landmark ids of its polygon, in order.")
    anchors: dict[str, dict[str, int] | list[int]] = Field(description="Single landmarks zones are placed from.")
    zones: dict = Field(description="Zone shapes and feathers, in fractions of the eye-corner distance.")
    recipes: dict[str, dict[str, float]] = Field(description="Per product type: coverage, lightness, chroma_texture.")
    stacking: list[str] = Field(description="Product types from the bottom layer to the top.")
    live_types: list[str] = Field(description="Types the live renderer draws; others show in Photo mode.")
