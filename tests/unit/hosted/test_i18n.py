"""The hosted pages' catalog and locale choice (pure)."""

from __future__ import annotations

import pytest

from idproof.hosted.i18n import CATALOG, Translator, negotiate


def test_every_language_has_every_message() -> None:
    english = set(CATALOG["en"])
    for locale, messages in CATALOG.items():
        assert set(messages) == english, locale
        for key, text in messages.items():
            # Placeholders must match English, or formatting breaks in one language only.
            assert sorted(_fields(text)) == sorted(_fields(CATALOG["en"][key])), (locale, key)


def _fields(text: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


@pytest.mark.parametrize(("session", "header", "expected"), [
    ("fr", "en", "fr"),
    ("fr-CA", None, "fr"),
    ("de", "fr-FR,fr;q=0.9", "fr"),  # no German catalog: the browser decides
    (None, "de-DE,fr;q=0.8,en;q=0.5", "fr"),
    (None, "en;q=0.2, fr;q=0.9", "fr"),
    (None, "fr;q=0, en", "en"),
    (None, "es, pt", "en"),
    (None, "fr;q=abc, en;q=0.1", "en"),
    (None, None, "en"),
])
def test_negotiate(session, header, expected) -> None:
    assert negotiate(session, header) == expected


def test_translator_formats_and_falls_back() -> None:
    t = Translator("fr")
    assert t("step_of", n=1, total=3) == "Étape 1 sur 3"
    assert t("no.such.key") == "no.such.key"
    assert t.reason("document_expired") == "le document a expiré"
    assert t.reason("something_new") == t("reason.default")
    assert t.reason(None) == t("reason.default")
    assert Translator("xx").locale == "en"


def test_every_reason_code_has_a_translated_text_and_advice() -> None:
    import json
    from importlib import resources

    from idproof.hosted.i18n import CATALOG, LOCALES

    codes = {"document_unreadable", "mrz_checksum_failed", "document_expired", "underage",
             "country_not_allowed", "document_type_not_allowed", "front_back_mismatch",
             "duplicate_document", "processing_error", "processing_timeout", "no_face",
             "multiple_faces", "face_too_small", "low_quality", "face_mismatch",
             "presentation_attack_suspected", "liveness_failed", "challenge_expired",
             "challenge_replayed"}
    for item in (resources.files("idproof.workflows") / "definitions").iterdir():
        if item.name.endswith(".json"):
            rules = json.loads(item.read_text()).get("rules", {})
            codes |= set(rules.get("decline", ())) | set(rules.get("review", ()))
    for locale in LOCALES:
        for code in sorted(codes):
            for kind in ("reason", "advice"):
                assert f"{kind}.{code}" in CATALOG[locale], (locale, kind, code)
