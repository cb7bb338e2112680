"""meltano.yml: what it declares matches the plugins, and the main job really runs.

The declarations are checked against the plugins' own ``--about``; the runs use real
Meltano (its own venv, `meltano install`) in a temporary copy of the project, against
the bundled simulator on loopback.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.meltano import shared
from tests.meltano.harness import KEYS, REPO, STREAMS, about, clean_env, duckdb_rows, truth_keys

BIN = Path(sys.executable).parent
# JSON Schema type -> Meltano kind. Numbers are integers in meltano.yml: Meltano cannot pass a
# `decimal` from the environment or .env (test_settings.py).
KIND_FOR_TYPE = {"string": "string", "integer": "integer", "number": "integer", "boolean": "boolean",
                 "array": "array", "object": "object"}
MAIN_CAPABILITIES = {"catalog", "state", "discover", "about", "stream-maps", "schema-flattening", "batch"}
TOKEN = "glpat-Meltano-T0ken-9191"  # recognisable: must never appear in any output


def _plugin(kind: str, name: str) -> dict:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    return next(p for p in project["plugins"][kind] if p["name"] == name)


def _expected_kind(schema: dict) -> str:
    json_type = next(t for t in schema["type"] if t != "null")
    if json_type == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    return KIND_FOR_TYPE[json_type]


@pytest.mark.parametrize(("kind", "name", "executable", "pip_url"), [
    ("extractors", "tap-dataops", "tap-dataops", "-e ."),
    ("loaders", "target-duckdb", "target-dataops-duckdb", "-e .[duckdb]"),
])
def test_every_setting_is_declared_with_its_kind_default_and_secrecy(kind, name, executable, pip_url):
    plugin = _plugin(kind, name)
    assert plugin["pip_url"] == pip_url
    assert plugin["executable"] == executable
    declared = {s["name"]: s for s in plugin["settings"]}
    properties = about(BIN / executable)["settings"]["properties"]
    wanted = properties if kind == "extractors" else {
        k: v for k, v in properties.items() if k in ("database", "schema", "load_method", "batch_size_rows",
                                                      "add_record_metadata", "hard_delete")}
    missing = sorted(set(wanted) - set(declared))
    assert not missing, f"{name} settings missing from meltano.yml: {missing}"
    assert set(declared) <= set(properties), f"meltano.yml declares settings {name} lacks"
    for setting, schema in wanted.items():
        entry = declared[setting]
        if "enum" in schema or setting == "load_method":
            assert entry["kind"] == "options"
        else:
            assert entry["kind"] == _expected_kind(schema), setting
        assert entry.get("sensitive", False) == bool(schema.get("secret")), setting
        if schema.get("secret"):
            assert entry["env"] == f"TAP_DATAOPS_{setting.upper()}"
            assert "value" not in entry, "a secret has no value in meltano.yml"
        if "value" in entry and "default" in schema and setting != "database":
            assert entry["value"] == schema["default"], setting


def test_capabilities_are_the_taps_own():
    declared = set(_plugin("extractors", "tap-dataops")["capabilities"])
    assert MAIN_CAPABILITIES <= declared <= set(about(BIN / "tap-dataops")["capabilities"])
    loader = set(_plugin("loaders", "target-duckdb")["capabilities"])
    assert loader <= set(about(BIN / "target-dataops-duckdb")["capabilities"])


def test_config_list_and_print_show_settings_as_a_meltano_user_expects(meltano_project):
    listed = meltano_project.run("config", "list", "tap-dataops", "--all").stdout
    for setting in about(BIN / "tap-dataops")["settings"]["properties"]:
        assert re.search(rf"^{setting}( \(.*\))? \[env: TAP_DATAOPS_{setting.upper()}\]", listed, re.M), setting
    assert "Group 1: private_token" in listed

    env = clean_env(TAP_DATAOPS_PRIVATE_TOKEN=TOKEN)
    printed = meltano_project.run("--environment", "dataops", "config", "print", "tap-dataops", env=env)
    config = json.loads(printed.stdout)
    assert config["api_url"] == "https://app.dataops.live/api/v4"
    assert config["private_token"] != TOKEN and TOKEN not in printed.stdout + printed.stderr

    # `meltano config` ignores default_environment: name it, as `meltano run` would use it.
    simulator = ("--environment", "simulator", "config", "print")
    simulator_config = json.loads(meltano_project.run(*simulator, "tap-dataops").stdout)
    assert simulator_config["requests_per_minute"] >= 60000
    assert simulator_config["api_url"].startswith("http://127.0.0.1:")
    loader = json.loads(meltano_project.run(*simulator, "target-duckdb").stdout)
    assert loader["database"] == str(meltano_project.root / "simulator.duckdb")


def test_invoke_runs_the_installed_tap(meltano_project):
    invoked = meltano_project.run("invoke", "tap-dataops", "--about", "--format", "json")
    assert json.loads(invoked.stdout)["name"] == "tap-dataops"


def test_job_and_daily_schedule(meltano_project):
    schedules = json.loads(meltano_project.run("schedule", "list", "--format", "json").stdout)
    (schedule,) = schedules["schedules"]["job"]
    assert schedule["interval"] == "@daily"
    assert schedule["job"]["name"] == "inventory"
    assert schedule["job"]["tasks"] == ["tap-dataops target-duckdb dbt-duckdb:build"]


def test_transformers_build_the_models_in_the_loaders_warehouse(meltano_project):
    simulator = ("--environment", "simulator", "config", "print")
    duckdb = json.loads(meltano_project.run(*simulator, "dbt-duckdb").stdout)
    loader = json.loads(meltano_project.run(*simulator, "target-duckdb").stdout)
    assert duckdb["path"] == loader["database"], "dbt builds in the file the loader fills"
    assert duckdb["project_dir"] == duckdb["profiles_dir"] == str(meltano_project.root / "transform")
    assert (duckdb["target"], duckdb["source_schema"]) == ("duckdb", loader["schema"])
    postgres = json.loads(meltano_project.run(*simulator, "dbt-postgres").stdout)
    target_postgres = json.loads(meltano_project.run(*simulator, "target-postgres").stdout)
    assert (postgres["target"], postgres["source_schema"]) == ("postgres", target_postgres["default_target_schema"])


def test_main_job_lands_the_instance_builds_the_models_then_syncs_incrementally(inventory):
    """`meltano run inventory` (tap, loader, dbt build) against a shared instance, as its user."""
    database, sim = inventory.database, inventory.sim
    log = inventory.run.stdout + inventory.run.stderr
    assert "Run complete:" in log
    assert "Done. PASS=" in log and " ERROR=0 " in log, "dbt build ran every model and test, none failed"
    for stream in STREAMS:
        keys = ", ".join(KEYS.get(stream, ("id",)))
        landed = set(duckdb_rows(database, f"SELECT {keys} FROM {stream}"))
        assert landed == truth_keys(sim, stream, token=shared.TOKEN_KIND), stream
        assert landed or stream == "removed_projects", stream  # no project has left the scope yet
    members_all = set(duckdb_rows(database, "SELECT project_id, id FROM project_members_all"))
    assert members_all == {(r["project_id"], r["id"]) for r in inventory.truth("effective_access")}
    marts = {t for (t,) in duckdb_rows(database, "SELECT table_name FROM information_schema.tables "
                                                 "WHERE table_schema = 'analytics'")}
    assert marts >= {"project_inventory", "effective_access", "access_expiring", "owners_by_project",
                     "namespace_tree", "pipeline_reliability", "flaky_jobs", "ci_time"}

    project = inventory.truth("projects")[0]
    ((full_path, created_at),) = duckdb_rows(
        database, f"SELECT namespace.full_path, created_at FROM projects WHERE id = {project['id']}")
    assert full_path == project["namespace"]["full_path"]
    assert created_at.isoformat().startswith(project["created_at"][:19])

    before = {s: duckdb_rows(database, f"SELECT count(*) FROM {s}")[0][0] for s in STREAMS}
    sim.clear_requests()
    # The scheduled sync again (the job's extract and load; its dbt build is proven above).
    inventory.project.run("run", "tap-dataops", "target-duckdb", env=inventory.env())
    assert 0 < len(sim.requests) < inventory.requests, "the second run resumed from Meltano's saved state"
    after = {s: duckdb_rows(database, f"SELECT count(*) FROM {s}")[0][0] for s in STREAMS}
    assert after == before, "an incremental run upserts; it never duplicates rows"
    assert "simulator:tap-dataops-to-target-duckdb" in inventory.project.run("state", "list").stdout


def test_real_account_environment_without_a_token_stops_before_any_request(meltano_project, tmp_path):
    env = clean_env(TARGET_DUCKDB_DATABASE=str(tmp_path / "never.duckdb"))
    failed = meltano_project.run("--environment", "dataops", "run", "tap-dataops", "target-duckdb",
                                 env=env, check=False, timeout=180)
    assert failed.returncode != 0
    assert "no token configured" in failed.stdout + failed.stderr
