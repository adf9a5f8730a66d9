"""How yes/no is spelled in text, for every place that reads it: catalogs and feeds, settings and flags,
query strings. One parser, so ``in_stock=yes`` means the same in a CSV, an env var and a URL.
"""

from __future__ import annotations

YES = frozenset({"1", "true", "yes", "y", "on"})
NO = frozenset({"0", "false", "no", "n", "off"})


def parse_yes_no(raw: str | bool | None) -> bool | None:
    """True or False for the spellings above (any case, surrounding spaces ignored); None when blank.

    :raise ValueError: for any other text.
    """
    if raw is None or isinstance(raw, bool):
        return raw
    lowered = raw.strip().lower()
    if not lowered:
        return None
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise ValueError(f"{raw[:40]!r} is not a yes/no value (use true or false)")
