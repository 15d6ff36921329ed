"""Retry policy: capped exponential backoff with full jitter, honouring Retry-After, bounded twice.

Bounded by a number of retries *and* a total deadline, so one identical 500 can never be retried
for days. Defaults are the platform's; an org overrides them in `Organization.settings
["provider_retry"]` and an arm in its config (`max_retries`, or `retry_*` keys in `extra`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from providers.interface import CompletionRequest

_rng = random.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    deadline_s: float = 120.0  # across every try and every wait of one call
    # A provider's 429 is its quota speaking, not a failure of the call: those are waited out (each
    # by its Retry-After) apart from `max_retries`, up to this many and the deadline. Counting them
    # as failures is what made a run against a busy provider fail attempts it could have served.
    max_rate_limited: int = 50

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))
        jittered = _rng.uniform(0, ceiling)
        # The provider knows when it will take us again; waiting less would only earn another 429.
        return max(jittered, retry_after) if retry_after is not None else jittered

    def next_retry(self, *, quota_refusal: bool, retry_after: float | None, refusals: int,
                   failures: int) -> tuple[float, bool]:
        """(seconds to wait, whether the retries are spent) after an error, given how many quota
        refusals and how many failures the call has had so far, this one included.

        A quota refusal (a 429 that says when to come back: Retry-After) waits just that, plus a
        little jitter so the refused calls of one burst do not come back as one burst, and counts
        against `max_rate_limited`; anything else, a 429 that says nothing included, is a failure:
        exponential backoff and `max_retries`."""
        if quota_refusal and retry_after is not None:
            return retry_after + _rng.uniform(0, min(0.25, retry_after / 2 + 0.02)), refusals > self.max_rate_limited
        return self.delay(failures, retry_after), failures > self.max_retries


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def retry_policy(*, org_retry: dict[str, Any], request: CompletionRequest) -> RetryPolicy:
    base = RetryPolicy()
    merged = {**org_retry, **{k.removeprefix("retry_"): v for k, v in request.extra.items() if k.startswith("retry_")}}
    max_retries = request.max_retries if request.max_retries is not None else merged.get("max_retries")
    # Whatever an org or an arm asks for, within the platform's maxima (a caller's max_retries of
    # 10**9 or a deadline of a year must not hold a worker's slot for ever).
    max_delay = settings.BENCHHUB_MAX_RETRY_DELAY_S
    return RetryPolicy(
        max_retries=_clamp(_number(max_retries, base.max_retries), settings.BENCHHUB_MAX_RETRIES),
        base_delay_s=_clamp(_number(merged.get("base_delay_s"), base.base_delay_s), max_delay),
        max_delay_s=_clamp(_number(merged.get("max_delay_s"), base.max_delay_s), max_delay),
        deadline_s=_clamp(_number(merged.get("deadline_s"), base.deadline_s), settings.BENCHHUB_MAX_RETRY_DEADLINE_S),
        # Rate-limited tries have their own budget, at most ten times the platform's default.
        max_rate_limited=_clamp(_number(merged.get("max_rate_limited"), base.max_rate_limited), 10 * base.max_rate_limited),
    )


def _clamp(value: float, ceiling: float) -> Any:
    bounded = min(max(0.0, value), ceiling) if math.isfinite(value) else ceiling
    return int(bounded) if isinstance(ceiling, int) else bounded


def call_timeout(requested: Any, default: float) -> float:
    """A call's timeout in seconds: the caller's, else `default`, never above `BENCHHUB_MAX_CALL_TIMEOUT_S`."""
    value = _number(requested, 0.0) or default
    return _clamp(value, settings.BENCHHUB_MAX_CALL_TIMEOUT_S) or default
