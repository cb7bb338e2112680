"""notebooks/inventory.ipynb: committed without outputs, and executed top to bottom (nbclient,
a real ipykernel) on the main job's database (tests/meltano/shared.py: raw tables in schema
main, the marts in analytics), laid out as on a fresh clone after the first command; and on a
database whose marts are not built yet."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

from tests.meltano import shared
from tests.meltano.harness import REPO, STREAMS
from tests.pipeline.harness import expected

NOTEBOOK = REPO / "notebooks" / "inventory.ipynb"
MARTS = ("project_inventory", "effective_access", "access_expiring", "owners_by_project", "namespace_tree",
         "pipeline_reliability", "flaky_jobs", "ci_time")
NOT_BUILT = "Not built yet: run `meltano run inventory` (or python3 scripts/quickstart.py)"


def test_notebook_is_committed_without_outputs():
    """The committed notebook has no outputs or execution counts, and runs on the python3 kernel."""
    notebook = json.loads(NOTEBOOK.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [], f"cell {cell.get('id')} has outputs: clear them before committing"
        assert cell["execution_count"] is None, f"cell {cell.get('id')} has an execution count"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def _clone(tmp_path: Path, database: Path) -> Path:
    """A fresh clone after `python3 scripts/quickstart.py`: meltano.yml and simulator.duckdb (a copy
    of ``database``) at the root, the notebook in notebooks/."""
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "meltano.yml", clone / "meltano.yml")
    shutil.copy(NOTEBOOK, clone / "notebooks" / NOTEBOOK.name)
    shutil.copy(database, clone / "simulator.duckdb")
    return clone


def _execute(clone: Path) -> list:
    """Run the notebook from the clone's notebooks/ with no DATAOPS_* variable set (nbclient raises
    CellExecutionError on the first failing cell); every output of its code cells."""
    notebook = nbformat.read(clone / "notebooks" / NOTEBOOK.name, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(clone / "notebooks")}})
    client.execute()
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]


def _text(outputs: list) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


def _first_table(outputs: list) -> dict[str, str]:
    """The first table the notebook shows, as {table_name: rows} (its plain-text form)."""
    first = next(o for o in outputs if "text/html" in o.get("data", {}))["data"]["text/plain"]
    return dict(line.split()[:2] for line in first.splitlines()[1:-1])


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> Path:
    """A python3 kernel in a venv of its own, as `pip install -e '.[notebook]'` gives a user: the
    notebook extra's packages but JupyterLab (the editor, not needed to execute). Its kernelspec
    lives in the returned Jupyter data directory."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebook"]
    packages = [p for p in extra if not p.startswith("jupyterlab")]
    from uv import find_uv_bin

    root = tmp_path_factory.mktemp("kernel")
    uv, venv = find_uv_bin(), root / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True, capture_output=True, timeout=120)
    subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
                    *packages], check=True, capture_output=True, timeout=600)
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (notebook extra)", "language": "python"}))
    return root / "jupyter"


@pytest.fixture
def kernel_env(monkeypatch, kernel_dir):
    for name in ("DATAOPS_DUCKDB", "DATAOPS_SCHEMA", "DATAOPS_MODELS_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def test_notebook_reads_the_marts_of_the_main_job(inventory, tmp_path, kernel_env):
    """On the main job's database the notebook runs without an error; its first table counts
    every landed raw table exactly (the rows a full sync with the job's token must land); it
    draws one chart per mart; and it shows answers a user checks, equal to the marts' own
    (the stale projects, the top owner) read here independently with duckdb."""
    assert inventory.run.returncode == 0, inventory.run.stderr[-3000:]
    clone = _clone(tmp_path, inventory.database)
    outputs = _execute(clone)

    assert not [o for o in outputs if o.output_type == "error"]
    text = _text(outputs)
    assert f"Database: {clone / 'simulator.duckdb'}" in text
    assert _first_table(outputs) == {
        s: f"{len(expected(inventory.sim, s, shared.TOKEN_KIND)):,}" for s in STREAMS}
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) >= len(MARTS), "every mart's section draws its chart"
    assert "Not built yet" not in text, "the main job built every mart, so no section is skipped"

    with duckdb.connect(str(inventory.database), read_only=True) as con:
        live, stale = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE staleness_bucket <> 'active')
            FROM analytics.project_inventory WHERE NOT archived""").fetchone()
        owner, owned = con.execute("""
            SELECT username, count(*) FROM analytics.owners_by_project
            GROUP BY username ORDER BY count(*) DESC, username LIMIT 1""").fetchone()
        for mart in MARTS:  # every mart's row count, in the notebook's table of marts
            (rows,) = con.execute(f"SELECT count(*) FROM analytics.{mart}").fetchone()
            assert any(line.split() == [mart, f"{rows:,}"] for line in text.splitlines()), mart
    assert 0 < stale < live, "the shared tenant has stale and active live projects"
    assert f"{stale:,} of {live:,} live projects are stale" in text
    assert f"Top owner: {owner} owns {owned:,} project(s)." in text


def test_notebook_says_how_to_build_the_marts_when_they_are_not_built(inventory, tmp_path, kernel_env):
    """On a database with the raw tables but no analytics schema (landed, `dbt build` not run)
    the notebook still runs without an error: it lists the raw tables, says the marts are not built
    yet and how to build them, and draws no chart."""
    raw_only = tmp_path / "raw-only.duckdb"
    with duckdb.connect(str(raw_only)) as con:
        con.execute(f"ATTACH '{inventory.database}' AS job (READ_ONLY)")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'job' "
            "AND table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]
        for table in tables:
            con.execute(f'CREATE TABLE main."{table}" AS SELECT * FROM job.main."{table}"')
        con.execute("DETACH job")
        assert not con.execute("SELECT * FROM information_schema.schemata WHERE schema_name = 'analytics'").fetchall()
    assert set(tables) == set(STREAMS)
    clone = _clone(tmp_path, raw_only)
    outputs = _execute(clone)

    assert not [o for o in outputs if o.output_type == "error"]
    text = _text(outputs)
    assert NOT_BUILT in text
    assert set(_first_table(outputs)) == set(STREAMS)
    assert not [o for o in outputs if "image/png" in o.get("data", {})]
    assert "Traceback" not in text
