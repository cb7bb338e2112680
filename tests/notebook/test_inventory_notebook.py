"""notebooks/inventory.ipynb: committed without outputs, and executed top to bottom (nbclient,
a real ipykernel) against a freshly landed database laid out as on a fresh clone after the
first command, failing on any cell error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.meltano.harness import REPO, STREAMS

NOTEBOOK = REPO / "notebooks" / "inventory.ipynb"
BIN = Path(sys.executable).parent


def test_notebook_is_committed_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [], f"cell {cell.get('id')} has outputs: clear them before committing"
        assert cell["execution_count"] is None, f"cell {cell.get('id')} has an execution count"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def _land(sim, database: Path, tmp: Path) -> None:
    """tap-dataops | target-dataops-duckdb, as the main job runs them."""
    tap_config, target_config = tmp / "tap.json", tmp / "target.json"
    tap_config.write_text(json.dumps({"api_url": sim.url, "private_token": "sim-token", "requests_per_minute": 60000}))
    target_config.write_text(json.dumps({"database": str(database)}))
    tap = subprocess.Popen([BIN / "tap-dataops", "--config", tap_config], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    target = subprocess.run([BIN / "target-dataops-duckdb", "--config", target_config], stdin=tap.stdout,
                            capture_output=True, timeout=300)
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr.decode()[-2000:]


def test_notebook_runs_top_to_bottom_on_a_freshly_landed_database(simulator, tmp_path, monkeypatch):
    # A fresh clone after `python3 scripts/quickstart.py`: meltano.yml and simulator.duckdb at
    # the root, the notebook opened from notebooks/ with no DATAOPS_* variable set.
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "meltano.yml", clone / "meltano.yml")
    shutil.copy(NOTEBOOK, clone / "notebooks" / NOTEBOOK.name)
    sim = simulator(projects=80, seed=2, tokens=("sim-token",), rate_limit=None)
    _land(sim, clone / "simulator.duckdb", tmp_path)
    for name in ("DATAOPS_DUCKDB", "DATAOPS_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    notebook = nbformat.read(clone / "notebooks" / NOTEBOOK.name, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(clone / "notebooks")}})
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert f"Database: {clone / 'simulator.duckdb'}" in text
    # The first table: every landed table with its exact row count.
    first_table = next(o for o in outputs if "text/html" in o.get("data", {}))["data"]["text/plain"]
    counts = dict(line.split()[:2] for line in first_table.splitlines()[1:-1])
    assert counts == {s: f"{len(sim.truth(s)):,}" for s in STREAMS}
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) >= 8, "every section draws its chart"
    assert "Not landed yet" not in text, "all streams landed, so no section is skipped"
