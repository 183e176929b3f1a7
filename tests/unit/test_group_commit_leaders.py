"""GroupCommit's leads: at most `leaders` transactions written at once, every caller's rows
written exactly once and in its own order, and no caller left waiting."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from idproof.db.group_commit import GroupCommit

_T = Table("probe", MetaData(), Column("v", Integer))


class Recorder:
    """A writer that keeps what it was given and how many calls overlapped."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.calls = 0
        self.inflight = 0
        self.most = 0
        self.gate = gate
        self._lock = threading.Lock()

    def __call__(self, runs: list[tuple[Table, list[dict[str, Any]]]]) -> None:
        with self._lock:
            self.inflight += 1
            self.most = max(self.most, self.inflight)
            self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        with self._lock:
            for _, rows in runs:
                self.rows.extend(rows)
            self.inflight -= 1


@pytest.mark.parametrize("leaders", [1, 2, 4])
def test_every_row_written_once_in_each_callers_order(leaders: int) -> None:
    writer = Recorder()
    group = GroupCommit(writer, leaders=leaders, max_batch=7)
    threads, per_thread = 12, 60

    def work(t: int) -> None:
        for k in range(per_thread):
            group.insert(_T, [{"v": t * 1000 + k}])

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(60)
        assert not th.is_alive()
    values = [r["v"] for r in writer.rows]
    assert sorted(values) == sorted(t * 1000 + k for t in range(threads) for k in range(per_thread))
    for t in range(threads):  # one caller's rows in the order it inserted them
        mine = [v for v in values if v // 1000 == t]
        assert mine == [t * 1000 + k for k in range(per_thread)]
    assert writer.most <= leaders


def test_a_second_lead_writes_while_the_first_is_still_writing() -> None:
    gate = threading.Event()
    writer = Recorder(gate)
    group = GroupCommit(writer, leaders=2)
    first = threading.Thread(target=group.insert, args=(_T, [{"v": 1}]))
    first.start()
    while writer.inflight < 1:  # the first transaction is being written (and held)
        threading.Event().wait(0.01)
    second = threading.Thread(target=group.insert, args=(_T, [{"v": 2}]))
    second.start()
    while writer.inflight < 2:  # a second one started beside it
        threading.Event().wait(0.01)
    third = threading.Thread(target=group.insert, args=(_T, [{"v": 3}]))
    third.start()  # no third lead: it queues
    gate.set()
    for th in (first, second, third):
        th.join(10)
        assert not th.is_alive()
    assert sorted(r["v"] for r in writer.rows) == [1, 2, 3]
    assert writer.most == 2


def test_an_error_reaches_only_its_caller_with_several_leads() -> None:
    seen: list[int] = []

    def writer(runs: list[tuple[Table, list[dict[str, Any]]]]) -> None:
        rows = [r for _, rs in runs for r in rs]
        if any(r["v"] < 0 for r in rows):
            raise ValueError("refused")
        seen.extend(r["v"] for r in rows)

    group = GroupCommit(writer, leaders=3)
    errors: dict[int, BaseException | None] = {}

    def work(v: int) -> None:
        try:
            group.insert(_T, [{"v": v}])
            errors[v] = None
        except ValueError as exc:
            errors[v] = exc

    pool = [threading.Thread(target=work, args=(v,)) for v in (-1, *range(1, 30))]
    for th in pool:
        th.start()
    for th in pool:
        th.join(10)
    assert isinstance(errors[-1], ValueError)
    assert all(errors[v] is None for v in range(1, 30))
    assert sorted(seen) == list(range(1, 30))
