"""The README's first command, `python3 scripts/quickstart.py`, exactly as a user types it, in a
copy of the repository whose `python3` is a brand-new virtual environment with nothing
installed: it must install everything, sync, land and report by itself."""

from __future__ import annotations

import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

from tests.meltano.harness import STREAMS, clean_env, copy_project, duckdb_rows

FIRST_COMMAND = ["python3", "scripts/quickstart.py"]
TOKEN = "glpat-Quickstart-S3cret-7777"  # recognisable: must never be printed


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


def test_first_command_without_a_token_installs_and_lands_the_simulator_and_is_idempotent(fresh_clone):
    clone, env = fresh_clone
    first = _first_command(clone, env)
    out = first.stdout
    database = clone / "simulator.duckdb"
    assert f"Landed in {database} (environment simulator)" in out
    assert "bundled simulator at http://127.0.0.1:" in out
    assert re.search(r"Run complete: \d+ requests, \d+ retried, \d+ rate limited", out), out
    assert "records synced: " in out
    assert "METRIC" not in out + first.stderr, "the SDK's metric lines are summarised, not shown"
    printed = _printed_tables(out)
    landed = {s: duckdb_rows(database, f"SELECT count(*) FROM {s}")[0][0] for s in STREAMS}
    assert printed == landed
    assert landed["projects"] == 250 and all(landed.values())
    assert (clone / ".venv-meltano" / "bin" / "meltano").exists()

    again = _first_command(clone, env)
    assert ".venv-meltano/ is ready" in again.stdout
    assert _printed_tables(again.stdout) == landed, "a rerun upserts into the same tables"


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
    assert _printed_tables(proc.stdout)["projects"] == 20
    assert {r[0] for r in duckdb_rows(database, "SELECT id FROM projects")} == {p["id"] for p in sim.truth("projects")}
    assert TOKEN not in proc.stdout + proc.stderr


def test_first_command_with_a_rejected_token_fails_with_the_taps_one_line_error(fresh_clone, simulator):
    clone, env = fresh_clone
    sim = simulator(projects=5, seed=4, tokens=("another-token",), rate_limit=None)
    env = dict(env, TAP_DATAOPS_PRIVATE_TOKEN=TOKEN, TAP_DATAOPS_API_URL=sim.url)
    proc = subprocess.run(FIRST_COMMAND, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "error: tap-dataops: GET /api/v4/" in proc.stdout and "rejected the token (401" in proc.stdout
    assert proc.stdout.rstrip().endswith("quickstart: meltano run failed (exit 1)")
    assert TOKEN not in proc.stdout + proc.stderr
