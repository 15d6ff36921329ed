"""What the leaderboards app does when the experiments app says something happened: send a task."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from benchhub.dispatch import task_send
from experiments.signals import run_finished
from leaderboards.services import REFRESH_TASK


@receiver(run_finished, dispatch_uid="leaderboards.run_finished")
def _final_boards(sender: Any, *, run_id: int, **_: Any) -> None:
    """A run ended (sent on commit): compute its final boards on the scoring queue."""
    task_send(REFRESH_TASK, run_id)
