"""What a non-editable install carries: the tap (schemas inside), the loader behind an extra,
never the simulator (its own distribution, for tests and the demo)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tap_dataops.streams import STREAM_NAMES

ROOT = Path(__file__).resolve().parents[2]
STREAMS = set(STREAM_NAMES)


def test_wheel_ships_the_schemas_and_discovers_every_stream(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("tap_dataops-*.whl"))
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert {f"tap_dataops/schemas/{stream}.json" for stream in STREAMS} <= names
    assert "target_dataops_duckdb/target.py" in names
    assert not any(name.startswith("dataops_simulator/") for name in names), "the simulator is not a product"
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    duckdb = [line for line in requires if line.split()[1].startswith("duckdb")]
    assert duckdb and all("; extra ==" in line for line in duckdb), f"installing the tap installs DuckDB: {duckdb}"

    entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "tap-dataops" in entry_points and "target-dataops-duckdb" in entry_points
    assert "dataops-simulator" not in entry_points


    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"private_token": "x" * 20}))
    # -I: isolated from the checkout (no cwd, no editable install on the path)
    code = f"import sys; sys.path.insert(0, {str(site)!r}); from tap_dataops.tap import TapDataOps; TapDataOps.cli()"
    done = subprocess.run([sys.executable, "-I", "-c", code, "--config", str(config), "--discover"],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    catalog = json.loads(done.stdout)
    assert {entry["tap_stream_id"] for entry in catalog["streams"]} == STREAMS
    where = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(site)!r}); import tap_dataops.client as c; print(c.SCHEMAS.dir_path)"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout.strip()
    assert where == str(site / "tap_dataops" / "schemas")  # the installed copy, not the checkout's


def test_the_simulator_is_a_distribution_of_its_own(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(ROOT / "dataops_simulator")],
        check=True, capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("dataops_simulator-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dataops_simulator/server.py" in names
    assert not any(name.startswith(("tap_dataops/", "target_dataops_duckdb/")) for name in names)
