"""tap-dataops against the simulator, piped into target-dataops-duckdb: the database
holds exactly the simulator's projects and namespaces."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.loader.helpers import SCRIPT, column_types, query

TAP = shutil.which("tap-dataops") or str(Path(sys.executable).parent / "tap-dataops")
STREAMS = ("projects", "namespaces")


def _catalog(config_path: Path) -> dict:
    discovered = subprocess.run([TAP, "--config", str(config_path), "--discover"], capture_output=True,
                                check=True, timeout=120)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


def _same(value, got, ty: str = "") -> bool:
    """Does the stored value equal the API's JSON value (types converted as documented)?"""
    if value is None or got is None:
        return value is None and got is None
    if ty == "JSON":
        return json.loads(got) == value
    if isinstance(got, dt.datetime):
        return got == dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(got, dt.date):
        return got == dt.date.fromisoformat(value)
    if isinstance(got, dict):
        return all(_same(v, got[k]) for k, v in value.items() if k in got)
    if isinstance(got, list):
        return len(got) == len(value) and all(_same(v, g) for v, g in zip(value, got, strict=True))
    return got == value


def test_tap_to_duckdb_lands_exactly_the_simulators_projects_and_namespaces(simulator, tmp_path):
    sim = simulator(projects=60, seed=5, rate_limit=None)
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps({"api_url": sim.url, "private_token": "sim-token"}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(_catalog(tap_config)))
    db = tmp_path / "dataops.duckdb"
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"database": str(db)}))

    tap = subprocess.Popen([TAP, "--config", str(tap_config), "--catalog", str(catalog)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    target = subprocess.run([SCRIPT, "--config", str(target_config)], stdin=tap.stdout,
                            capture_output=True, timeout=240, check=False)
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr.decode()[-2000:]
    assert target.stdout.strip(), "the loader emitted the tap's final STATE"

    for stream in STREAMS:
        truth = {r["id"]: r for r in sim.truth(stream)}
        types = column_types(db, stream)
        names = list(types)
        rows = query(db, f"SELECT * FROM {stream}")
        assert len(rows) == len(truth) > 0
        landed = {row[names.index("id")]: dict(zip(names, row, strict=True)) for row in rows}
        assert set(landed) == set(truth)
        for key, expected in truth.items():
            for field, value in expected.items():
                if field in types:
                    assert _same(value, landed[key][field], types[field]), (stream, key, field)

    # Queries users will write: nested fields by path.
    paths = {r["path_with_namespace"].rsplit("/", 1)[0] for r in sim.truth("projects")}
    assert {p for (p,) in query(db, "SELECT DISTINCT namespace.full_path FROM projects")} == paths
