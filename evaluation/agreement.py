"""How far to trust a judge: agreement between two profiles (shadow) and with ground truth (calibration).

Plain numbers in, plain dicts out; scipy does the rank correlations. Undefined statistics (too few
items, no variance) are None, never a made-up 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scipy import stats as scipy_stats


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ of two pass/fail raters on the same items: (p_o − p_e) / (1 − p_e).

    None when there are no items or chance agreement is already total (both raters constant and
    equal), where κ is undefined.
    """
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if math.isclose(expected, 1.0):
        return None
    return round((observed - expected) / (1 - expected), 6)


def confusion(predicted: Sequence[bool], truth: Sequence[bool]) -> dict[str, int]:
    """`tp` judge pass & truth pass, `fp` judge pass & truth fail, `fn`, `tn`."""
    pairs = list(zip(predicted, truth, strict=True))
    return {"tp": sum(1 for p, t in pairs if p and t), "fp": sum(1 for p, t in pairs if p and not t),
            "fn": sum(1 for p, t in pairs if not p and t), "tn": sum(1 for p, t in pairs if not p and not t)}


def _correlation(result: Any) -> float | None:
    value = float(result.statistic if hasattr(result, "statistic") else result[0])
    return None if math.isnan(value) else round(value, 6)


def shadow_report(scores_a: Sequence[float], scores_b: Sequence[float], passed_a: Sequence[bool],
                  passed_b: Sequence[bool]) -> dict[str, Any]:
    """Two profiles on the same attempts (both scored): pass/fail agreement rate, Spearman and
    Kendall correlation of the overall scores, Cohen's κ on pass/fail."""
    n = len(scores_a)
    report: dict[str, Any] = {"n": n, "agreement": None, "spearman": None, "kendall": None,
                              "kappa": cohen_kappa(passed_a, passed_b)}
    if n:
        report["agreement"] = round(sum(1 for x, y in zip(passed_a, passed_b, strict=True) if x == y) / n, 6)
    if n >= 2 and len(set(scores_a)) > 1 and len(set(scores_b)) > 1:
        report["spearman"] = _correlation(scipy_stats.spearmanr(scores_a, scores_b))
        report["kendall"] = _correlation(scipy_stats.kendalltau(scores_a, scores_b))
    return report


def calibration_report(judge_passed: Sequence[bool], truth_passed: Sequence[bool]) -> dict[str, Any]:
    """The judge's pass against ground truth (PR tests): κ, agreement and the confusion matrix."""
    n = len(judge_passed)
    agreement = round(sum(1 for x, y in zip(judge_passed, truth_passed, strict=True) if x == y) / n, 6) if n else None
    return {"n": n, "kappa": cohen_kappa(judge_passed, truth_passed), "agreement": agreement,
            "confusion": confusion(judge_passed, truth_passed)}


def drift_alarm(*, recorded: dict[str, Any], current: dict[str, Any], tolerance: float = 0.05) -> bool:
    """True when the current κ on the fixed calibration set fell below the recorded one by more than
    `tolerance` (also when κ became undefined where it was defined)."""
    before, now = recorded.get("kappa"), current.get("kappa")
    if before is None:
        return False
    return now is None or now < before - tolerance
