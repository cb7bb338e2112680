"""Run the real console script on Singer messages and look at the real DuckDB file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCRIPT = shutil.which("target-dataops-duckdb") or str(Path(sys.executable).parent / "target-dataops-duckdb")
PREFIX = "target-dataops-duckdb: "


def schema(stream: str, properties: dict, keys: list[str] | None = None) -> dict:
    message = {"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": properties}}
    message["key_properties"] = ["id"] if keys is None else keys
    return message


def record(stream: str, rec: dict, **extra) -> dict:
    return {"type": "RECORD", "stream": stream, "record": rec, **extra}


def state(value: dict) -> dict:
    return {"type": "STATE", "value": value}


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


def run_target(db: Path, messages: list[dict | str], **config) -> Result:
    config_path = db.with_suffix(".config.json")
    config_path.write_text(json.dumps({"database": str(db), **config}))
    proc = subprocess.run(
        [SCRIPT, "--config", str(config_path)],
        input=lines(messages).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def ok(db: Path, messages: list[dict | str], **config) -> Result:
    result = run_target(db, messages, **config)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def column_types(db: Path, table: str) -> dict[str, str]:
    return {name: ty for name, ty, *_ in query(db, f'DESCRIBE "{table}"')}
