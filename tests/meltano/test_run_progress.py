"""scripts/run_progress.py on a real `meltano --log-format json run` that waits for the
server's rate limit: records per stream the loader received while it runs, the waits, the
closing summary; none of the SDK's METRIC lines."""

from __future__ import annotations

import sys

from tests.meltano.harness import REPO, clean_env

sys.path.insert(0, str(REPO / "scripts"))
from run_progress import RunProgress


def test_progress_of_a_rate_limited_run(meltano_project, simulator, tmp_path):
    sim = simulator(projects=30, seed=7, tokens=("sim-token",), rate_limit=60, rate_window=2.0)
    env = clean_env(TAP_DATAOPS_API_URL=sim.url, TARGET_DUCKDB_DATABASE=str(tmp_path / "progress.duckdb"))
    run = meltano_project.run("--log-format", "json", "run", "--full-refresh", "tap-dataops", "target-duckdb",
                              env=env, timeout=300)
    shown: list[str] = []
    progress = RunProgress(out=shown.append, every=0)  # every=0: report at each line, as if the run were long
    for line in run.stderr.splitlines():
        progress.line(line)
    progress.report(prefix="  records received: ")
    text = "\n".join(shown)
    assert "records so far: " in text
    assert progress.rate_waits > 0 and ("pausing" in text or "rate limited (429)" in text)
    assert "Run complete:" in text
    assert shown[-1].startswith("  records received: ") and f"projects {len(sim.truth('projects'))}" in shown[-1]
    assert "METRIC" not in text
    assert not progress.errors
