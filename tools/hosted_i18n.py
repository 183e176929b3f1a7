"""Maintain the hosted pages' gettext catalogues: extract the template, merge it, check them.

    python tools/hosted_i18n.py extract   # locales/hosted.pot from hosted/i18n.py's SOURCE
    python tools/hosted_i18n.py update    # merge the template into every <lang>/hosted.po
    python tools/hosted_i18n.py check     # list missing or fuzzy translations (exit 1 if any)

Each message's `msgctxt` is its key in SOURCE, `msgid` the English text, `msgstr` the
translation. After a change of the English, `update` marks the translation fuzzy; the pages
show the English until a translator confirms it (and removes the `fuzzy` flag).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from idproof.hosted.i18n import DEFAULT_LOCALE, DOMAIN, LOCALE_DIR, LOCALES, SOURCE

TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def _flags(text: str) -> tuple[str, ...]:
    return ("python-brace-format",) if "{" in text else ()


def template() -> Catalog:
    catalog = Catalog(project="idproof hosted pages", domain=DOMAIN, fuzzy=False,
                      creation_date=datetime(2026, 11, 1, tzinfo=UTC))
    for key, text in SOURCE.items():
        catalog.add(text, context=key, flags=_flags(text))
    return catalog


def _write(catalog: Catalog, path: object) -> None:
    from pathlib import Path

    target = Path(str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        write_po(fh, catalog, width=96, omit_header=False, sort_output=False)


def extract() -> None:
    _write(template(), TEMPLATE)


def update() -> None:
    tmpl = template()
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.is_file():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale, domain=DOMAIN)
        else:
            catalog = Catalog(locale=locale, domain=DOMAIN, project="idproof hosted pages")
        catalog.update(tmpl, no_fuzzy_matching=False)
        _write(catalog, path)


def check() -> int:
    problems = 0
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        have = {m.context: m for m in catalog if m.context}
        for key, text in SOURCE.items():
            m = have.get(key)
            if m is None or not m.string or m.fuzzy or m.id != text:
                print(f"{locale}: {key}: {'fuzzy' if m is not None and m.fuzzy else 'missing'}")
                problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "extract":
        extract()
    elif command == "update":
        extract()
        update()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
