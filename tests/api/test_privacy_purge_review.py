"""A purge racing a review: a reviewer's decision that lands while the purge runs is kept
(the session is not erased under the reviewer, nor by the next day's purge: its retention
counts from the reviewer's decision), and a session the purge erased answers the reviewer
with a clear 404, nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.privacy.retention import DEFAULT
from idproof.web.app import create_app
from tests.helpers import bearer, get_token
from tests.review_support import unreadable_in_review
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status identity.review"
DAY = 86_400

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False) as tc:
        yield tc


class Auth(dict[str, str]):
    """The client's bearer header, got again after the fake clock jumped past its expiry."""

    def __init__(self, api: TestClient, client) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self._api, self._client = api, client
        self.renew()

    def renew(self) -> Auth:
        self.update(bearer(get_token(self._api, self._client)))
        return self


@pytest.fixture
def auth(api, make_client) -> Auth:  # type: ignore[no-untyped-def]
    return Auth(api, make_client(scopes=SCOPES))


def test_a_review_during_the_purge_is_kept(api, auth, colour_container, jobs,
                                           clock: FrozenClock) -> None:
    c = colour_container
    waiting = unreadable_in_review(api, auth, c, jobs, reference="u-wait")
    clock.advance((DEFAULT.unsuccessful_days + 10) * DAY)  # in review for 40 days
    auth.renew()
    decided: list[int] = []

    def review_meanwhile(done: int, total: int) -> None:  # after the scan, before erasing
        if not decided:
            r = api.post(f"/v1/sessions/{waiting}/review", headers=auth, json={
                "decision": "declined", "reasons": ["document_unreadable"],
                "note": "checked"})
            decided.append(r.status_code)

    report = c.retention.purge(progress=review_meanwhile)
    assert decided == [200]
    assert waiting not in report.skipped and all(waiting not in ids
                                                 for ids in report.sessions.values())
    body = api.get(f"/v1/sessions/{waiting}/decision", headers=auth).json()
    assert body["status"] == "declined" and body["reasons"] == ["document_unreadable"]
    # the next day's purge keeps it too: 30 days count from the reviewer's decision
    clock.advance(DAY)
    auth.renew()
    report = c.retention.purge()
    assert all(waiting not in ids for ids in report.sessions.values())
    assert api.get(f"/v1/sessions/{waiting}", headers=auth).json()["status"] == "declined"
    clock.advance(DEFAULT.unsuccessful_days * DAY)
    assert waiting in c.retention.purge().sessions["unsuccessful"]


def test_a_review_of_a_session_the_purge_erased_is_a_clear_404(
        api, auth, colour_container, jobs, clock: FrozenClock) -> None:
    c = colour_container
    waiting = unreadable_in_review(api, auth, c, jobs, reference="u-gone")
    # decided by a reviewer; 31 days on the purge erases it while another reviewer's page,
    # loaded earlier, still shows it: that reviewer's decision gets a clear 404
    assert api.post(f"/v1/sessions/{waiting}/review", headers=auth, json={
        "decision": "declined", "reasons": ["document_unreadable"]}).status_code == 200
    clock.advance((DEFAULT.unsuccessful_days + 1) * DAY)
    assert waiting in c.retention.purge().sessions["unsuccessful"]
    auth.renew()
    r = api.post(f"/v1/sessions/{waiting}/review", headers=auth, json={
        "decision": "approved", "reasons": ["manual_check_passed"]})
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    assert api.get(f"/v1/sessions/{waiting}", headers=auth).status_code == 404
