"""The hosted pages' languages, country list and labels, over HTTP."""

from __future__ import annotations

import re

import pytest

from tests.api.test_hosted import auth, consent, opened  # noqa: F401 - the fixture too


@pytest.mark.parametrize(("locale", "heading", "germany"), [
    ("de", "Ihr Ausweisdokument", "Deutschland"),
    ("es", "Su documento de identidad", "Alemania"),
    ("it", "Il suo documento d'identità", "Germania"),
    ("pt", "O seu documento de identificação", "Alemanha"),
    ("nl", "Uw identiteitsdocument", "Duitsland"),
    ("pl", "Twój dokument tożsamości", "Niemcy"),
])
def test_document_page_in_each_language_with_localised_countries(
        api, auth, locale, heading, germany) -> None:  # noqa: F811
    _sid, _path, r = opened(api, auth, locale=locale)
    assert f'lang="{locale}"' in r.text
    consent(api, r.text)
    page = api.get("/verify/s")
    html = page.text.replace("&#39;", "'")
    assert heading in html
    m = re.search(r'<option value="DEU" data-types="([^"]*)">([^<]+)</option>', html)
    assert m is not None and m.group(2) == germany
    # document_only's types that Germany issues: not the driving licence (US/Canada only)
    assert m.group(1).split() == ["passport", "id_card", "residence_permit"]


def test_capture_inputs_have_labels(api, auth) -> None:  # noqa: F811
    _sid, _path, r = opened(api, auth, workflow="document_selfie")
    consent(api, r.text)
    html = api.get("/verify/s").text
    for field in ("document_type", "country", "front", "back"):
        assert f'<label for="{field}">' in html, field
