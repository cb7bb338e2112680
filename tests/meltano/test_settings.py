"""Every kind of setting meltano.yml declares works when set each way Meltano allows: an
environment variable, a line in the project's .env, and `meltano config set`. For each way the
plugins get the values with their JSON types (`meltano config print`) and a real `meltano run`
uses them.

Regression: request_timeout, retry_time_budget and max_rate_limit_wait were `kind: decimal`, which
Meltano turns into a Python Decimal when the value comes from the environment or .env, and then
cannot write to the tap's config ("TypeError: Object of type Decimal is not JSON serializable",
with a traceback). They are whole seconds now (`kind: integer`).
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from dataops_simulator import Simulator
from tests.meltano.harness import REPO, clean_env, duckdb_rows

# One setting of each kind (several for integer: the three that were decimal), as a person types
# the value, and the JSON value the plugin must receive.
TAP = {
    "string": ("user_agent", "inventory-check/1.0", "inventory-check/1.0"),
    "options": ("scope", "membership", "membership"),
    "integer": ("page_size", "50", 50),
    "integer (was decimal) request_timeout": ("request_timeout", "30", 30),
    "integer (was decimal) retry_time_budget": ("retry_time_budget", "120", 120),
    "integer (was decimal) max_rate_limit_wait": ("max_rate_limit_wait", "60", 60),
    "boolean": ("include_archived", "false", False),
    "array": ("groups", '["acme-labs"]', ["acme-labs"]),
    "object": ("endpoint_rate_limits", '{"GET /projects": [2000, 600]}', {"GET /projects": [2000, 600]}),
    "date_iso8601": ("start_date", "2020-01-01T00:00:00Z", None),  # Meltano normalises the spelling
}
LOADER = {
    "integer": ("batch_size_rows", "500", 500),
    "boolean": ("add_record_metadata", "true", True),
}
WAYS = ("environment variable", ".env", "meltano config set")


def _declared_kinds(kind: str, name: str) -> set[str]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"][kind] if p["name"] == name)
    return {s.get("kind", "string") for s in plugin["settings"] if not s.get("sensitive")}


def test_every_declared_kind_has_a_case_and_none_is_decimal():
    for kind, name, cases in (("extractors", "tap-dataops", TAP), ("loaders", "target-duckdb", LOADER)):
        covered = {case.split()[0] for case in cases} | ({"string", "options"} if kind == "loaders" else set())
        assert _declared_kinds(kind, name) <= covered, f"{name}: a setting kind without a case here"
        assert "decimal" not in _declared_kinds(kind, name), (
            "Meltano cannot pass a decimal setting from the environment or .env (Decimal is not JSON)")


@pytest.fixture(scope="module")
def small_instance():
    """A small shared instance: acme-labs is a group of the token user ("sim-token")."""
    sim = Simulator.instance(projects=20, other_projects=20, seed=8, rate_limit=None).start()
    yield sim
    sim.stop()


@pytest.fixture
def restored_project(meltano_project):
    """The shared project, with meltano.yml and .env put back as they were afterwards."""
    meltano_yml = meltano_project.root / "meltano.yml"
    dotenv = meltano_project.root / ".env"
    before = meltano_yml.read_text()
    try:
        yield meltano_project
    finally:
        meltano_yml.write_text(before)
        dotenv.unlink(missing_ok=True)


def _env_name(plugin: str, setting: str) -> str:
    return f"{plugin.upper().replace('-', '_')}_{setting.upper()}"


@pytest.mark.parametrize("way", WAYS)
def test_each_setting_kind_reaches_the_plugins_and_a_run(way, restored_project, small_instance, tmp_path):
    project = restored_project
    sim = small_instance
    sim.clear_requests()
    database = tmp_path / "settings.duckdb"
    env = clean_env(TAP_DATAOPS_API_URL=sim.url, TARGET_DUCKDB_DATABASE=str(database))
    values = [("tap-dataops", name, typed) for name, typed, _ in TAP.values()]
    values += [("target-duckdb", name, typed) for name, typed, _ in LOADER.values()]
    if way == "environment variable":
        env.update({_env_name(plugin, name): typed for plugin, name, typed in values})
    elif way == ".env":
        (project.root / ".env").write_text("".join(
            f"{_env_name(plugin, name)}='{typed}'\n" for plugin, name, typed in values))
    else:
        for plugin, name, typed in values:
            project.run("--environment", "simulator", "config", "set", plugin, name, typed, env=env)

    for plugin, cases in (("tap-dataops", TAP), ("target-duckdb", LOADER)):
        printed = project.run("--environment", "simulator", "config", "print", plugin, env=env)
        config = json.loads(printed.stdout)
        for case, (name, _typed, expected) in cases.items():
            if expected is None:
                assert str(config[name]).startswith("2020-01-01"), (way, case, config[name])
            else:
                assert config[name] == expected, (way, case, config[name])

    run = project.run("run", "--full-refresh", "--no-state-update", "tap-dataops", "target-duckdb", env=env,
                      check=False, timeout=300)
    assert run.returncode == 0, f"{way}: meltano run exited {run.returncode}\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stdout + run.stderr
    # The tap used them: 50 per page, only acme-labs' tree, no archived projects ...
    listings = [r for r in sim.requests if r.path.endswith("/projects") or r.path.endswith("/groups")]
    assert listings and all(r.query.get("per_page") == "50" for r in listings), way
    landed = duckdb_rows(database, "SELECT namespace.full_path, archived FROM projects")
    assert landed and all(path.split("/")[0] == "acme-labs" and not archived for path, archived in landed), way
    # ... and the loader: record metadata columns.
    columns = {c for (c,) in duckdb_rows(database, "SELECT column_name FROM information_schema.columns "
                                                   "WHERE table_name = 'projects'")}
    assert "_sdc_batched_at" in columns, way


def test_dotenv_is_gitignored():
    """The README keeps the token in .env "(gitignored)": git must agree."""
    checked = subprocess.run(["git", "check-ignore", "--no-index", "-q", ".env"], cwd=REPO)
    assert checked.returncode == 0, ".env is not ignored by .gitignore"
