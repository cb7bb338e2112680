"""Concurrent fetching: the same output as a sequential run.

The shared budget is tested in test_rate_limits.py (at the real 600 a minute, and end to end);
peak memory per tenant size is a figure of benchmarks/tap_benchmark.py, not a threshold here."""

from __future__ import annotations

import json

from tests.tap.helpers import run_tap, sim_config


def test_concurrent_output_and_state_are_identical_to_sequential(simulator):
    sim = simulator(projects=120, seed=9, rate_limit=None, latency=0.002, jitter=0.002)
    sequential = run_tap(sim_config(sim, max_concurrency=1))
    concurrent = run_tap(sim_config(sim, max_concurrency=8))
    assert sequential.returncode == 0 and concurrent.returncode == 0, concurrent.stderr[-2000:]

    def records(run):
        return [(m["stream"], m["record"]) for m in run.messages if m["type"] == "RECORD"]

    assert len(records(sequential)) > 1000
    assert records(concurrent) == records(sequential)  # same records, in the same order
    # The same bookmarks (partitions may be listed in another order: they are created when
    # a project's children are first fetched, which happens earlier when fetching ahead).
    assert normalised(concurrent.states()[-1]) == normalised(sequential.states()[-1])


def normalised(state: dict) -> dict:
    bookmarks = {}
    for stream, value in state["bookmarks"].items():
        value = dict(value)
        if "partitions" in value:
            value["partitions"] = sorted(value["partitions"], key=lambda p: json.dumps(p["context"], sort_keys=True))
        bookmarks[stream] = value
    return bookmarks
