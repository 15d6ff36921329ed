"""The built-in rubric versions, as data. `rubrics_ensure` writes them as `Rubric` rows the first time
they are needed (a flushed or fresh database gets them back); a built-in version is never edited, a
change is a new version here or a row of a new version made by platform staff in admin.

Version 1: PR work (technical quality, correctness confidence, change risk), QA and RAG
(correctness, faithfulness to the given context, hallucination), data cleaning.
"""

from __future__ import annotations

from typing import Any

from evaluation.models import Rubric

SCALE = {"min": 1, "max": 5, "weight": 1.0}
PR = [
    {"key": "technical_quality", "description": "Is the change clean, idiomatic and minimal for what the task asks? "
                                                "5 = what a senior engineer would write, 1 = unacceptable.", **SCALE},
    {"key": "correctness_confidence", "description": "How sure are you that the change does what the task asks, "
                                                     "given the code and the validation results? 5 = certain, "
                                                     "1 = it is wrong.", **SCALE},
    {"key": "change_risk", "description": "How safe is it to merge? 5 = no risk to other behaviour, "
                                          "1 = likely to break something.", **SCALE},
]
QA = [
    {"key": "correctness", "description": "Does the answer answer the task correctly (compare with the reference "
                                          "when there is one)? 5 = fully correct, 1 = wrong.", **SCALE},
    {"key": "faithfulness", "description": "Is every claim supported by the task and the given context? "
                                           "5 = fully supported, 1 = contradicts them.", **SCALE},
    {"key": "hallucination", "description": "Does the answer avoid invented facts? 5 = nothing invented, "
                                            "1 = mostly invented.", **SCALE},
]
DATA_CLEANING = [
    {"key": "correctness", "description": "Are the errors in the table fixed without changing correct values? "
                                          "5 = all fixed, nothing broken, 1 = not cleaned or damaged.", **SCALE},
    {"key": "format", "description": "Is the answer the table only, same header and row order? 5 = exactly, "
                                     "1 = not a table.", **SCALE},
]
_V1 = {"pr": (PR, 0.6), "qa": (QA, 0.6), "rag": (QA, 0.6), "data_cleaning": (DATA_CLEANING, 0.6)}


BUILTIN: dict[str, dict[str, tuple[list[dict[str, Any]], float]]] = {"1": _V1}


def rubrics_ensure(version: str) -> None:
    """Store the built-in rubrics of `version` if they are not stored yet (idempotent)."""
    for kind, (criteria, threshold) in BUILTIN.get(version, {}).items():
        Rubric.objects.get_or_create(version=version, kind=kind,
                                     defaults={"criteria": criteria, "pass_threshold": threshold})
