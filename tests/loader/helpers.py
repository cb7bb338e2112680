"""Run the loader on Singer messages and look at the real DuckDB file.

``run_target``/``ok``/``start`` run the real console script (a subprocess); ``load`` runs the
same target in this process (no interpreter start-up: for the many small cases).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCRIPT = shutil.which("target-dataops-duckdb") or str(Path(sys.executable).parent / "target-dataops-duckdb")
PREFIX = "target-dataops-duckdb: "
REPO = Path(__file__).resolve().parents[2]


def schema(stream: str, properties: dict, keys: list[str] | None = None) -> dict:
    message = {"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": properties}}
    message["key_properties"] = ["id"] if keys is None else keys
    return message


def record(stream: str, rec: dict, **extra) -> dict:
    return {"type": "RECORD", "stream": stream, "record": rec, **extra}


def state(value: dict) -> dict:
    return {"type": "STATE", "value": value}


def activate(stream: str, version) -> dict:
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


def lines(messages: list[dict | str]) -> str:
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def error(self) -> str:
        """The loader's own error line (stderr also carries the SDK's log lines)."""
        mine = [line for line in self.stderr.splitlines() if line.startswith(PREFIX)]
        assert len(mine) == 1, self.stderr
        return mine[0][len(PREFIX):]


def write_config(db: Path, **config) -> Path:
    config_path = db.with_suffix(".config.json")
    config_path.write_text(json.dumps({"database": str(db), **config}))
    return config_path


def loader_command(config_path: Path, crash_at: str | None = None) -> list[str]:
    """The console script, or the same loader with a crash point (``tests/loader/crash_points.py``)."""
    if crash_at is None:
        return [SCRIPT, "--config", str(config_path)]
    return [sys.executable, "-m", "tests.loader.crash_points", crash_at, "--config", str(config_path)]


def loader_env(tmpdir: Path | None = None, extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra or {})}
    if tmpdir is not None:
        tmpdir.mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmpdir)  # where the loader keeps its batch files
    return env


def run_target(db: Path, messages: list[dict | str], *, crash_at: str | None = None, env: dict | None = None,
               **config) -> Result:
    proc = subprocess.run(
        loader_command(write_config(db, **config), crash_at),
        input=lines(messages).encode(),
        capture_output=True,
        timeout=120,
        check=False,
        env=loader_env(extra=env),
        cwd=REPO,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def ok(db: Path, messages: list[dict | str], **config) -> Result:
    result = run_target(db, messages, **config)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def start(db: Path, *, crash_at: str | None = None, tmpdir: Path | None = None, **config) -> subprocess.Popen:
    """The loader reading from a pipe the test writes to (``proc.stdin``)."""
    return subprocess.Popen(loader_command(write_config(db, **config), crash_at), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=loader_env(tmpdir), cwd=REPO)


def send(proc: subprocess.Popen, messages: list[dict | str]) -> None:
    proc.stdin.write(lines(messages).encode())
    proc.stdin.flush()


def send_in_background(proc: subprocess.Popen, messages: list[dict | str]) -> threading.Thread:
    """Write ``messages`` from a thread, then close the input (the loader may be killed meanwhile)."""

    def run() -> None:
        try:
            proc.stdin.write(lines(messages).encode())
            proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # killed while we were writing

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_states_until(proc: subprocess.Popen, wanted: dict) -> list[dict]:
    """Every STATE the loader prints, up to and including ``wanted``."""
    seen: list[dict] = []
    while not seen or seen[-1] != wanted:
        line = proc.stdout.readline()
        assert line, f"the loader ended before printing {wanted}: {seen}"
        seen.append(json.loads(line))
    return seen


def load(db: Path, messages: list[dict | str], **config) -> list[dict]:
    """The loader in this process, on a real database file: the STATE values it printed.

    Failures raise (a ``LoaderError`` for bad input); the database is closed either way.
    """
    from target_dataops_duckdb.target import TargetDataOpsDuckDB

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    out = io.StringIO()
    target = TargetDataOpsDuckDB(config={"database": str(db), **config})
    try:
        with contextlib.redirect_stdout(out):
            target.listen(io.BytesIO(lines(messages).encode()))
    finally:
        target.close()
        for sig, handler in handlers.items():  # the SDK installs the loader's in this process
            signal.signal(sig, handler)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def column_types(db: Path, table: str) -> dict[str, str]:
    return {name: ty for name, ty, *_ in query(db, f'DESCRIBE "{table}"')}


def tables(db: Path) -> set[str]:
    return {name for (name,) in query(db, "SELECT table_name FROM duckdb_tables()")}
