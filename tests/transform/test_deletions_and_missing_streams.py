"""The models on a database the main job did not make: rows deleted at the source kept with
_sdc_deleted_at (the loader's hard_delete off), optional streams missing (bridges not selected, no
project_members_all as in databases landed before it existed). `dbt build` must pass; staging keeps
live rows only; the history of a deleted project stays, marked; and effective_access falls back to
computing GitLab's answer from the member lists, which must then equal it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.meltano.harness import clean_env, duckdb_rows

BIN = Path(sys.executable).parent


def _land(sim, database: Path, tmp: Path) -> None:
    """tap-dataops | target-dataops-duckdb with hard_delete off, as an administrator sees the tenant."""
    tap_config, target_config = tmp / "tap.json", tmp / "target.json"
    tap_config.write_text(json.dumps({"api_url": sim.url, "private_token": "sim-token", "scope": "instance",
                                      "requests_per_minute": 60000}))
    target_config.write_text(json.dumps({"database": str(database), "hard_delete": False}))
    tap = subprocess.Popen([BIN / "tap-dataops", "--config", tap_config], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    target = subprocess.run([BIN / "target-dataops-duckdb", "--config", target_config], stdin=tap.stdout,
                            capture_output=True, timeout=300)
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr.decode()[-2000:]


def test_deleted_rows_and_missing_streams(meltano_project, simulator, tmp_path):
    sim = simulator(projects=12, seed=9, tokens=("sim-token",), rate_limit=None)
    database = tmp_path / "older.duckdb"
    _land(sim, database, tmp_path)
    pipelines_per_project = dict(duckdb_rows(database, "SELECT project_id, count(*) FROM pipelines GROUP BY ALL"))
    gone = max(pipelines_per_project, key=lambda p: (pipelines_per_project[p], p))
    sim.tenant.delete_projects([gone])
    _land(sim, database, tmp_path)  # the deletion reaches the database as _sdc_deleted_at
    with duckdb.connect(str(database)) as con:
        ((deleted_at,),) = con.execute(f"SELECT _sdc_deleted_at FROM projects WHERE id = {gone}").fetchall()
        assert deleted_at is not None
        con.execute("DROP TABLE project_members_all")  # as before the stream existed
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "bridges" not in tables, "bridges is not selected by default"

    build = meltano_project.run("invoke", "dbt-duckdb", "build", check=False, timeout=300,
                                env=clean_env(DBT_DUCKDB_PATH=str(database)))
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    assert " ERROR=0 " in build.stdout + build.stderr

    truth_projects = {p["id"] for p in sim.truth("projects", scope="instance")}
    assert gone not in truth_projects
    inventory = {p for (p,) in duckdb_rows(database, "SELECT project_id FROM analytics.project_inventory")}
    assert inventory == truth_projects, "a deleted project leaves the inventory"
    history = duckdb_rows(database, f"""
        SELECT sum(runs), bool_or(project_is_live) FROM analytics.pipeline_reliability WHERE project_id = {gone}""")
    assert history == [(pipelines_per_project[gone], False)], "its pipelines stay, marked as not live"

    access = {(p, u): (level, basis) for p, u, level, basis in duckdb_rows(database, """
        SELECT project_id, user_id, access_level, access_basis FROM analytics.effective_access""")}
    assert {basis for _, basis in access.values()} == {"member_lists"}
    truth = {(r["project_id"], r["id"]): r["access_level"] for r in sim.truth("effective_access", scope="instance")}
    assert {k: level for k, (level, _) in access.items()} == truth, "computed from the member lists, as GitLab does"
    assert all(r[0] in truth_projects for r in access), "no access to a deleted project"
