"""`BudgetGuard`: the budget cap's arithmetic, alone (no database, no calls)."""

from __future__ import annotations

from decimal import Decimal

from experiments.pipeline.budget import BUDGET_HEADROOM, BudgetGuard, Verdict

D = Decimal


def test_without_a_budget_every_call_goes():
    guard = BudgetGuard(budget=None)
    assert not guard.limited
    for _ in range(3):
        assert guard.verdict(1) is Verdict.GO
        guard.reserve(1)
    guard.account(1, D("100"))
    assert guard.verdict(1) is Verdict.GO


def test_an_arm_without_a_price_probes_one_call_at_a_time():
    guard = BudgetGuard(budget=D("1"))
    assert guard.verdict(1) is Verdict.GO
    guard.reserve(1)  # the probe: no price yet, so it reserves nothing
    assert guard.reserved == 0
    assert guard.verdict(1) is Verdict.WAIT  # a second call of the arm waits for the probe's price
    assert guard.verdict(2) is Verdict.GO  # another arm probes on its own
    guard.release(1)
    guard.account(1, D("0.1"))
    assert guard.estimate[1] == D("0.1") * BUDGET_HEADROOM
    assert guard.verdict(1) is Verdict.GO


def test_a_call_goes_only_while_spent_plus_reserved_plus_its_reserve_fits():
    guard = BudgetGuard(budget=D("1.00"), spent=D("0.40"), dearest={1: D("0.20")})  # reserve 0.30 a call
    assert guard.verdict(1) is Verdict.GO
    guard.reserve(1)  # 0.40 + 0.30
    assert guard.verdict(1) is Verdict.GO
    guard.reserve(1)  # 0.40 + 0.60 = 1.00: exactly at the cap is allowed
    assert guard.reserved == D("0.60")
    assert guard.verdict(1) is Verdict.STOP  # 1.30 would pass it
    guard.release(1)
    guard.account(1, D("0.10"))  # cheaper than the dearest: the reserve stays the dearest's
    assert guard.spent == D("0.50") and guard.estimate[1] == D("0.30") and guard.reserved == D("0.30")
    assert guard.verdict(1) is Verdict.STOP  # 0.50 + 0.30 in flight + 0.30 = 1.10
    guard.release(1)
    guard.account(1, D("0.30"))  # the dearest so far: the reserve grows to 0.45
    assert guard.spent == D("0.80") and guard.estimate[1] == D("0.45") and guard.reserved == 0
    assert guard.verdict(1) is Verdict.STOP  # 0.80 + 0.45 = 1.25
    assert guard.verdict(2) is Verdict.GO  # an arm without a price still probes while under the cap


def test_an_unpriced_answer_counts_nothing_and_ends_the_probing():
    guard = BudgetGuard(budget=D("1"))
    guard.reserve(7)
    guard.release(7)
    guard.account(7, None)
    assert guard.spent == 0 and guard.estimate[7] == 0
    guard.reserve(7)
    assert guard.verdict(7) is Verdict.GO  # priced at 0 now: no longer one at a time


def test_nothing_more_goes_once_spent_reaches_the_cap():
    guard = BudgetGuard(budget=D("1"), spent=D("1"))
    assert guard.verdict(1) is Verdict.STOP  # no price yet, and nothing left to probe with


def test_the_stop_message_says_amounts_at_the_stored_precision():
    guard = BudgetGuard(budget=D("0.00002"), spent=D("0.0000190000"))
    assert guard.stop_message() == "Stopped issuing calls at the budget cap of $0.00002: spent $0.000019."
    guard.account(1, D("0.0000000123"))  # below 1e-6: still said, not rounded away
    assert guard.stop_message().endswith("spent $0.0000190123.")
