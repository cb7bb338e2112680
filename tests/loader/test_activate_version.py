"""ACTIVATE_VERSION: rows the source no longer has leave the table, exactly, on real DuckDB files.

A tap that lists a stream completely every run stamps each RECORD with one version V and
sends ``ACTIVATE_VERSION V`` after the stream's last record. Once every record before it
is committed, rows of an older version (or of none) are deleted (``hard_delete``, the
default) or keep their values with ``_sdc_deleted_at`` set (``hard_delete: false``).

Most cases run the loader in this process (``load``: fast); the console script is fed a
hand-written Singer stream, and crashes are real SIGKILLs at chosen points.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path

import pytest

from target_dataops_duckdb.errors import LoaderError
from tests.loader.helpers import (
    SCRIPT,
    activate,
    column_types,
    load,
    ok,
    query,
    read_states_until,
    record,
    run_target,
    schema,
    send,
    start,
    state,
    tables,
)

PROPS = {"id": {"type": "integer"}, "name": {"type": ["null", "string"]}}
UTC = dt.UTC


def full_listing(version: int | None, rows: list, *, stream: str = "items", props: dict = PROPS,
                 end: bool = True, run: int | None = None) -> list[dict]:
    """One run of a full-table stream: SCHEMA, its records (``id`` or ``(id, name)``), then
    ACTIVATE_VERSION and a STATE (``end``)."""
    messages: list[dict] = [schema(stream, props)]
    for row in rows:
        rid, name = row if isinstance(row, tuple) else (row, f"n{row}")
        extra = {} if version is None else {"version": version}
        messages.append(record(stream, {"id": rid, "name": name}, **extra))
    if end:
        messages += [activate(stream, version), state({"run": run if run is not None else version})]
    return messages


def rows(db, table: str = "items", extra: str = "") -> list[tuple]:
    return query(db, f"SELECT id, name, _sdc_table_version{extra} FROM {table} ORDER BY ALL")


# -- hard delete (the default) -----------------------------------------------------------------


def test_upsert_deletes_rows_of_older_versions_and_rows_loaded_without_one(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(None, [1, 2, 3, 4], end=False))  # loaded before the tap sent versions
    # Run 100: id 2 arrives three times (the last wins), over several batches.
    states = load(db, full_listing(100, [1, (2, "a"), 3, (2, "b"), (2, "c")]), batch_size_rows=2)
    assert states == [{"run": 100}]
    assert rows(db) == [(1, "n1", 100), (2, "c", 100), (3, "n3", 100)]  # 4 is gone: it had no version
    assert load(db, full_listing(200, [3, 1])) == [{"run": 200}]
    assert rows(db) == [(1, "n1", 200), (3, "n3", 200)]
    # The version is stored without add_record_metadata; a hard delete adds no _sdc_deleted_at.
    assert list(column_types(db, "items")) == ["id", "name", "_sdc_table_version"]


def test_append_only_keeps_every_record_of_the_new_version_only(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(100, [1, 2]), load_method="append-only")
    load(db, full_listing(200, [1, 1, 3]), load_method="append-only")
    assert rows(db) == [(1, "n1", 200), (1, "n1", 200), (3, "n3", 200)]


def test_overwrite_holds_the_last_activated_version_and_state_waits_for_the_swap(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(100, [1, 2, 3]), load_method="overwrite")
    # Two versions in one run: the table ends with the second one only.
    messages = full_listing(300, [1, 2], run=3) + full_listing(400, [2], run=4)
    assert load(db, messages, load_method="overwrite", batch_size_rows=1) == [{"run": 4}]
    assert rows(db) == [(2, "n2", 400)]
    assert tables(db) == {"items"}


def test_a_late_activate_version_of_an_older_run_deletes_nothing_newer(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(500, [1, 2, 3]))
    load(db, [schema("items", PROPS), activate("items", 300)])
    assert rows(db) == [(1, "n1", 500), (2, "n2", 500), (3, "n3", 500)]
    load(db, full_listing(300, [(1, "old")]))  # an older run's records, replayed late
    assert rows(db) == [(1, "old", 300), (2, "n2", 500), (3, "n3", 500)]


def test_a_stream_whose_table_has_another_name_and_a_stream_map_alias(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(1, [1, 2], stream="public-users"))
    load(db, full_listing(2, [2], stream="public-users"))
    assert rows(db, "public_users") == [(2, "n2", 2)]
    aliased = {"stream_maps": {"users": {"__alias__": "people"}}}
    load(db, full_listing(1, [1, 2], stream="users"), **aliased)
    load(db, full_listing(2, [1], stream="users"), **aliased)
    assert rows(db, "people") == [(1, "n1", 2)]
    assert tables(db) == {"public_users", "people"}


def test_schema_change_within_the_run_keeps_the_records_of_both_schemas(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(None, [9], end=False))
    wider = {**PROPS, "id": {"type": "number"}, "extra": {"type": "boolean"}}
    messages = full_listing(7, [1, 2], end=False) + [
        schema("items", wider), record("items", {"id": 3, "name": "n3", "extra": True}, version=7),
        activate("items", 7), state({"run": 7}),
    ]
    assert load(db, messages) == [{"run": 7}]
    assert query(db, "SELECT id, extra, _sdc_table_version FROM items ORDER BY id") == [
        (1.0, None, 7), (2.0, None, 7), (3.0, True, 7)]


# -- soft delete --------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [False, True], ids=["without-metadata", "with-metadata"])
def test_soft_delete_marks_rows_and_a_row_that_comes_back_is_live_again(tmp_path, metadata):
    db = tmp_path / "t.duckdb"
    soft = {"hard_delete": False, "add_record_metadata": metadata}
    deleted = ", _sdc_deleted_at IS NOT NULL"
    load(db, full_listing(100, [1, 2, 3]), **soft)
    before = dt.datetime.now(UTC)
    load(db, full_listing(200, [1, 3]), **soft)
    after = dt.datetime.now(UTC)
    assert rows(db, extra=deleted) == [(1, "n1", 200, False), (2, "n2", 100, True), (3, "n3", 200, False)]
    ((first_deletion,),) = query(db, "SELECT _sdc_deleted_at FROM items WHERE id = 2")
    assert before <= first_deletion <= after  # the time of the ACTIVATE_VERSION
    load(db, full_listing(300, [1, (2, "back")]), **soft)
    assert rows(db, extra=deleted) == [(1, "n1", 300, False), (2, "back", 300, False), (3, "n3", 200, True)]
    ((third,),) = query(db, "SELECT _sdc_deleted_at FROM items WHERE id = 3")
    load(db, full_listing(400, [1]), **soft)
    # A row deleted earlier keeps the time it was first deleted at.
    assert query(db, "SELECT _sdc_deleted_at FROM items WHERE id = 3") == [(third,)]
    assert rows(db, extra=deleted) == [(1, "n1", 400, False), (2, "back", 300, True), (3, "n3", 200, True)]


def test_soft_delete_with_append_only_flags_the_older_rows(tmp_path):
    db = tmp_path / "t.duckdb"
    soft = {"hard_delete": False, "load_method": "append-only"}
    load(db, full_listing(100, [1, 2]), **soft)
    load(db, full_listing(200, [1]), **soft)
    assert rows(db, extra=", _sdc_deleted_at IS NOT NULL") == [
        (1, "n1", 100, True), (1, "n1", 200, False), (2, "n2", 100, True)]


# -- tables that do not exist yet, settings, bad messages ---------------------------------------


def test_first_run_has_nothing_to_delete_and_creates_nothing_else(tmp_path):
    db = tmp_path / "t.duckdb"
    # SCHEMA then ACTIVATE_VERSION without records: the stream's (empty) table, nothing else.
    assert load(db, [schema("items", PROPS), activate("items", 1), state({"run": 1})]) == [{"run": 1}]
    assert tables(db) == {"items"} and query(db, "SELECT count(*) FROM items") == [(0,)]
    # An ACTIVATE_VERSION for a stream with no SCHEMA and no table: nothing to delete, no table.
    assert load(db, [activate("ghosts", 5), state({"run": 2})]) == [{"run": 2}]
    assert tables(db) == {"items"}


def test_activate_version_before_schema_for_an_existing_table_is_refused(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(1, [1, 2]))
    with pytest.raises(LoaderError) as refused:
        load(db, [activate("items", 2)])
    assert refused.value.one_line() == (
        "line 1 (stream items): ACTIVATE_VERSION before SCHEMA for stream 'items', whose table 'items' "
        "exists; the tap must send the stream's SCHEMA first")
    assert rows(db) == [(1, "n1", 1), (2, "n2", 1)]


def test_process_activate_version_messages_false_ignores_them(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(1, [1, 2]))
    load(db, full_listing(2, [2]), process_activate_version_messages=False)
    assert rows(db) == [(1, "n1", 1), (2, "n2", 2)]


@pytest.mark.parametrize(("message", "expected"), [
    (activate("items", "v2"), "line 2 (stream items): ACTIVATE_VERSION 'version' must be an integer, not \"v2\""),
    (record("items", {"id": 1}, version=1.5),
     "line 2 (stream items): RECORD 'version' must be an integer, not 1.5"),
])
def test_a_version_that_is_not_an_integer_is_refused(tmp_path, message, expected):
    db = tmp_path / "t.duckdb"
    with pytest.raises(LoaderError) as refused:
        load(db, [schema("items", PROPS), message])
    assert refused.value.one_line() == expected


# -- the console script, a hand-written stream, crashes ----------------------------------------

HAND_WRITTEN = Path(__file__).parent / "streams" / "groups_second_run.singer.jsonl"


@pytest.mark.parametrize("hard_delete", [True, False], ids=["hard", "soft"])
def test_the_console_script_on_a_hand_written_stream(tmp_path, hard_delete):
    db = tmp_path / "t.duckdb"
    earlier = [schema("groups", {"id": {"type": "integer"}, "full_path": {"type": "string"}}),
               *(record("groups", {"id": i, "full_path": p}, version=1700000001000)
                 for i, p in [(1, "data"), (2, "data/old"), (3, "data/platform")])]
    load(db, earlier)
    result = ok(db, HAND_WRITTEN.read_text().splitlines(), hard_delete=hard_delete)
    assert result.states == [{"bookmarks": {"groups": {}}}, {"bookmarks": {"groups": {"done": True}}}]
    live = "_sdc_deleted_at IS NULL" if not hard_delete else "true"
    assert query(db, f"SELECT id, _sdc_table_version FROM groups WHERE {live} ORDER BY id") == [
        (1, 1700000002000), (3, 1700000002000)]
    kept = query(db, "SELECT id FROM groups ORDER BY id")
    assert kept == ([(1,), (3,)] if hard_delete else [(1,), (2,), (3,)])


def test_about_declares_activate_version_and_hard_delete(tmp_path):
    import subprocess

    about = json.loads(subprocess.run([SCRIPT, "--about", "--format", "json"], capture_output=True,
                                      check=True, timeout=60).stdout)
    assert {"activate-version", "hard-delete"} <= set(about["capabilities"])
    setting = about["settings"]["properties"]["hard_delete"]
    assert setting["type"] == ["boolean", "null"] and setting["default"] is True
    assert about["settings"]["properties"]["process_activate_version_messages"]["default"] is True


def test_killed_between_the_last_record_and_activate_version_loses_nothing(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(100, [1, 2, 3]))
    run = full_listing(200, [1, 3], end=False) + [state({"run": 200, "records": "all"})]
    proc = start(db, batch_size_rows=2)  # the second record fills the batch: it commits
    send(proc, run)  # ... and the ACTIVATE_VERSION never comes
    read_states_until(proc, {"run": 200, "records": "all"})
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert rows(db) == [(1, "n1", 200), (2, "n2", 100), (3, "n3", 200)]  # nothing deleted, nothing lost
    load(db, full_listing(300, [1, 3]))  # the next run's ACTIVATE_VERSION completes it
    assert rows(db) == [(1, "n1", 300), (3, "n3", 300)]


@pytest.mark.parametrize("crash_at", ["kill-before-commit:activate_version:1", "kill-after-commit:load_batch:1"])
def test_killed_during_the_delete_loses_nothing_and_its_state_is_not_printed(tmp_path, crash_at):
    db = tmp_path / "t.duckdb"
    load(db, full_listing(100, [1, 2, 3]))
    result = run_target(db, full_listing(200, [1, 3]), crash_at=crash_at)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert result.states == []  # the STATE after the ACTIVATE_VERSION waits for its delete's commit
    # Killed inside the delete's transaction, or right after the batch before it committed:
    # the run's records are in (they commit before the delete), nothing is deleted yet.
    assert rows(db) == [(1, "n1", 200), (2, "n2", 100), (3, "n3", 200)]
    load(db, full_listing(300, [1, 3]))
    assert rows(db) == [(1, "n1", 300), (3, "n3", 300)]
