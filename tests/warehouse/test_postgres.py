"""Our schemas suit the loaders users fill their warehouses with: `meltano run tap-dataops
target-postgres` (MeltanoLabs' meltanolabs-target-postgres, as declared in meltano.yml)
loads the simulator's whole inventory into a real PostgreSQL server, keyed and typed."""

from __future__ import annotations

from tests.meltano.harness import STREAMS, KEYS, clean_env, truth_keys

SCHEMA = "dataops"  # target-postgres' default_target_schema in meltano.yml


def _keys(postgres, stream: str) -> set[tuple]:
    columns = ", ".join(KEYS.get(stream, ("id",)))
    return {tuple(int(v) for v in row) for row in postgres.psql("inventory", f"SELECT {columns} FROM {SCHEMA}.{stream}")}


def test_meltano_run_into_postgres_lands_every_stream_keyed_and_typed(warehouse_project, postgres, simulator):
    postgres.psql("postgres", "DROP DATABASE IF EXISTS inventory")
    postgres.psql("postgres", "CREATE DATABASE inventory")
    sim = simulator(projects=60, seed=6, tokens=("sim-token",), rate_limit=None)
    env = clean_env(
        TAP_DATAOPS_API_URL=sim.url,
        TARGET_POSTGRES_HOST=postgres.host, TARGET_POSTGRES_PORT=str(postgres.port),
        TARGET_POSTGRES_USER=postgres.user, TARGET_POSTGRES_PASSWORD="unused-trust-auth",
        TARGET_POSTGRES_DATABASE="inventory",
    )

    warehouse_project.run("run", "--full-refresh", "tap-dataops", "target-postgres", env=env, timeout=600)
    for stream in STREAMS:
        assert _keys(postgres, stream) == truth_keys(sim, stream), stream

    # Declared keys became primary keys; JSON Schema types became column types.
    primary = postgres.psql("inventory", f"""
        SELECT tc.table_name, string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position)
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = '{SCHEMA}' GROUP BY 1""")
    assert dict(primary) == {s: ",".join(KEYS.get(s, ("id",))) for s in STREAMS}
    types = {(t, c): ty for t, c, ty in postgres.psql("inventory", f"""
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = '{SCHEMA}'""")}
    assert types[("projects", "id")] == "bigint"
    assert types[("projects", "namespace")] == "jsonb"
    assert types[("projects", "archived")] == "boolean"
    assert types[("projects", "created_at")].startswith("timestamp")
    assert types[("project_members", "expires_at")] == "date"
    assert types[("jobs", "duration")] in ("numeric", "double precision", "decimal")

    project = sim.truth("projects")[0]
    ((full_path, storage, created),) = postgres.psql("inventory", f"""
        SELECT namespace->>'full_path', (statistics->>'storage_size')::bigint, to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS')
        FROM {SCHEMA}.projects WHERE id = {project['id']}""")
    assert full_path == project["namespace"]["full_path"]
    assert int(storage) == project["statistics"]["storage_size"]
    assert created == project["created_at"][:19]

    # The scheduled run again, from Meltano's saved state: rows are upserted, never duplicated.
    before = {s: postgres.psql("inventory", f"SELECT count(*) FROM {SCHEMA}.{s}") for s in STREAMS}
    warehouse_project.run("run", "tap-dataops", "target-postgres", env=env, timeout=600)
    assert {s: postgres.psql("inventory", f"SELECT count(*) FROM {SCHEMA}.{s}") for s in STREAMS} == before
