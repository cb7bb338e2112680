"""STATE output: each STATE covers finished work only, and however many projects there
are, STATE stays a fraction of the output.

Every STATE is the whole tap state, which holds one pipelines bookmark per project; the
SDK asks for one after every partition it finishes (each project's members and
pipelines, each pipeline's jobs), so writing each one made the output grow with the
square of the projects: 66 MB for 500 projects whose records take 21 MB.
"""

from __future__ import annotations

import json

from tests.tap.helpers import run_tap, sim_config


def test_state_is_a_fraction_of_the_output_and_never_ahead_of_the_records(simulator):
    sim = simulator(projects=300, seed=31, rate_limit=None)
    run = run_tap(sim_config(sim))
    assert run.returncode == 0, run.stderr[-2000:]

    lines = run.stdout.splitlines()
    record_bytes = sum(len(line) for line in lines if line.startswith('{"type":"RECORD"'))
    state_lines = [line for line in lines if line.startswith('{"type":"STATE"')]
    final = json.loads(state_lines[-1])["value"]
    partitions = final["bookmarks"]["pipelines"]["partitions"]
    assert len(partitions) > 200, "the state holds a partition per project"
    assert sum(map(len, state_lines)) < record_bytes / 3
    # Still a checkpoint along the way (a crash loses little), not only one at the end.
    assert len(state_lines) >= 10

    # No STATE claims a pipeline the output has not carried yet.
    newest: dict[int, str] = {}
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == "pipelines":
            project, updated = message["record"]["project_id"], message["record"]["updated_at"]
            newest[project] = max(newest.get(project, ""), updated)
        elif message["type"] == "STATE":
            for partition in message["value"]["bookmarks"].get("pipelines", {}).get("partitions", []):
                bookmark = partition.get("replication_key_value")
                if bookmark is not None:
                    assert bookmark <= newest[partition["context"]["project_id"]], partition
    bookmarks = {p["context"]["project_id"]: p["replication_key_value"]
                 for p in partitions if "replication_key_value" in p}

    assert bookmarks == newest  # and the last one covers every pipeline
