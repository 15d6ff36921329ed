"""What the experiments app tells the apps above it. Receivers only send a task (STYLE.md)."""

from __future__ import annotations

from django.dispatch import Signal

# A run ended (its final status is committed). Sent with `run_id`; the leaderboards app connects
# the receiver that sends its refresh task.
run_finished = Signal()
