"""Where a step-up may send the operator back to: a console page, never another site."""

from __future__ import annotations

import re

# A console path with an ordinary query: no scheme, no host, no `//`, no backslash, no dots.
_SAFE = re.compile(r"^/console/[A-Za-z0-9_\-/]*(\?[A-Za-z0-9_\-=&%.]*)?$")


def safe_next(value: str | None) -> str:
    """`value` when it is a console page of this site, else the console home."""
    if value and len(value) <= 512 and _SAFE.match(value) and "//" not in value \
            and "/.." not in value:
        return value
    return "/console/"
