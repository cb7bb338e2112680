"""The whole pipeline as a user schedules it: ``tap-dataops | target-dataops-duckdb``.

Two real subprocesses of the console scripts joined by a pipe (the tap's stdout is the
loader's stdin), against the simulator on loopback, into a real DuckDB file. The STATE a
user keeps between runs is the last line the *loader* emitted: that is the only state
whose records are known to be committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import typing as t
from collections import Counter
from pathlib import Path

import duckdb

from tap_dataops.streams import STREAM_TYPES

BIN = Path(sys.executable).parent
TAP = shutil.which("tap-dataops", path=str(BIN)) or shutil.which("tap-dataops") or "tap-dataops"
LOADER = (shutil.which("target-dataops-duckdb", path=str(BIN)) or shutil.which("target-dataops-duckdb")
          or "target-dataops-duckdb")
SIMULATOR = shutil.which("dataops-simulator", path=str(BIN)) or shutil.which("dataops-simulator") or "dataops-simulator"

TOKEN = "glpat-Sim-T0ken-4242"  # the simulator fixture accepts it (tests/conftest.py)
TAP_PREFIX = "tap-dataops: "
LOADER_PREFIX = "target-dataops-duckdb: "

# The streams a default catalog selects (bridges are not selected by default), in sync order,
# and every stream's key: from the tap itself.
STREAMS = tuple(vars(s)["name"] for s in STREAM_TYPES if getattr(s, "selected_by_default", True))
KEYS = {vars(s)["name"]: tuple(s.primary_keys or ()) for s in STREAM_TYPES}
PARENT_STREAMS = ("projects", "namespaces", "groups")
# The simulator's name for what a stream holds, where it differs.
TRUTH_NAMES = {"project_members_all": "effective_access"}


def tap_config(sim, **overrides) -> dict:
    """The default (membership) scope, as sim.truth() is.
    Loopback answers instantly: the tap's default 600/min budget would only slow tests down."""
    return {"api_url": sim.url, "private_token": TOKEN, "requests_per_minute": 60_000, **overrides}




@dataclasses.dataclass
class PipelineRun:
    tap_rc: int
    loader_rc: int
    states: list[dict]  # what the loader emitted, in order
    tap_stderr: str
    loader_stderr: str
    killed: str | None = None  # "tap" or "loader" when the test signalled one of them

    @property
    def ok(self) -> bool:
        return self.tap_rc == 0 and self.loader_rc == 0

    @property
    def last_state(self) -> dict | None:
        return self.states[-1] if self.states else None

    def tap_errors(self) -> list[str]:
        return [line for line in self.tap_stderr.splitlines() if line.startswith(TAP_PREFIX)]

    def loader_errors(self) -> list[str]:
        return [line for line in self.loader_stderr.splitlines() if line.startswith(LOADER_PREFIX)]

    def describe(self) -> str:
        return (f"tap rc={self.tap_rc} loader rc={self.loader_rc} killed={self.killed}\n"
                f"--- tap stderr (tail)\n{self.tap_stderr[-2500:]}\n"
                f"--- loader stderr (tail)\n{self.loader_stderr[-1500:]}")


class Pipeline:
    """Runs ``tap | loader`` repeatedly into one database, as a scheduler would."""

    def __init__(self, sim, folder: Path, *, tap: dict | None = None, loader: dict | None = None,
                 env: dict | None = None) -> None:
        self.sim = sim
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.database = self.folder / "dataops.duckdb"
        self.tap_settings = tap_config(sim, **(tap or {}))
        self.loader_settings = {"database": str(self.database), **(loader or {})}
        self.env = {**os.environ, **(env or {})}
        self.runs: list[PipelineRun] = []
        self.state: dict | None = None  # the last STATE the loader emitted, over all runs
        self._n = 0

    def run(self, *, signal_at: int | None = None, target: str = "tap", sig: int = signal.SIGKILL,
            state: dict | t.Literal["kept"] | None = "kept", timeout: float = 120) -> PipelineRun:
        """One scheduled run from the kept state. With ``signal_at``: send ``sig`` to the
        ``target`` process ("tap" or "loader") right after the simulator answered that many
        more requests (deterministic, unlike a sleep). ``target="group"`` signals both, as
        a terminal's Ctrl-C does (they share a process group of their own)."""
        self._n += 1
        folder = self.folder / f"run{self._n}"
        folder.mkdir()
        tap_cfg, loader_cfg = folder / "tap.json", folder / "loader.json"
        tap_cfg.write_text(json.dumps(self.tap_settings))
        loader_cfg.write_text(json.dumps(self.loader_settings))
        tap_cmd = [TAP, "--config", str(tap_cfg)]
        use_state = self.state if state == "kept" else state
        if use_state is not None:
            (folder / "state.json").write_text(json.dumps(use_state))
            tap_cmd += ["--state", str(folder / "state.json")]
        tap_err = open(folder / "tap.stderr", "w+b")  # noqa: SIM115
        loader_err = open(folder / "loader.stderr", "w+b")  # noqa: SIM115
        group = {"process_group": 0} if target == "group" else {}
        tap = subprocess.Popen(tap_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=tap_err,
                               env=self.env, **group)
        if group:
            group = {"process_group": tap.pid}
        loader = subprocess.Popen([LOADER, "--config", str(loader_cfg)], stdin=tap.stdout,
                                  stdout=subprocess.PIPE, stderr=loader_err, env=self.env, **group)
        tap.stdout.close()  # the loader's end only: the tap sees EPIPE if the loader dies
        armed = threading.Event()
        fired: list[str] = []
        if signal_at is not None:
            victim = tap if target == "tap" else loader
            armed.set()

            def loader_ready() -> bool:
                # Its signal handlers are installed once it has logged its version line.
                loader_err.flush()
                return b"target-dataops-duckdb v" in Path(loader_err.name).read_bytes()

            def fire(_tenant) -> None:
                if armed.is_set() and target in ("loader", "group") and not loader_ready():
                    self.sim.after_requests(1, fire)  # not yet: at the next request
                    return
                if armed.is_set():

                    armed.clear()
                    fired.append(target)
                    try:
                        if target == "group":
                            os.killpg(tap.pid, sig)
                        else:
                            victim.send_signal(sig)
                    except ProcessLookupError:
                        pass

            self.sim.after_requests(signal_at, fire)
        try:
            out, _ = loader.communicate(timeout=timeout)
            tap_rc = tap.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tap.kill()
            loader.kill()
            tap.wait()
            loader.wait()
            raise AssertionError(f"the pipeline hung for {timeout}s (tap or loader did not end)") from None
        finally:
            armed.clear()  # a run that ended before the n-th request: the hook must not fire later
        states = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        tap_err.seek(0)
        loader_err.seek(0)
        result = PipelineRun(tap_rc, loader.returncode, states, tap_err.read().decode("utf-8", "replace"),
                             loader_err.read().decode("utf-8", "replace"), fired[0] if fired else None)
        tap_err.close()
        loader_err.close()
        if states:
            self.state = states[-1]
        self.runs.append(result)
        return result

    def until_complete(self, max_runs: int = 6, **kwargs: t.Any) -> PipelineRun:
        for _ in range(max_runs):
            result = self.run(**kwargs)
            if result.ok:
                return result
        raise AssertionError(f"no run completed in {max_runs} attempts:\n{self.runs[-1].describe()}")

    # -- the database --------------------------------------------------------------

    def rows(self, stream: str) -> list[dict]:
        return rows(self.database, stream)

    def assert_equals_truth(self, expected: dict[str, list[dict]] | None = None) -> None:
        assert_database_equals(self.database, expected or expected_all(self.sim))


# -- what should land ------------------------------------------------------------------


def expected(sim, stream: str, token: str | None = None, scope: str = "membership") -> list[dict]:
    """The truth the token can read: children of 403/404 projects are not readable
    (the same definition as tests/tap/test_inventory.py). No project has left the scope
    in a first run (removed_projects)."""
    if stream == "removed_projects":
        return []
    unreadable = set(sim.tenant.not_found_ids)
    if stream in ("pipelines", "jobs", "bridges"):
        unreadable |= set(sim.tenant.ci_disabled_ids)
    truth = sim.truth(TRUTH_NAMES.get(stream, stream), token=token, scope=scope)
    return [{k: v for k, v in r.items() if k != "source"} if stream == "project_members_all" else r
            for r in truth if r.get("project_id") not in unreadable]


def expected_all(sim, token: str | None = None, scope: str = "membership") -> dict[str, list[dict]]:
    return {stream: expected(sim, stream, token, scope) for stream in STREAMS}



# Fields the tap does not ask for (group statistics need statistics=true and an
# administrator's token); the simulator's truth has them, the API's answers to the tap do not.
NOT_REQUESTED = {"groups": {"statistics", "root_storage_statistics"}}


def when(sim, predicate: t.Callable[[list], bool], action: t.Callable[[], None]) -> None:
    """Run ``action`` once, right after the first answered request for which
    ``predicate(requests served so far)`` holds, before that answer is sent."""

    def check(_tenant) -> None:
        if predicate(sim.requests):
            action()
        else:
            sim.after_requests(1, check)

    sim.after_requests(1, check)


def key_of(record: dict, stream: str) -> tuple:
    return tuple(record[k] for k in KEYS[stream])


def rows(database: Path, stream: str) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(f'SELECT * FROM "{stream}"')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def tables(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def same(value: t.Any, got: t.Any) -> bool:
    """Does a stored value equal the API's JSON value (types converted as the loader documents)?"""
    if value is None or got is None:
        return value is None and got is None
    if isinstance(got, dt.datetime):
        return got == dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if isinstance(got, dt.date):
        return got == dt.date.fromisoformat(str(value)[:10])
    if isinstance(got, dict):
        return isinstance(value, dict) and all(same(v, got[k]) for k, v in value.items() if k in got)
    if isinstance(got, list):
        return isinstance(value, list) and len(got) == len(value) and all(same(v, g) for v, g in zip(value, got, strict=True))
    if isinstance(got, str) and not isinstance(value, str):  # JSON columns
        try:
            return json.loads(got) == value
        except ValueError:
            return False
    if isinstance(got, float) or isinstance(value, float):
        return float(got) == float(value)
    return got == value


def assert_database_equals(database: Path, want: dict[str, list[dict]]) -> None:
    """Every stream's table holds exactly these records: no missing key, no extra key,
    no key twice, and every field the table has equal to the API's value."""
    for stream, records in want.items():
        got = rows(database, stream)
        got_keys = [key_of(r, stream) for r in got]
        doubled = [k for k, n in Counter(got_keys).items() if n > 1]
        assert not doubled, f"{stream}: {len(doubled)} key(s) landed twice, e.g. {doubled[:5]}"
        want_keys = {key_of(r, stream) for r in records}
        missing, extra = want_keys - set(got_keys), set(got_keys) - want_keys
        assert not missing and not extra, (
            f"{stream}: {len(missing)} missing (e.g. {sorted(missing)[:5]}), "
            f"{len(extra)} unexpected (e.g. {sorted(extra)[:5]})")
        by_key = {key_of(r, stream): r for r in got}
        skip = NOT_REQUESTED.get(stream, set())
        for record in records:
            row = by_key[key_of(record, stream)]
            for field, value in record.items():
                if field in row and field not in skip:
                    assert same(value, row[field]), (stream, key_of(record, stream), field, value, row[field])


def stop(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=30)
