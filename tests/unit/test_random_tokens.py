"""Random secrets hold letters and digits only, so no firewall rule reads them as an attack."""

from __future__ import annotations

import re
import time
from collections import Counter

from idproof.auth.clients import SECRET_PREFIX, new_client_secret
from idproof.core.ids import new_id, new_sortable_id, random_token


def test_random_tokens_are_alphanumeric_with_fixed_length() -> None:
    tokens = [random_token(32) for _ in range(2000)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{43}", t) for t in tokens)
    assert len(set(tokens)) == len(tokens)
    assert {len(random_token(n)) for n in (12, 18, 24)} == {17, 25, 33}


def test_token_alphabet_is_fully_used() -> None:
    # A biased or truncated encoder would leave characters unused over 2,000 tokens.
    seen = set("".join(random_token(32) for _ in range(2000)))
    assert len(seen) == 62


def test_client_secrets_never_hold_sql_comment_or_dash_runs() -> None:
    for _ in range(3000):
        secret = new_client_secret()
        body = secret.removeprefix(SECRET_PREFIX)
        assert secret.startswith(SECRET_PREFIX)
        assert re.fullmatch(r"[A-Za-z0-9]{43}", body)
        assert "--" not in secret


def test_identifiers_are_prefixed_base36_and_uniform() -> None:
    ids = [new_id("aev") for _ in range(4000)]
    assert all(re.fullmatch(r"aev_[0-9a-z]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len(new_id("ses", 10)) == 14
    # Every character equally likely: 96,000 draws, 36 characters, ~2,667 each. A modulo bias
    # (256 % 36 = 4 characters drawn 8/7 as often) would put those near 3,000.
    counts = Counter("".join(i[4:] for i in ids))
    assert len(counts) == 36
    assert max(counts.values()) < 2900 and min(counts.values()) > 2450


def test_sortable_identifiers_sort_by_time_and_stay_unguessable() -> None:
    before = time.time()
    first = [new_sortable_id("aev") for _ in range(2000)]
    time.sleep(0.003)
    later = new_sortable_id("aev")
    assert all(re.fullmatch(r"aev_[0-9a-z]{24}", i) for i in [*first, later])
    assert len(set(first)) == len(first)
    assert max(first) < later  # a later millisecond sorts after every earlier id
    # The first 9 characters are the time in milliseconds, base36.
    assert abs(int(later[4:13], 36) / 1000 - before) < 5
    # The other 15 are random: every character of them equally likely (30,000 draws).
    counts = Counter("".join(i[13:] for i in first))
    assert len(counts) == 36
    assert max(counts.values()) < 1000 and min(counts.values()) > 680
