"""Our schemas and models suit the warehouses users fill: `meltano run tap-dataops target-postgres
dbt-postgres:build` (MeltanoLabs' meltanolabs-target-postgres and dbt-postgres, as declared in
meltano.yml) loads the shared instance's inventory into a real PostgreSQL server, keyed and typed,
and builds the same models there. Every mart must answer what the main job's DuckDB build answered
for the same tenant at the same pinned "now" (tests/meltano/shared.py): one project, two dialects
(transform/macros: nested objects as jsonb here, STRUCT in DuckDB)."""

from __future__ import annotations

import pytest

from tests.meltano import shared
from tests.meltano.harness import KEYS, STREAMS, duckdb_rows, truth_keys

SCHEMA = "dataops"  # target-postgres' default_target_schema in meltano.yml

# Per mart, columns both dialects must agree on (numbers compared to 4 decimals).
MART_COLUMNS = {
    "project_inventory": "project_id, project_path, namespace_path, top_level_namespace, visibility, "
                         "staleness_bucket, last_pipeline_status, failure_rate_30d, owners",
    "effective_access": "project_id, user_id, access_level, source, expires_at, access_basis",
    "access_expiring": "project_id, user_id, expires_at, level_after_expiry",
    "owners_by_project": "project_id, user_id, source",
    "namespace_tree": "namespace_id, namespace_path, namespace_kind, depth, projects_in_subtree",
    "pipeline_reliability": "project_id, ref, cast(week_start as date), runs, failure_rate",
    "flaky_jobs": "pipeline_id, job_name, project_id",
    "ci_time": "project_id, runner_id, user_id, cast(month_start as date), job_minutes",
}


def _text(value) -> str:
    """One field as psql prints it, numbers to 4 decimals (double vs numeric)."""
    if value is None or value == "":
        return ""
    if isinstance(value, list):  # a DuckDB list; Postgres prints {a,b}
        return "{" + ",".join(str(v) for v in value) + "}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4f}"


def _normalised(rows) -> list[tuple[str, ...]]:
    return sorted(tuple(_text(v) for v in row) for row in rows)


@pytest.fixture(scope="module")
def landed(meltano_project, postgres, inventory):
    """The main job's tenant, loaded into Postgres and modelled there (the models' "now" pinned
    to the DuckDB build's)."""
    postgres.psql("postgres", "DROP DATABASE IF EXISTS inventory")
    postgres.psql("postgres", "CREATE DATABASE inventory")
    env = inventory.env(
        TARGET_POSTGRES_HOST=postgres.host, TARGET_POSTGRES_PORT=str(postgres.port),
        TARGET_POSTGRES_USER=postgres.user, TARGET_POSTGRES_PASSWORD="unused-trust-auth",
        TARGET_POSTGRES_DATABASE="inventory",
    )
    run = meltano_project.run("run", "--full-refresh", "tap-dataops", "target-postgres", "dbt-postgres:build",
                                env=env, timeout=600)
    return env, run


def test_every_stream_lands_keyed_and_typed(landed, postgres, inventory):
    for stream in STREAMS:
        columns = ", ".join(KEYS[stream])
        got = {tuple(int(v) for v in row)
               for row in postgres.psql("inventory", f"SELECT {columns} FROM {SCHEMA}.{stream}")}
        assert got == truth_keys(inventory.sim, stream, token=shared.TOKEN_KIND), stream

    # Declared keys became primary keys; JSON Schema types became column types.
    primary = postgres.psql("inventory", f"""
        SELECT tc.table_name, string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position)
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = '{SCHEMA}' GROUP BY 1""")
    assert dict(primary) == {s: ",".join(KEYS[s]) for s in STREAMS}
    types = {(t, c): ty for t, c, ty in postgres.psql("inventory", f"""
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = '{SCHEMA}'""")}
    assert types[("projects", "id")] == "bigint"
    assert types[("projects", "namespace")] == "jsonb"
    assert types[("projects", "archived")] == "boolean"
    assert types[("projects", "created_at")].startswith("timestamp")
    assert types[("project_members", "expires_at")] == "date"
    assert types[("jobs", "duration")] in ("numeric", "double precision", "decimal")

    project = inventory.truth("projects")[0]
    ((full_path, created),) = postgres.psql("inventory", f"""
        SELECT namespace->>'full_path', to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS')
        FROM {SCHEMA}.projects WHERE id = {project['id']}""")
    assert full_path == project["namespace"]["full_path"]
    assert created == project["created_at"][:19]


def test_dbt_build_on_postgres_passes_every_test(landed):
    _, run = landed
    log = run.stdout + run.stderr
    assert "ERROR=0" in log and "Completed successfully" in log, log[-3000:]


@pytest.mark.parametrize("mart", MART_COLUMNS)
def test_every_mart_answers_as_on_duckdb(landed, postgres, inventory, mart):
    columns = MART_COLUMNS[mart]
    want = _normalised(duckdb_rows(inventory.database, f"SELECT {columns} FROM analytics.{mart}"))
    got = _normalised(postgres.psql("inventory", f"SELECT {columns} FROM analytics.{mart}"))
    assert want, f"{mart} is empty on DuckDB"
    assert got == want


def test_a_scheduled_run_upserts_never_duplicates(landed, meltano_project, postgres):
    """The scheduled run again, from Meltano's saved state: rows are upserted, never duplicated."""
    env, _ = landed
    before = {s: postgres.psql("inventory", f"SELECT count(*) FROM {SCHEMA}.{s}") for s in STREAMS}
    meltano_project.run("run", "tap-dataops", "target-postgres", env=env, timeout=600)
    assert {s: postgres.psql("inventory", f"SELECT count(*) FROM {SCHEMA}.{s}") for s in STREAMS} == before
