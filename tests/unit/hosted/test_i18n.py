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
    ("de", "fr-FR,fr;q=0.9", "de"),
    ("ja", "fr-FR,fr;q=0.9", "fr"),  # no Japanese catalogue: the browser decides
    (None, "ja-JP,fr;q=0.8,en;q=0.5", "fr"),
    (None, "de-DE,fr;q=0.8,en;q=0.5", "de"),
    (None, "en;q=0.2, fr;q=0.9", "fr"),
    (None, "fr;q=0, en", "en"),
    (None, "es, pt", "es"),
    (None, "pt-BR", "pt"),
    (None, "nl-BE, pl;q=0.5", "nl"),
    (None, "ja, zh", "en"),
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


def test_catalogues_are_gettext_files_for_eight_languages() -> None:
    from idproof.hosted.i18n import DOMAIN, LOCALE_DIR, LOCALES

    assert set(LOCALES) == {"en", "fr", "de", "es", "it", "pt", "nl", "pl"}
    assert (LOCALE_DIR / f"{DOMAIN}.pot").is_file()
    for locale in LOCALES:
        if locale != "en":
            assert (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").is_file(), locale
    assert Translator("de")("consent.heading") == "Bevor wir beginnen"
    assert Translator("pl")("step_of", n=2, total=3) == "Krok 2 z 3"
    assert Translator("it").advice("document_expired") == "Usi un documento ancora valido."


def test_a_stale_or_fuzzy_translation_falls_back_to_english(tmp_path, monkeypatch) -> None:
    """A translation of an older English text is not shown: the current English is."""
    from idproof.hosted import i18n

    po = tmp_path / "de" / "LC_MESSAGES" / "hosted.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgctxt "title"\nmsgid "An older English title"\nmsgstr "Alt"\n\n'
                  '#, fuzzy\nmsgctxt "skip"\nmsgid "Skip to content"\nmsgstr "Unsicher"\n\n'
                  'msgctxt "cancel"\nmsgid "Cancel the verification"\n'
                  'msgstr "Prüfung abbrechen"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n._load("de") == {"cancel": "Prüfung abbrechen"}


def test_the_maintenance_tool_finds_nothing_missing() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, str(root / "tools" / "hosted_i18n.py"), "check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_country_names_are_localised_and_narrowed_by_document_type() -> None:
    from idproof.hosted.countries import country_options

    de = {o.code: o for o in country_options("de", ("passport", "id_card",
                                                    "driving_licence"))}
    assert len(de) == 249
    assert de["DEU"].name == "Deutschland" and de["USA"].name == "Vereinigte Staaten"
    assert de["DEU"].types == ("passport", "id_card")
    assert de["USA"].types == ("passport", "driving_licence")
    assert country_options("fr", ("passport",), ("DEU",))[0].name == "Allemagne"
    only_licences = country_options("en", ("driving_licence",))
    assert [o.code for o in only_licences] == ["CAN", "USA"]
    names = [o.name for o in country_options("de", ("passport",))]
    assert names.index("Österreich") < names.index("Polen")  # accents sort with their letter
