"""The chunks one executor holds: their open attempts, and the lease that fences every write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from experiments import lifecycle


class LeaseLost(Exception):
    """Another executor took a held chunk over (ours was presumed dead); stop without writing."""


@dataclass
class HeldChunk:
    pk: int
    open: int  # attempts not ended yet
    done: bool = False  # marked done in the database


class Leases:
    """Chunks leased to `token`, by index. Mutated only by the executor's thread."""

    def __init__(self, *, token: str) -> None:
        self.token = token
        self.chunks: dict[int, HeldChunk] = {}

    def hold(self, index: int, *, pk: int, open_attempts: int) -> None:
        self.chunks[index] = HeldChunk(pk=pk, open=open_attempts)

    def attempt_ended(self, index: int) -> None:
        self.chunks[index].open -= 1

    def renew(self, *, now: datetime, final: bool) -> list[HeldChunk]:
        """Inside the write's transaction: renew every held lease (or raise `LeaseLost`) and mark
        done the chunks whose attempts have all ended; returns those (`settle` them after commit)."""
        held = [c for c in self.chunks.values() if not c.done]
        # A chunk is done once every attempt of it has ended and those results are in this write.
        finished = [c for c in held if c.open == 0]
        assert not final or len(finished) == len(held), "the last write ends every chunk held"
        if not lifecycle.chunks_renew(pks=[c.pk for c in held], token=self.token, now=now):
            raise LeaseLost()
        if finished:
            lifecycle.chunks_finish(pks=[c.pk for c in finished], now=now)
        return finished

    @staticmethod
    def settle(finished: list[HeldChunk]) -> None:
        for chunk in finished:
            chunk.done = True
