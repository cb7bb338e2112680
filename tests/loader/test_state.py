"""STATE ordering and crash safety: killed at a chosen point, resumed from the last STATE.

Every kill point is an event the test controls, never a delay: the loader killed before it
read anything, once a given STATE is on its stdout, with half a batch buffered after it
(the input then pauses), or inside a batch's transaction (``tests/loader/crash_points.py``).
"""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest

from tests.loader.helpers import (
    PREFIX,
    load,
    query,
    read_states_until,
    record,
    run_target,
    schema,
    send,
    send_in_background,
    start,
    state,
)

PROPS = {"id": {"type": "integer"}, "payload": {"type": "string"}}
TOTAL = 3000
STATE_EVERY = 10
BATCH = 200
STOPPED = ("stopped by {}; records after the last STATE it printed were not committed, "
           "rerun from that state")


def tap_output(after: int = 0, upto: int = TOTAL) -> list[dict]:
    """What a tap would send when resumed from state {"last_id": after}, up to record ``upto``."""
    messages: list[dict] = [schema("items", PROPS)]
    for i in range(after + 1, upto + 1):
        messages.append(record("items", {"id": i, "payload": "x" * 200}))
        if i % STATE_EVERY == 0:
            messages.append(state({"last_id": i}))
    return messages


def test_states_follow_their_records_in_order(tmp_path):
    emitted = [s["last_id"] for s in load(tmp_path / "t.duckdb", tap_output(), batch_size_rows=250)]
    assert emitted == sorted(emitted) and emitted[-1] == TOTAL
    assert len(emitted) >= TOTAL // 250  # a checkpoint at every committed batch
    assert all(i % STATE_EVERY == 0 for i in emitted)


def test_state_with_nothing_buffered_is_emitted_at_once(tmp_path):
    proc = start(tmp_path / "t.duckdb")
    try:
        send(proc, [schema("items", PROPS), state({"last_id": 0})])
        assert json.loads(proc.stdout.readline()) == {"last_id": 0}  # while stdin is still open
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def killed(proc, states: list[dict]) -> list[dict]:
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    return states + [json.loads(x) for x in out.splitlines() if x.strip()]


KILL_POINTS = [
    *(("upsert", point) for point in ("before-input", "state-1", "state-3", "half-a-batch-after-a-state",
                                      "inside-a-commit")),
    *(("append-only", point) for point in ("state-3", "half-a-batch-after-a-state", "inside-a-commit")),
]


@pytest.mark.parametrize(("load_method", "kill_point"), KILL_POINTS)
def test_killed_then_resumed_from_the_last_state_gives_every_record(tmp_path, load_method, kill_point):
    db = tmp_path / "t.duckdb"
    config = {"batch_size_rows": BATCH, "load_method": load_method}
    states: list[dict] = []
    if kill_point == "inside-a-commit":  # SIGKILL inside the second batch's transaction
        states = run_target(db, tap_output(), crash_at="kill-before-commit:load_batch:2", **config).states
    else:
        proc = start(db, **config)
        if kill_point.startswith("state-"):  # mid-stream: the input keeps coming
            send_in_background(proc, tap_output())
            for _ in range(int(kill_point[-1])):
                states.append(json.loads(proc.stdout.readline()))
        elif kill_point == "half-a-batch-after-a-state":
            send(proc, tap_output(upto=BATCH + BATCH // 2))  # then the input pauses, still open
            states = read_states_until(proc, {"last_id": BATCH})
        states = killed(proc, states)
    last = states[-1]["last_id"] if states else 0
    committed = [i for (i,) in query(db, "SELECT id FROM items")] if db.exists() and last else []
    # STATE was emitted only after the records before it committed; nothing uncommitted survived.
    assert set(range(1, last + 1)) <= set(committed), (kill_point, last)
    if kill_point in ("half-a-batch-after-a-state", "inside-a-commit"):
        assert sorted(committed) == list(range(1, BATCH + 1)), kill_point
    # Resume the pipeline from the last emitted state.
    load(db, tap_output(after=last), **config)
    ids = [i for (i,) in query(db, "SELECT id FROM items")]
    assert set(ids) == set(range(1, TOTAL + 1)), (kill_point, last)
    if load_method == "upsert":
        assert len(ids) == TOTAL, (kill_point, last)  # every record exactly once
    else:
        # append-only: at least once; only records after the last STATE can repeat.
        repeated = {i for i, n in Counter(ids).items() if n > 1}
        assert all(i > last for i in repeated), (kill_point, last)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_stops_with_one_line_and_exit_143(tmp_path, sig):
    """Half a batch is buffered after the last STATE, and the input stays open: the loader
    must stop now (not finish, not commit), say so in one line, and exit 128 + n."""
    db = tmp_path / "t.duckdb"
    proc = start(db, tmpdir=tmp_path / "tmp", batch_size_rows=BATCH)
    send(proc, tap_output(upto=BATCH + BATCH // 2))
    read_states_until(proc, {"last_id": BATCH})
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err.decode()[-2000:]
    assert out == b"", "nothing more on stdout after the signal"
    stderr = err.decode()
    assert [x for x in stderr.splitlines() if x.startswith(PREFIX)] == [
        PREFIX + STOPPED.format(signal.Signals(sig).name)]
    assert "Traceback" not in stderr
    assert sorted(i for (i,) in query(db, "SELECT id FROM items")) == list(range(1, BATCH + 1))
    assert list((tmp_path / "tmp").iterdir()) == [], "the batch files are removed"


def test_sigterm_while_duckdb_runs_a_query_rolls_back_with_the_same_line(tmp_path):
    """The signal lands inside DuckDB (the second batch's transaction): DuckDB interrupts the
    query, the transaction rolls back, and the user sees exactly what any SIGTERM shows."""
    db = tmp_path / "t.duckdb"
    result = run_target(db, tap_output(upto=3 * BATCH), crash_at="term-in-query:load_batch:2",
                        batch_size_rows=BATCH)
    assert result.returncode == 143, result.stderr[-2000:]
    assert "crash_points: the query ended with" in result.stderr  # it was inside DuckDB
    assert result.error == STOPPED.format("SIGTERM")
    assert "Traceback" not in result.stderr
    assert [s["last_id"] for s in result.states] == [BATCH - STATE_EVERY, BATCH]
    assert sorted(i for (i,) in query(db, "SELECT id FROM items")) == list(range(1, BATCH + 1))


def test_sigterm_whose_exception_was_swallowed_still_commits_nothing(tmp_path):
    """The handler's exception can be lost on its way (DuckDB reports "Query interrupted"
    instead, a broad ``except Exception`` drops it): the transaction checks before COMMIT."""
    db = tmp_path / "t.duckdb"
    result = run_target(db, tap_output(upto=3 * BATCH), crash_at="term-swallowed:load_batch:2",
                        batch_size_rows=BATCH)
    assert result.returncode == 143, result.stderr[-2000:]
    assert result.error == STOPPED.format("SIGTERM")
    assert sorted(i for (i,) in query(db, "SELECT id FROM items")) == list(range(1, BATCH + 1))
