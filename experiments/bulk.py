"""Batched writes of many rows in one statement, for the attempt pipeline's hot path.

Django's `bulk_update` builds a `CASE WHEN id = ... THEN ...` expression per field and row; for a
few hundred attempts and twenty fields that is tens of thousands of expression objects and most
of a worker's CPU (measured with py-spy in benchmarks/run_throughput.py). On PostgreSQL one
`UPDATE ... FROM unnest(<one array per column>)` does the same work with the values bound as
parameters. Other databases (SQLite for the embedded default) keep `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.db.models import Model

from experiments.models import Attempt


def update_rows(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of `objs` (all saved rows of `model`) in one statement."""
    if not objs:
        return 0
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, list(fields), batch_size=500)
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    q = connection.ops.quote_name
    # One array per column: the statement's text is the same whatever the number of rows, so
    # psycopg parses it once per process (its query cache is keyed by the text) and no parameter
    # limit applies.
    arrays = ", ".join([f"%s::{pk.db_type(connection)}[]"] + [f"%s::{_cast_type(f)}[]" for f in columns])
    names = ", ".join(q(f.column) for f in columns)
    assignments = ", ".join(f"{q(f.column)} = v.{q(f.column)}" for f in columns)
    sql = (
        f"UPDATE {q(meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({arrays}) AS v({q(pk.column)}, {names}) "
        f"WHERE t.{q(pk.column)} = v.{q(pk.column)}"
    )
    params: list[list[object]] = [[obj.pk for obj in objs]]
    for field in columns:
        attname = field.attname
        params.append([field.get_db_prep_save(getattr(obj, attname), connection) for obj in objs])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _cast_type(field: models.Field) -> str:
    db_type = field.db_type(connection) or "text"
    # "integer CHECK (...)"-style types carry their constraint; the cast needs the bare type.
    return db_type.split(" CHECK", 1)[0]


def insert_attempts_for_run(*, run_id: int, experiment_id: int, samples: int, chunk_size: int, queued_at) -> int:  # type: ignore[no-untyped-def]
    """PostgreSQL: every attempt of a new run in one `INSERT ... SELECT` (task instances x samples x arms).

    10,000 attempts through `bulk_create` cost seconds of Python at run start; here the database
    generates the rows. Columns not named take the model's defaults, so a field added later keeps
    working. Order and chunking match the ORM path in `runs.run_start`.
    """
    dynamic = {"run", "task_instance", "arm", "sample", "chunk", "queued_at"}
    defaults = [
        f for f in Attempt._meta.concrete_fields
        if not f.primary_key and f.name not in dynamic and not f.null and f.has_default()
    ]
    q = connection.ops.quote_name
    columns = ["run_id", "task_instance_id", "arm_id", "sample", "chunk", "queued_at", *(f.column for f in defaults)]
    default_sql = "".join(f", %s::{_cast_type(f)}" for f in defaults)
    default_params = [f.get_db_prep_save(f.get_default(), connection) for f in defaults]
    sql = (
        f"INSERT INTO {q(Attempt._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
        "SELECT ti.run_id, ti.id, a.id, s.n, "
        "(row_number() OVER (ORDER BY ti.position, s.n, a.position) - 1) / %s, %s" + default_sql + " "
        "FROM experiments_taskinstance ti CROSS JOIN generate_series(0, %s - 1) AS s(n) "
        "JOIN experiments_arm a ON a.experiment_id = %s "
        "WHERE ti.run_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [chunk_size, queued_at, *default_params, samples, experiment_id, run_id])
        return cursor.rowcount


def insert_task_instances_for_run(*, run_id: int, dataset_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_taskinstance (run_id, case_id, position) "
            "SELECT %s, c.id, c.position FROM experiments_case c WHERE c.dataset_id = %s",
            [run_id, dataset_id],
        )
        return cursor.rowcount
