"""The adaptive cap's decisions (`_LocalStore.adapt`, the same algorithm as the Redis script), fed
outcomes with made-up timestamps: what a quota, a transient fault and a recovery do to the cap."""

from __future__ import annotations

from providers.limits import CUT_SHARE, _LocalStore

NAMES = ("slots", "cap", "window", "cooldown")


def store_with_in_flight(n: int) -> _LocalStore:
    store = _LocalStore()
    store.slots["slots"] = {f"call-{i}": 1e12 for i in range(n)}
    return store


def outcomes(store: _LocalStore, *, ok: int, refused: int, at: float, acquired: float, latency: float = 0.2,
             maximum: int = 0) -> float:
    cap = store.values.get("cap", 0.0)
    for _ in range(refused):
        cap = store.adapt(NAMES, acquired + 0.001, maximum, acquired, refused=True)
    for i in range(ok):
        cap = store.adapt(NAMES, at + i * 1e-4, maximum, at - latency, refused=False)
    return cap


def serve(store: _LocalStore, *, start: float, until: float, concurrency: int, latency: float = 0.2,
          maximum: int = 0) -> None:
    """A provider serving `concurrency` calls at once: a success every latency/concurrency seconds."""
    now = start
    while now < until:
        store.adapt(NAMES, now, maximum, now - latency, refused=False)
        now += latency / concurrency


def test_a_burst_against_a_concurrency_quota_learns_it_in_one_window() -> None:
    """100 sent at once to a provider serving 20 (200 ms each): 80 refused at once, then a success
    every 10 ms. The cap becomes 20 (not 50, 25, 12... by halvings)."""
    store = store_with_in_flight(100)
    outcomes(store, ok=0, refused=80, at=0.0, acquired=0.0)
    serve(store, start=0.2, until=0.45, concurrency=20)
    assert store.values["cap"] == 20


def test_a_cut_pauses_nobody() -> None:
    """Each refused call waits out its own Retry-After; pausing everyone at a cut drained the
    provider's slots at every cut (a fifth of the quota lost in the benchmark)."""
    store = store_with_in_flight(50)
    outcomes(store, ok=0, refused=40, at=0.0, acquired=0.0)
    serve(store, start=0.2, until=0.5, concurrency=10)
    assert store.values["cap"] == 10 and "cooldown" not in store.values


def test_transient_429s_hold_or_grow_the_cap_never_cut_it() -> None:
    store = store_with_in_flight(50)
    store.values["cap"] = 40
    now = 0.0
    for _ in range(2000):  # 9% of the outcomes are refusals, spread among the successes
        store.adapt(NAMES, now + 0.2, 0, now, refused=False)
        if int(now * 100) % 11 == 0:
            store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        now += 0.01
    assert store.values.get("cap", 0) == 0 or store.values["cap"] >= 40


def test_refusals_of_calls_sent_before_a_cut_belong_to_the_old_cap() -> None:
    store = store_with_in_flight(100)
    outcomes(store, ok=0, refused=80, at=0.0, acquired=0.0)
    serve(store, start=0.2, until=0.45, concurrency=20)
    assert store.values["cap"] == 20
    # Stragglers of the first burst, refused after the decision, do not cut it again.
    outcomes(store, ok=0, refused=30, at=0.6, acquired=0.0)
    serve(store, start=0.6, until=1.2, concurrency=20)
    assert store.values["cap"] >= 20


def test_a_requests_per_minute_quota_becomes_the_concurrency_that_meets_it() -> None:
    """20 requests/s at 200 ms each is 4 in flight (Little's law), whatever was tried."""
    store = store_with_in_flight(50)
    now = 0.0
    while now < 1.0:  # 50 tried per 200 ms: a success every 50 ms, the rest refused at once
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        if round(now * 1000) % 50 == 0:
            store.adapt(NAMES, now, 0, now - 0.2, refused=False)
        now += 0.01
    assert store.values["cap"] == 4


def test_clean_windows_grow_the_cap_back_fast_then_drop_it_at_the_maximum() -> None:
    store = store_with_in_flight(30)
    store.values["cap"] = 10
    caps = [10]
    now = 1.0
    while "cap" in store.values and now < 30:  # a success every 10 ms, each 200 ms long
        store.adapt(NAMES, now, 30, now - 0.2, refused=False)
        if store.values.get("cap", 30) != caps[-1]:
            caps.append(store.values.get("cap", 30))
        now += 0.01
    assert caps[:4] == [10, 13, 17, 22]  # a quarter per clean window
    assert caps[-1] == 30 and "cap" not in store.values  # back to the configured maximum: no cap
    assert now < 5  # within seconds, not minutes


def test_a_quota_barely_touched_holds_the_cap_near_it() -> None:
    """At 24 against a quota of 20, a sixth is refused: between GROW and CUT, the cap holds."""
    store = store_with_in_flight(24)
    store.values["cap"] = 24
    now = 1.0
    for i in range(240):  # steady state: every sixth outcome a refusal, spread over time
        store.adapt(NAMES, now, 0, now - (0.001 if i % 6 == 0 else 0.2), refused=i % 6 == 0)
        now += 0.01
    assert CUT_SHARE > 1 / 6 and store.values["cap"] == 24


def test_an_unlucky_window_of_transient_429s_does_not_cut() -> None:
    """8 refusals in 30 (27%, above CUT_SHARE, but the share's lower bound is 0.14) can be luck at a
    10% fault rate; the same share in 300 outcomes is evidence of a quota."""
    from providers.limits import CUT_EVIDENCE, _wilson_low

    assert CUT_SHARE < 8 / 30 and _wilson_low(8, 30) < CUT_EVIDENCE < _wilson_low(80, 300)
    store = store_with_in_flight(20)
    store.values["cap"] = 20
    for i in range(30):
        store.adapt(NAMES, 1.0 + i * 0.02, 0, 1.0 + i * 0.02 - (0.001 if i % 15 < 4 else 0.2), refused=i % 15 < 4)
    assert store.values["cap"] == 20


def test_probing_above_a_quota_comes_back_to_the_last_clean_level_not_below() -> None:
    """Clean at 20, probe to 25, refused: back to 20 even when the cut window measured less (a
    drained window); a second cut in a row trusts the measurement (the quota itself fell)."""
    store = store_with_in_flight(20)
    store.values["cap"] = 20
    serve(store, start=1.0, until=1.5, concurrency=20)
    assert store.values["cap"] == 25
    store.slots["slots"] = {f"call-{i}": 1e12 for i in range(25)}
    now = 1.5
    while store.values["cap"] == 25:  # 12 served (a drained window), many refused
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        store.adapt(NAMES, now, 0, now - 0.2, refused=False)
        now += 0.2 / 12
    assert store.values["cap"] == 20
    while store.values["cap"] == 20:
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        store.adapt(NAMES, now + 0.001, 0, now, refused=True)
        store.adapt(NAMES, now, 0, now - 0.2, refused=False)
        now += 0.2 / 12
    assert store.values["cap"] == 12
