"""IndexedStateManager keeps exactly the state the SDK's own manager keeps."""

from __future__ import annotations

import copy
import random

import pytest
from singer_sdk.streams._state import StreamStateManager

from tap_dataops.sdk_overrides import IndexedStateManager


def managers(tap_state: dict) -> tuple[StreamStateManager, IndexedStateManager]:
    options = {"tap_name": "tap-dataops", "stream_name": "pipelines", "state_partitioning_keys": ["project_id"],
               "is_sorted": False, "check_sorted": True}
    return (StreamStateManager(tap_state=tap_state, **options),
            IndexedStateManager(tap_state=copy.deepcopy(tap_state), **options))


def test_same_state_as_the_sdk_for_resumed_and_new_partitions():
    resumed = {"bookmarks": {"pipelines": {"partitions": [
        {"context": {"project_id": p}, "replication_key": "updated_at", "replication_key_value": f"2024-01-{p:02d}"}
        for p in range(1, 21)]}}}
    sdk, indexed = managers(resumed)
    rng = random.Random(5)
    for step in range(500):
        project = rng.randint(1, 40)  # half of them new partitions, created on first use
        context = {"project_id": project, "pipeline_id": step}  # extra keys are not part of the partition
        for manager in (sdk, indexed):
            manager.write_starting_replication_value(context, "INCREMENTAL", "updated_at", {})
            manager.increment_state({"updated_at": f"2024-02-{step % 28 + 1:02d}T00:00:{step % 60:02d}Z"},
                                    context=context, replication_key="updated_at")
            if step % 7 == 0:
                manager.finalize_state(manager.get_context_state(context))
        assert indexed.get_context_state(context) == sdk.get_context_state(context)
    assert indexed.tap_state == sdk.tap_state
    assert len(indexed.tap_state["bookmarks"]["pipelines"]["partitions"]) == 40


def test_partitions_appended_behind_its_back_are_found_not_duplicated():
    _sdk, indexed = managers({})
    first = indexed.get_context_state({"project_id": 1})
    # Another writer (the SDK's helpers) appends to the same list.
    indexed.stream_state["partitions"].append({"context": {"project_id": 2}, "replication_key_value": "x"})
    assert indexed.get_context_state({"project_id": 2})["replication_key_value"] == "x"
    assert indexed.get_context_state({"project_id": 1}) is first
    assert len(indexed.stream_state["partitions"]) == 2


def test_duplicate_partitions_are_refused_like_the_sdk_does():
    duplicated = {"bookmarks": {"pipelines": {"partitions": [{"context": {"project_id": 1}}] * 2}}}
    sdk, indexed = managers(duplicated)
    for manager in (sdk, indexed):
        with pytest.raises(ValueError, match="duplicate entries"):
            manager.get_context_state({"project_id": 1})
