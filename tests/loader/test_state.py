"""STATE ordering and crash safety: kill -9 at any moment, resume from the last STATE."""

from __future__ import annotations

import json
from collections import Counter
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.loader.helpers import SCRIPT, lines, ok, query, record, schema, state

PROPS = {"id": {"type": "integer"}, "payload": {"type": "string"}}
TOTAL = 3000
STATE_EVERY = 10


def tap_output(after: int = 0) -> list[dict]:
    """What a tap would send when resumed from state {"last_id": after}."""
    messages: list[dict] = [schema("items", PROPS)]
    for i in range(after + 1, TOTAL + 1):
        messages.append(record("items", {"id": i, "payload": "x" * 200}))
        if i % STATE_EVERY == 0:
            messages.append(state({"last_id": i}))
    return messages


def start(db, **config) -> subprocess.Popen:
    config_path = db.with_suffix(".config.json")
    config_path.write_text(json.dumps({"database": str(db), **config}))
    return subprocess.Popen([SCRIPT, "--config", str(config_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def feed(proc: subprocess.Popen, messages: list[dict]) -> threading.Thread:
    def run() -> None:
        try:
            proc.stdin.write(lines(messages).encode())
            proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # killed while we were writing

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_states_follow_their_records_in_order(tmp_path):
    db = tmp_path / "t.duckdb"
    result = ok(db, tap_output(), batch_size_rows=250)
    emitted = [s["last_id"] for s in result.states]
    assert emitted == sorted(emitted) and emitted[-1] == TOTAL
    assert len(emitted) >= TOTAL // 250  # a checkpoint at every committed batch
    assert all(i % STATE_EVERY == 0 for i in emitted)


def test_state_with_nothing_buffered_is_emitted_at_once(tmp_path):
    db = tmp_path / "t.duckdb"
    proc = start(db)
    try:
        proc.stdin.write(lines([schema("items", PROPS), state({"last_id": 0})]).encode())
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"last_id": 0}  # while stdin is still open
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.parametrize("load_method", ["upsert", "append-only"])
def test_kill_9_at_any_moment_then_resume_gives_every_record_once(tmp_path, load_method):
    # Kill points: right after the first and the third STATE arrived (the loader is
    # mid-stream), and at fixed delays that land in imports, reads or transactions.
    kill_points = [("state", 1), ("state", 3), ("delay", 0.9), ("delay", 1.3)]
    if load_method == "append-only":
        kill_points = kill_points[1:3]
    for n, (kind, when) in enumerate(kill_points):
        db = tmp_path / f"{n}.duckdb"
        proc = start(db, batch_size_rows=200, load_method=load_method)
        feed(proc, tap_output())
        states: list[dict] = []
        if kind == "state":
            while len(states) < when:
                line = proc.stdout.readline()
                assert line, "the loader ended before emitting enough STATE"
                states.append(json.loads(line))
        else:
            time.sleep(when)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        states += [json.loads(x) for x in proc.stdout.read().splitlines() if x.strip()]
        last = states[-1]["last_id"] if states else 0
        if os.path.exists(db):
            # STATE was emitted only after the records before it committed.
            committed = {i for (i,) in query(db, "SELECT id FROM items")} if last else set()
            assert set(range(1, last + 1)) <= committed, (kind, when, last)
        # Resume the pipeline from the last emitted state.
        ok(db, tap_output(after=last), batch_size_rows=200, load_method=load_method)
        ids = [i for (i,) in query(db, "SELECT id FROM items")]
        assert set(ids) == set(range(1, TOTAL + 1)), (kind, when, last)
        if load_method == "upsert":
            assert len(ids) == TOTAL, (kind, when, last)  # every record exactly once
        else:
            # append-only: at least once; only records after the last STATE can repeat.
            repeated = {i for i, n in Counter(ids).items() if n > 1}
            assert all(i > last for i in repeated), (kind, when, last)


def test_sigterm_stops_with_one_line_and_keeps_committed_data(tmp_path):
    db = tmp_path / "t.duckdb"
    proc = start(db, batch_size_rows=200)
    proc.stderr = None
    feed(proc, tap_output())
    first = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, 143)  # 0 if the input had already been fully loaded
    rest = [json.loads(x) for x in proc.stdout.read().splitlines() if x.strip()]
    last = (rest or [first])[-1]["last_id"]
    ids = {i for (i,) in query(db, "SELECT id FROM items")}
    assert set(range(1, last + 1)) <= ids
