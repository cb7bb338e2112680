"""The README's first command, `python3 scripts/quickstart.py`, exactly as a user types it, in a
copy of the repository whose `python3` is a brand-new virtual environment with nothing
installed: it must install everything, sync, land, build the models and report by itself."""

from __future__ import annotations

import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

from dataops_simulator import Simulator
from tests.meltano.harness import STREAMS, clean_env, copy_project, duckdb_rows

FIRST_COMMAND = ["python3", "scripts/quickstart.py"]
TOKEN = "glpat-Quickstart-S3cret-7777"  # recognisable: must never be printed
MARTS = ("access_expiring", "ci_time", "effective_access", "flaky_jobs", "namespace_tree", "owners_by_project",
         "pipeline_reliability", "project_inventory")


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the repository, and an environment whose python3 is a clean venv."""
    tmp = tmp_path_factory.mktemp("quickstart")
    clone = copy_project(tmp / "tap-dataops")
    python = tmp / "python"
    venv.EnvBuilder(with_pip=True).create(python)
    env = clean_env(PATH=f"{python / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    return clone, env


def _first_command(clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(FIRST_COMMAND, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return proc


def _printed_tables(stdout: str) -> dict[str, int]:
    return {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^  (\w+)\s+([\d,]+)$", stdout, re.M)}


def _counts(database: Path, schema: str, tables) -> dict[str, int]:
    return {t: duckdb_rows(database, f"SELECT count(*) FROM {schema}.{t}")[0][0] for t in tables}


def test_first_command_without_a_token_lands_a_shared_instance_builds_the_models_and_is_idempotent(fresh_clone):
    clone, env = fresh_clone
    first = _first_command(clone, env)
    out = first.stdout
    database = clone / "simulator.duckdb"
    assert f"Landed in {database} (environment simulator)" in out
    assert "bundled simulator at http://127.0.0.1:" in out
    assert "run inventory" in out
    assert re.search(r"Run complete: \d+ requests, \d+ retried, \d+ rate limited", out), out
    assert re.search(r"dbt-duckdb: Done\. PASS=\d+ WARN=\d+ ERROR=0 ", out), "the models were built and tested"
    assert "METRIC" not in out + first.stderr, "the SDK's metric lines are summarised, not shown"
    printed = _printed_tables(out)
    landed = _counts(database, "main", STREAMS)
    models = _counts(database, "analytics", MARTS)
    assert {s: printed[s] for s in STREAMS} == landed
    assert {m: printed[m] for m in MARTS} == models
    # The simulator the quickstart starts without a token: a shared instance seen as its user.
    instance = Simulator.instance(projects=100, seed=1)
    assert landed["projects"] == len(instance.truth("projects", token="user")) == models["project_inventory"]
    # Every stream and model has rows, but removed_projects: no project has left the scope yet.
    assert all(n for s, n in landed.items() if s != "removed_projects") and all(models.values())
    assert landed["removed_projects"] == 0
    for answer in ("Stale projects (not archived, no activity in 90+ days)", "Owners (Owner access, 50",
                   "Least reliable pipelines"):
        assert answer in out
    assert (clone / ".venv-meltano" / "bin" / "meltano").exists()

    again = _first_command(clone, env)
    assert ".venv-meltano/ is ready" in again.stdout
    assert _printed_tables(again.stdout) == printed, "a rerun upserts into the same tables and rebuilds the models"


def test_first_command_with_a_token_syncs_that_account_and_never_prints_the_token(fresh_clone, simulator):
    clone, env = fresh_clone
    # The "real account" here is a simulator that accepts only TOKEN; TAP_DATAOPS_API_URL
    # points the dataops environment at it, as it would at a self-hosted instance.
    sim = simulator(projects=20, seed=4, tokens=(TOKEN,), rate_limit=None)
    env = dict(env, TAP_DATAOPS_PRIVATE_TOKEN=TOKEN, TAP_DATAOPS_API_URL=sim.url,
               TAP_DATAOPS_REQUESTS_PER_MINUTE="60000")  # loopback: no need to pace
    proc = _first_command(clone, env)
    assert "the real DataOps.live account (token from TAP_DATAOPS_PRIVATE_TOKEN)" in proc.stdout
    assert "simulator at" not in proc.stdout
    database = clone / "dataops.duckdb"
    assert f"Landed in {database} (environment dataops)" in proc.stdout
    in_scope = {p["id"] for p in sim.truth("projects")}  # the token's scope (membership, the default)
    assert _printed_tables(proc.stdout)["projects"] == len(in_scope)
    assert {r[0] for r in duckdb_rows(database, "SELECT id FROM projects")} == in_scope
    assert _counts(database, "analytics", ["project_inventory"]) == {"project_inventory": len(in_scope)}
    assert TOKEN not in proc.stdout + proc.stderr


def test_first_command_with_a_rejected_token_fails_with_the_taps_one_line_error(fresh_clone, simulator, tmp_path):
    clone, env = fresh_clone
    sim = simulator(projects=5, seed=4, tokens=("another-token",), rate_limit=None)
    database = tmp_path / "rejected.duckdb"
    env = dict(env, TAP_DATAOPS_PRIVATE_TOKEN=TOKEN, TAP_DATAOPS_API_URL=sim.url, TARGET_DUCKDB_DATABASE=str(database))
    proc = subprocess.run(FIRST_COMMAND, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "error: tap-dataops: GET /api/v4/" in proc.stdout and "rejected the token (401" in proc.stdout
    # The loader made the tables it had a schema for before the tap stopped, and no row.
    after = proc.stdout[proc.stdout.index(f"What {database} holds after the failure"):]
    assert _printed_tables(after) == {"projects": 0}
    assert proc.stdout.rstrip().endswith("quickstart: meltano run failed (exit 1)")
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_run_that_fails_midway_reports_what_landed_not_what_was_sent(fresh_clone, simulator, tmp_path):
    """The token expires mid-run: the loader commits what it received, the run fails. The quickstart
    says so and prints the tables as the database holds them (it used to print "records synced",
    the records the tap had emitted)."""
    clone, env = fresh_clone
    sim = simulator(projects=20, seed=4, tokens=(TOKEN,), rate_limit=None)
    sim.expire_token(TOKEN, after_requests=45)
    database = tmp_path / "midway.duckdb"
    env = dict(env, TAP_DATAOPS_PRIVATE_TOKEN=TOKEN, TAP_DATAOPS_API_URL=sim.url, TARGET_DUCKDB_DATABASE=str(database),
               TAP_DATAOPS_REQUESTS_PER_MINUTE="60000")
    proc = subprocess.run(FIRST_COMMAND, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "has expired or was revoked" in out
    assert "records synced" not in out
    assert f"What {database} holds after the failure" in out
    after = out[out.index("holds after the failure"):]
    printed = _printed_tables(after)
    tables = [t for (t,) in duckdb_rows(database, "SELECT table_name FROM information_schema.tables "
                                                  "WHERE table_schema = 'main'")]
    assert printed and printed == _counts(database, "main", tables)
    assert out.rstrip().endswith("quickstart: meltano run failed (exit 1)")
    assert TOKEN not in out + proc.stderr
