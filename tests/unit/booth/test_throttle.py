"""Throttles and sessions of the booth, on a clock the tests set."""

from __future__ import annotations

from booth.domain.sessions import Member, Sessions
from booth.domain.throttle import Throttle


def test_a_key_is_blocked_after_its_failures_until_the_window_passes() -> None:
    """limit failures within the window block the key; they age out one by one."""
    t = Throttle(limit=3, window=60.0)
    for now in (0.0, 10.0, 20.0):
        assert not t.blocked("a", now)
        t.fail("a", now)
    assert t.blocked("a", 30.0) and t.retry_after("a", 30.0) == 30.0
    assert not t.blocked("b", 30.0)
    assert not t.blocked("a", 60.0)  # the failure at 0 is out of the window
    assert t.retry_after("a", 60.0) == 0.0


def test_memory_is_bounded_by_forgetting_the_stalest_key() -> None:
    """Past max_keys keys, the key failed longest ago is forgotten."""
    t = Throttle(limit=1, window=60.0, max_keys=2)
    t.fail("a", 0.0)
    t.fail("b", 1.0)
    t.fail("c", 2.0)
    assert not t.blocked("a", 3.0) and t.blocked("b", 3.0) and t.blocked("c", 3.0)


def test_sessions_expire_renew_and_close_per_member() -> None:
    """A session lives lifetime seconds from its last use; closing a member ends all of theirs."""
    sessions = Sessions(lifetime=100.0)
    ann, bob = Member("e", "ann"), Member("e", "bob")
    c1, s1 = sessions.open(ann, 0.0)
    c2, _ = sessions.open(ann, 0.0)
    c3, _ = sessions.open(bob, 0.0)
    assert sessions.get(c1, 90.0) is s1
    assert sessions.get(c1, 180.0) is s1  # renewed at 90
    assert sessions.get(c2, 180.0) is None  # expired at 100
    assert sessions.get("forged", 0.0) is None and sessions.get(None, 0.0) is None
    sessions.close_member(ann)
    assert sessions.get(c1, 181.0) is None and sessions.get(c3, 50.0) is not None
    assert s1.token_ok(s1.csrf) and not s1.token_ok("x") and not s1.token_ok(None)
