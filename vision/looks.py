"""What a makeup look is made of: product types, finishes and layers.

The catalog (``indexer``) uses the same enums, so a product's type and finish map to a layer as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vision.color import parse_hex


class ProductType(StrEnum):
    LIPSTICK = "lipstick"
    LIP_LINER = "lip_liner"
    EYESHADOW = "eyeshadow"
    EYELINER = "eyeliner"
    BLUSH = "blush"
    FOUNDATION = "foundation"
    CONCEALER = "concealer"
    BROW = "brow"


class Finish(StrEnum):
    MATTE = "matte"
    SATIN = "satin"
    GLOSS = "gloss"
    SHIMMER = "shimmer"
    METALLIC = "metallic"


# Applied bottom to top, as a make-up artist would, whatever order the shopper tapped them in.
STACKING = [ProductType.FOUNDATION, ProductType.CONCEALER, ProductType.BLUSH, ProductType.EYESHADOW,
            ProductType.EYELINER, ProductType.BROW, ProductType.LIP_LINER, ProductType.LIPSTICK]


@dataclass(frozen=True)
class Layer:
    """One product on the face. ``color`` is (r, g, b) 0..255; ``intensity`` 0 leaves the face as is."""

    product_type: ProductType
    color: tuple[int, int, int]
    finish: Finish = Finish.SATIN
    intensity: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"intensity must be between 0 and 1, got {self.intensity}")

    @classmethod
    def of(cls, product_type: str, color: str, finish: str | None = None, intensity: float = 1.0) -> "Layer":
        """Build from strings (an API request or a catalog row).  :raise ValueError: for bad values."""
        return cls(ProductType(product_type), parse_hex(color), Finish(finish) if finish else Finish.SATIN,
                   float(intensity))
