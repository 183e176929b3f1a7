"""Signals and monitoring with DEBUG logs on: no IP address, name or device value is logged."""

from __future__ import annotations

import io

from idproof.core.logging import configure_logging
from tests.api.test_screening_monitoring import approved_subject, ofac
from tests.api.test_signals_api import DEVICE, SCOPES
from tests.helpers import bearer, get_token


def test_no_personal_data_in_logs(api, make_client, container) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    configure_logging("DEBUG", ["document_number"], stream=stream)
    try:
        auth = bearer(get_token(api, make_client(scopes=SCOPES)))
        sid = api.post("/v1/sessions", json={"reference": "r"}, headers=auth).json()["id"]
        r = api.post(f"/v1/sessions/{sid}/signals", json={"ip": "198.51.100.23",
                                                          "device": DEVICE}, headers=auth)
        assert r.status_code == 200
        bad = api.post(f"/v1/sessions/{sid}/signals", json={"ip": "198.51.100.999"},
                       headers=auth)
        assert bad.status_code == 422 and "198.51.100.999" not in bad.text
        demo = container.tenants.find("demo").id
        container.screening.configure(demo, monitoring=True, actor="test")
        approved_subject(container, "demo", "Igor", "Kasparovski")
        ofac(container)
    finally:
        configure_logging("INFO")
    logged = stream.getvalue()
    assert "screening.monitoring_run" in logged and "/signals" in logged  # logs were captured
    for value in ("198.51.100.23", "198.51.100.999", "Kasparovski", "Igor", "Europe/Paris",
                  "0a1b2c3d4e5f6789", "1961-03-04"):
        assert value not in logged, value
