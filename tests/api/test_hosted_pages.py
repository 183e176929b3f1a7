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


CROSS_SITE_FRAME = {"sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site"}


def test_a_cross_site_frame_hands_off_without_spending_the_link(api, auth,  # noqa: F811
                                                                container) -> None:
    from tests.api.test_hosted import ORIGIN, new_session

    sid, path = new_session(api, auth)
    r = api.get(path, headers=CROSS_SITE_FRAME)
    assert r.status_code == 200 and 'data-page="handoff"' in r.text
    assert f'href="{path}"' in r.text and 'target="_blank"' in r.text
    assert "set-cookie" not in r.headers
    assert f"frame-ancestors {ORIGIN}" in r.headers["content-security-policy"]
    assert container.audit.list(action="hosted.link_opened") == []
    # The window it opens is top level: the link is used there, the cookie set.
    top = api.get(path, headers={"sec-fetch-dest": "document", "sec-fetch-site": "same-origin"})
    assert top.status_code == 200 and "Before we start" in top.text
    assert "set-cookie" in top.headers
    # The link is spent now: the frame says so too.
    api.cookies.clear()
    again = api.get(path, headers=CROSS_SITE_FRAME)
    assert again.status_code == 410 and "already used" in again.text
    assert sid


def test_a_same_site_frame_keeps_the_flow_in_the_frame(api, auth) -> None:  # noqa: F811
    from tests.api.test_hosted import new_session

    _sid, path = new_session(api, auth)
    r = api.get(path, headers={"sec-fetch-dest": "iframe", "sec-fetch-site": "same-site"})
    assert r.status_code == 200 and 'data-page="consent"' in r.text
    assert "set-cookie" in r.headers


def test_a_forged_link_in_a_cross_site_frame_is_refused(api) -> None:
    r = api.get("/verify/ses_nope.forged", headers=CROSS_SITE_FRAME)
    assert r.status_code == 404


def test_message_pages_tell_the_sdk_why(api, auth) -> None:  # noqa: F811
    from tests.api.test_hosted import ORIGIN, new_session

    _sid, path = new_session(api, auth)
    assert api.get(path).status_code == 200
    api.cookies.clear()
    used = api.get(path)
    assert used.status_code == 410 and 'data-event="error:used"' in used.text
    assert f'data-origins="{ORIGIN}"' in used.text
    nosession = api.get("/verify/s")
    assert nosession.status_code == 401 and 'data-event="error:nosession"' in nosession.text
