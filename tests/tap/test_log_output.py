"""What a person reads on stderr: the progress, warnings that need action and the summary,
not the SDK's per-record chatter (a bare run used to write about 4,300 lines: METRIC lines and
a copy of "Stream is assumed to be unsorted" per partition), and never a word after a closed
pipe or a second line after our one-line error."""

from __future__ import annotations

import json
import shlex
import subprocess

from tests.tap.helpers import TAP_COMMAND, catalog_for, run_tap, sim_config


def test_a_bare_run_says_only_what_a_person_reads(simulator):
    sim = simulator(projects=60, rate_limit=None)
    run = run_tap(sim_config(sim))
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stderr.splitlines()
    assert "METRIC" not in run.stderr
    assert "assumed to be unsorted" not in run.stderr
    assert "Run complete:" in lines[-1]
    # The version line, the skip warnings (one per stream), the scope and the request summary.
    assert len(lines) <= 8, "\n".join(lines)


def test_a_failing_run_prints_our_line_and_not_the_sdks(simulator):
    sim = simulator(projects=30, rate_limit=None)
    sim.expire_token("glpat-Sim-T0ken-4242", after_requests=5)
    run = run_tap(sim_config(sim))
    assert run.returncode == 1
    assert [line for line in run.stderr.splitlines() if "ERROR" in line] == []
    assert "unhandled error" not in run.stderr
    assert len(run.error_lines()) == 1 and "has expired or was revoked" in run.error_lines()[0]


def test_discover_into_a_pipe_closed_early_is_quiet(simulator, tmp_path):
    """`tap-dataops --discover | head`: head closes the pipe after a few lines; the tap stops
    without a word (it used to report a broken pipe and advise rerunning from the last STATE)."""
    sim = simulator(projects=5, rate_limit=None)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sim_config(sim)))
    tap = shlex.join([*TAP_COMMAND, "--config", str(config), "--discover"])
    head = subprocess.run(f"{tap} | head -c 100 >/dev/null; "
                          "echo rc=${PIPESTATUS[0]} >&2", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, timeout=120)
    assert head.stderr.strip().splitlines()[-1] == "rc=0", head.stderr
    assert head.stderr.strip().splitlines()[:-1] == [], head.stderr


def test_the_summary_counts_the_taps_own_pacing(simulator):
    """A run paced by the tap's own budgets (here GET /projects at 2 requests per 2 s) used to
    say "0s waited for the rate limit": the summary counts the client's pacing apart from the
    server's 429 waits."""
    sim = simulator(projects=60, rate_limit=None)
    config = sim_config(sim, page_size=10, endpoint_rate_limits={"GET /projects": [2, 2]})
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    summary = run.stderr.splitlines()[-1]
    assert "0 rate limited (0s waited for the server's rate limit" in summary, summary
    paced = int(summary.split("s of request time paced")[0].rsplit(" ", 1)[1])
    assert paced >= 2, summary  # 7 listing requests at 2 per 2 s (the budget's window adds a second)
