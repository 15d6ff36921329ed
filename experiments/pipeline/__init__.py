"""The attempt pipeline: execute a run's attempts, chunk by chunk, with many provider calls in flight.

Shape of one chunk task (`executor.chunk_execute`), one of the run's lanes:

1. **Claim** the chunk (`lifecycle.chunk_claim`: pending/enqueued, or running with an expired lease,
   or already ours: a Celery retry or redelivery of the same task id, which also takes back every
   other chunk it had gone on to). Anyone else gets "skipped".
2. **Load** the chunk's attempts that have not ended. Ended ones (succeeded/failed/cancelled) are
   never called again: that is what makes a redelivered chunk skip what is already done and keeps
   a finished attempt from being billed twice.
3. **Call** (`loop`): the provider calls run on one asyncio event loop per process (a daemon
   thread), up to the run's concurrency split over its lanes; the task's own thread owns every
   database write, so the loop never blocks on the ORM. The thread prepares requests ahead (up to
   the limit again, none with a budget) and the loop starts the next one the moment a call ends
   (`Feed`), so a free slot never waits for this thread; a prepared call counts as started only
   once the loop reports it, and stopping takes the unstarted ones back as never issued.
4. **Go on**: before the chunk runs dry the lane claims the run's next pending chunk and feeds its
   attempts behind the current ones, for up to `BENCHHUB_RUN_LANE_SLICE_SECONDS`, so that chunk
   boundaries cost no idle slots. Every chunk held is leased and fenced like the first (`leases`).
5. **Flush** in batches (every `BENCHHUB_RUN_FLUSH_SECONDS` or `BENCHHUB_RUN_FLUSH_BATCH` results):
   inside one transaction the held chunks' leases are renewed *conditionally* (the fence: an
   executor whose lease was taken over writes nothing), results are written in one statement
   (`results`), a chunk whose attempts have all ended is marked done, attempts still in flight
   are marked running, and the run's counters move by `F()` deltas. A flush also reads the run's
   cancel/budget state. That is a handful of queries per batch, far below one per attempt.
6. **Finish**: the last flush marks the last chunk done; the lane then hands itself (through the
   queue) the next pending chunk, or the last chunk finalizes the run (`lifecycle.chunk_after`).

With a budget (`budget.BudgetGuard`) a call is issued only while spent + in flight stays under it.

Infrastructure failures (the database going away) never write a terminal state: the exception
propagates, the chunks stay leased to the same task id, and Celery's retry (or redelivery) picks it
up again with every unfinished attempt still unfinished.
"""
