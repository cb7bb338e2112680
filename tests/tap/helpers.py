"""Running the real tap-dataops command line and reading its Singer output."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from collections import Counter
from pathlib import Path

TOKEN = "glpat-Sim-T0ken-4242"  # recognisable, so tests can prove it never leaks

TAP_COMMAND = [sys.executable, "-c", "from tap_dataops.tap import TapDataOps; TapDataOps.cli()"]


@dataclasses.dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict]

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def ids(self, stream: str) -> list[int]:
        return [r["id"] for r in self.records(stream)]

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("tap-dataops:")]


def sim_config(sim, **overrides) -> dict:
    """The tap's config for a simulator, in the default (membership) scope, as sim.truth() is.

    The simulator answers at loopback speed: the tap's own 600/min budget would only slow the
    tests down (tests of the budget set requests_per_minute themselves)."""
    return {"api_url": sim.url, "private_token": TOKEN, "requests_per_minute": 60_000, **overrides}




def catalog_for(streams: t.Iterable[str], config: dict) -> dict:
    """The tap's own discovered catalog with only ``streams`` selected."""
    discovered = run_tap(config, "--discover")
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    wanted = set(streams)
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in wanted
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = selected
    return catalog


def run_tap(
    config: dict,
    *args: str,
    catalog: dict | None = None,
    state: dict | None = None,
    env: dict | None = None,
    timeout: float = 300,
) -> TapRun:
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder, "config.json")
        config_path.write_text(json.dumps(config))
        command = [*TAP_COMMAND, "--config", str(config_path), *args]
        if catalog is not None:
            Path(folder, "catalog.json").write_text(json.dumps(catalog))
            command += ["--catalog", str(Path(folder, "catalog.json"))]
        if state is not None:
            Path(folder, "state.json").write_text(json.dumps(state))
            command += ["--state", str(Path(folder, "state.json"))]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
    messages = []
    if "--discover" not in args and "--about" not in args:
        messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    return TapRun(completed.returncode, completed.stdout, completed.stderr, messages)


def duplicates(ids: list[int]) -> list[int]:
    return [i for i, n in Counter(ids).items() if n > 1]
