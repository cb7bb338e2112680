"""Crashes and stops: a run that dies resumes without losing or duplicating a record.

The user keeps one thing between runs: the last STATE line the loader emitted. Every
rerun here starts from exactly that (or from nothing when the loader never emitted one).

- SIGKILL: the tap or the loader is killed right after the simulator answered the K-th
  request of the run (deterministic points, drawn from a seeded generator); several kills
  per seed, in a chain, then a run that completes. The database must equal the truth:
  every record, each exactly once, every field as the API serves it.
- SIGTERM and SIGINT (Ctrl-C) to the tap, to the loader, and to both at once (a terminal's
  Ctrl-C reaches the whole process group): each stops promptly with one line naming the
  signal, exit code 128 + signal; the database holds only committed batches (it opens,
  no duplicates, nothing the API does not have); the rerun from the last emitted STATE
  completes to the truth.
"""

from __future__ import annotations

import os
import random
import signal

import pytest

from tests.pipeline.harness import STREAMS, Pipeline, assert_database_equals, expected_all, key_of, rows

SEEDS = (11, 12, 13)
KILLS_PER_SEED = 4


def small_tenant(simulator, seed: int):
    return simulator(projects=40, seed=seed, rate_limit=None, pipelines_per_project=(0, 4))


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_random_points_then_resume_lands_exactly_the_truth(simulator, tmp_path, seed):
    sim = small_tenant(simulator, seed)
    rng = random.Random(seed)
    # Small batches: the loader commits (and emits STATE) often, so kills land between,
    # during and after commits.
    pipeline = Pipeline(sim, tmp_path, loader={"batch_size_rows": rng.choice((20, 50, 80))})
    kills = []
    targets = ["tap", "loader"] * (KILLS_PER_SEED // 2)
    rng.shuffle(targets)
    for target in targets:
        at = rng.randint(3, 120)  # a full run of this tenant answers about 250 requests
        run = pipeline.run(signal_at=at, target=target, sig=signal.SIGKILL)
        kills.append((target, at, run.killed, len(run.states)))
        assert "Traceback" not in run.tap_stderr + run.loader_stderr, run.describe()
        if run.killed == "tap":
            assert run.tap_rc == -signal.SIGKILL, run.describe()
            # The loader saw its input end: it commits what it has, or (input cut in the
            # middle of a line) rolls back the unfinished batch; either way, one line at most.
            assert run.loader_rc in (0, 1) and len(run.loader_errors()) == run.loader_rc, run.describe()
        elif run.killed == "loader":
            assert run.loader_rc == -signal.SIGKILL, run.describe()
            assert run.tap_rc == 1, run.describe()
            assert any("broken pipe" in line for line in run.tap_errors()), run.describe()
        else:  # the run needed fewer requests than the kill point
            assert run.ok, run.describe()
        if os.path.exists(pipeline.database):
            check_committed_only(pipeline)
    assert sum(1 for k in kills if k[2]) >= KILLS_PER_SEED - 1, kills
    final = pipeline.until_complete()
    assert final.ok
    pipeline.assert_equals_truth()


def check_committed_only(pipeline: Pipeline) -> None:
    """The database opens, holds no key twice and nothing the API does not have."""
    truth = expected_all(pipeline.sim)
    for stream in STREAMS:
        try:
            got = [key_of(r, stream) for r in rows(pipeline.database, stream)]
        except Exception as exc:  # noqa: BLE001 - a table not created yet
            assert "does not exist" in str(exc), exc
            continue
        assert len(got) == len(set(got)), f"{stream}: a key landed twice"
        assert set(got) <= {key_of(r, stream) for r in truth[stream]}, stream


SIGNALS = [
    pytest.param("tap", signal.SIGTERM, id="tap-SIGTERM"),
    pytest.param("tap", signal.SIGINT, id="tap-SIGINT"),
    pytest.param("loader", signal.SIGTERM, id="loader-SIGTERM"),
    pytest.param("loader", signal.SIGINT, id="loader-SIGINT"),
]


@pytest.mark.parametrize(("target", "sig"), SIGNALS)
def test_sigterm_and_ctrl_c_stop_cleanly_and_leave_a_resumable_state(simulator, tmp_path, target, sig):
    sim = small_tenant(simulator, 21)
    pipeline = Pipeline(sim, tmp_path, loader={"batch_size_rows": 30})
    first = pipeline.run(signal_at=250, target=target, sig=sig)
    assert first.killed == target, "the run ended before the signal: raise the tenant's size"
    name = signal.Signals(sig).name
    assert "Traceback" not in first.tap_stderr + first.loader_stderr, first.describe()
    if target == "tap":
        assert first.tap_rc == 128 + sig, first.describe()
        assert first.tap_errors() == [
            f"tap-dataops: stopped by {name}; the last STATE written covers every record before it: "
            "rerun with that state to resume"], first.describe()
        assert first.loader_rc in (0, 1), first.describe()  # 1: input cut in the middle of a line
    else:
        assert first.loader_rc == 128 + sig, first.describe()
        (line,) = first.loader_errors()
        assert f"target-dataops-duckdb: stopped by {name};" in line and "rerun from that state" in line, first.describe()
        assert first.tap_rc == 1 and len(first.tap_errors()) == 1, first.describe()
    assert first.states, "a STATE was emitted before the signal"
    check_committed_only(pipeline)
    final = pipeline.until_complete()
    assert final.ok
    pipeline.assert_equals_truth()


def test_ctrl_c_in_a_terminal_stops_both_and_the_rerun_completes(simulator, tmp_path):
    """A terminal's Ctrl-C sends SIGINT to every process of the foreground group."""
    sim = small_tenant(simulator, 22)
    pipeline = Pipeline(sim, tmp_path, loader={"batch_size_rows": 30})
    first = pipeline.run(signal_at=250, target="group", sig=signal.SIGINT)
    assert first.killed == "group"
    assert first.tap_rc == 130 and first.loader_rc == 130, first.describe()
    assert len(first.tap_errors()) == 1 and "stopped by SIGINT" in first.tap_errors()[0]
    assert len(first.loader_errors()) == 1 and "stopped by SIGINT" in first.loader_errors()[0]
    assert "Traceback" not in first.tap_stderr + first.loader_stderr
    check_committed_only(pipeline)
    pipeline.until_complete()
    pipeline.assert_equals_truth()


def test_an_interrupted_run_without_any_emitted_state_starts_over_cleanly(simulator, tmp_path):
    """Killed before the loader confirmed anything: the rerun starts from no state."""
    sim = small_tenant(simulator, 23)
    pipeline = Pipeline(sim, tmp_path)  # default batch size: nothing is committed before the end
    first = pipeline.run(signal_at=30, target="loader", sig=signal.SIGKILL)
    assert first.killed == "loader" and first.states == []
    assert pipeline.state is None
    pipeline.until_complete()
    assert_database_equals(pipeline.database, expected_all(sim))

