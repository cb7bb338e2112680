"""A non-editable install carries the schemas inside the package."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STREAMS = {"projects", "namespaces", "groups", "project_members", "group_members", "pipelines", "jobs"}


def test_wheel_ships_the_schemas_and_discovers_every_stream(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("tap_dataops-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tap_dataops/schemas/{stream}.json" for stream in STREAMS} <= names

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
