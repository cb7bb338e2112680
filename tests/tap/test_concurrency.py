"""Concurrent fetching: the same output as a sequential run, one budget, flat memory."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tests.tap.helpers import TAP_COMMAND, catalog_for, run_tap, sim_config


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


def test_many_threads_share_one_budget_and_meet_no_429(simulator):
    # The server allows 40 requests per 3-second window; 8 threads must stay under it.
    sim = simulator(projects=40, seed=4, rate_limit=40, rate_window=3.0)
    run = run_tap(sim_config(sim, max_concurrency=8))
    assert run.returncode == 0, run.stderr[-2000:]
    assert [r for r in sim.requests if r.status == 429] == []
    assert len(sim.requests) > 120  # several windows' worth
    assert sorted(run.ids("jobs")) == sorted(
        j["id"] for j in sim.truth("jobs")
        if j["project_id"] not in sim.tenant.ci_disabled_ids | sim.tenant.not_found_ids
    )


def _peak_rss_mb(config: dict, catalog: dict) -> float:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "config.json").write_text(json.dumps(config))
        Path(folder, "catalog.json").write_text(json.dumps(catalog))
        process = subprocess.Popen(
            [*TAP_COMMAND, "--config", f"{folder}/config.json", "--catalog", f"{folder}/catalog.json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 0
        return usage.ru_maxrss / 1024


def test_peak_memory_does_not_grow_with_the_number_of_records(simulator):
    small = simulator(projects=1_000, seed=2, rate_limit=None)
    large = simulator(projects=6_000, seed=2, rate_limit=None)
    catalog = catalog_for(["projects", "namespaces"], sim_config(small))
    small_mb = _peak_rss_mb(sim_config(small), catalog)
    large_mb = _peak_rss_mb(sim_config(large), catalog)
    # six times the records; the tap holds a page or two at a time
    assert large_mb < small_mb + 25, (small_mb, large_mb)
