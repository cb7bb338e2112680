"""The tap's stdout writer: every message out whole and in order, STATE paced by size and time.

In-process, writing to a real byte stream: the end-to-end runs (tests/tap, tests/pipeline)
never produce a message larger than the buffer, nor wait a minute between STATEs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_dataops import output
from tap_dataops.output import BufferedMessageWriter, PacedStateWriter


class Stdout:
    """Everything written to sys.stdout so far (pytest's capsysbinary), as messages."""

    def __init__(self, capture) -> None:
        self.capture, self.raw = capture, b""

    def messages(self) -> list[dict]:
        self.raw += self.capture.readouterr().out
        return [json.loads(line) for line in self.raw.splitlines()]


@pytest.fixture
def stdout(capsysbinary) -> Stdout:
    return Stdout(capsysbinary)


def record(i: int, size: int) -> RecordMessage:
    return RecordMessage(stream="projects", record={"id": i, "pad": "x" * size},
                         time_extracted=datetime(2024, 1, 1, tzinfo=UTC))


def test_every_message_comes_out_whole_and_in_order_whatever_its_size(stdout):
    writer = BufferedMessageWriter()
    writer.write_message(SchemaMessage(stream="projects", schema={"type": "object"}, key_properties=["id"]))
    sizes = [(i * 7919) % 9000 for i in range(1500)]  # crosses the 1 MiB flush point many times
    sizes[700] = 3 * 1024 * 1024  # one record larger than the whole buffer
    for i, size in enumerate(sizes):
        writer.write_message(record(i, size))
    writer.write_message(StateMessage(value={"bookmarks": {}}))

    out = stdout.messages()
    assert out[0]["type"] == "SCHEMA" and out[-1] == {"type": "STATE", "value": {"bookmarks": {}}}
    assert [(m["record"]["id"], len(m["record"]["pad"])) for m in out[1:-1]] == list(enumerate(sizes))
    assert writer.record_bytes == sum(len(line) + 1 for line in stdout.raw.splitlines()[1:-1])


def test_state_waits_until_the_records_since_outweigh_it(stdout):
    writer = BufferedMessageWriter()
    states = PacedStateWriter(writer)
    state = {"bookmarks": {"pipelines": {"partitions": [{"context": {"project_id": p}} for p in range(100)]}}}
    states.write_state(state)  # the first is always written
    state_size = len(json.dumps({"type": "STATE", "value": state}, separators=(",", ":"))) + 1
    for i in range(200):
        writer.write_message(record(i, 100))
        state["bookmarks"]["pipelines"]["partitions"][i % 100]["replication_key_value"] = str(i)
        states.write_state(state)
    out = stdout.messages()
    written = [n for n, m in enumerate(out) if m["type"] == "STATE"]
    assert 2 <= len(written) < 20, "paced: neither every call nor only the first"
    for before, after in pairwise(written):
        between = sum(len(json.dumps(m, separators=(",", ":"))) + 1 for m in out[before + 1 : after])
        assert between >= output.RECORD_BYTES_PER_STATE_BYTE * state_size * 0.9
    states.flush()  # the end of the run: the latest state, even though it was not due
    assert stdout.messages()[-1]["value"] == state


def test_state_is_written_after_a_quiet_minute_even_without_records(stdout, monkeypatch):
    writer = BufferedMessageWriter()
    states = PacedStateWriter(writer)
    states.write_state({"bookmarks": {"a": {"n": 0}}})
    states.write_state({"bookmarks": {"a": {"n": 1}}})
    assert [m["value"]["bookmarks"]["a"]["n"] for m in stdout.messages()] == [0]
    monkeypatch.setattr(output, "MAX_STATE_INTERVAL", 0.0)
    states.write_state({"bookmarks": {"a": {"n": 2}}})
    states.write_state({"bookmarks": {"a": {"n": 2}}})  # unchanged: not written again
    assert [m["value"]["bookmarks"]["a"]["n"] for m in stdout.messages()] == [0, 2]
