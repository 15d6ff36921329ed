"""A run's budget cap while its calls are in flight: pure arithmetic, no I/O (unit-tested alone).

A call may start only while spent + the reserve of every call in flight + its own reserve stays
within the budget. The reserve of an arm's call is 1.5x the dearest call of that arm so far (calls
of one arm differ in length). Until an arm has a price, it probes: one call of it at a time.
An unpriced answer (cost unknown) counts 0 toward the cap and makes its arm's reserve 0, so the arm
is not probed for ever.
"""

from __future__ import annotations

import enum
from collections import Counter
from decimal import Decimal

from providers.pricing import USD_DECIMAL_PLACES

BUDGET_HEADROOM = Decimal("1.5")
_USD_QUANTUM = Decimal(1).scaleb(-USD_DECIMAL_PLACES)


def usd_text(value: Decimal) -> str:
    """An amount as people read it, at the precision costs are stored with: `0.0000123`, `2.5`."""
    text = format(value.quantize(_USD_QUANTUM), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Verdict(enum.Enum):
    GO = "go"  # issue the call (and `reserve` it)
    WAIT = "wait"  # this arm's price probe is in flight; other arms may go on
    STOP = "stop"  # the cap is reached: issue nothing more


class BudgetGuard:
    def __init__(self, *, budget: Decimal | None, spent: Decimal = Decimal(0),
                 dearest: dict[int, Decimal] | None = None) -> None:
        """`dearest`: the dearest stored call of each arm so far (a resumed run's history)."""
        self.budget = budget
        self.spent = spent
        self.reserved = Decimal(0)
        self.estimate: dict[int, Decimal] = {arm: cost * BUDGET_HEADROOM for arm, cost in (dearest or {}).items()}
        self.in_flight: Counter[int] = Counter()

    @property
    def limited(self) -> bool:
        return self.budget is not None

    def verdict(self, arm_id: int) -> Verdict:
        if self.budget is None:
            return Verdict.GO
        estimate = self.estimate.get(arm_id)
        if estimate is None:
            if self.spent + self.reserved >= self.budget:
                return Verdict.STOP
            return Verdict.WAIT if self.in_flight[arm_id] else Verdict.GO
        return Verdict.GO if self.spent + self.reserved + estimate <= self.budget else Verdict.STOP

    def reserve(self, arm_id: int) -> None:
        """A call of this arm was handed to the loop."""
        self.reserved += self.estimate.get(arm_id) or Decimal(0)
        self.in_flight[arm_id] += 1

    def release(self, arm_id: int) -> None:
        """A call of this arm ended, or was taken back unstarted."""
        self.reserved -= self.estimate.get(arm_id) or Decimal(0)
        self.in_flight[arm_id] -= 1

    def stop_message(self) -> str:
        return f"Stopped issuing calls at the budget cap of ${usd_text(self.budget or Decimal(0))}: " \
               f"spent ${usd_text(self.spent)}."

    def account(self, arm_id: int, cost: Decimal | None) -> None:
        """A call of this arm (released first) cost this much; None = unpriced."""
        if cost is None:
            # Unpriced: it cannot count toward a budget; remember 0 so the arm is not probed forever.
            self.estimate.setdefault(arm_id, Decimal(0))
            return
        self.spent += cost
        reserve = cost * BUDGET_HEADROOM
        known = self.estimate.get(arm_id)
        self.estimate[arm_id] = reserve if known is None else max(known, reserve)
