"""Bad input: one line on stderr naming the input line and stream, non-zero exit, committed data intact."""

from __future__ import annotations

import os

import duckdb
import pytest

from tests.loader.helpers import ok, query, record, run_target, schema, state

PROPS = {
    "id": {"type": "integer"},
    "name": {"type": ["null", "string"]},
    "created_at": {"type": ["null", "string"], "format": "date-time"},
}


@pytest.fixture
def db(tmp_path):
    """A database that already holds committed data, which no failed run may touch."""
    path = tmp_path / "t.duckdb"
    ok(path, [schema("projects", PROPS), record("projects", {"id": 1, "name": "kept"}), state({"n": 1})])
    return path


def _fails(db, messages, **config) -> str:
    result = run_target(db, messages, **config)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.states == []  # nothing after the failure point was confirmed
    assert query(db, "SELECT id, name FROM projects") == [(1, "kept")]
    return result.error


GOOD = [schema("projects", PROPS), record("projects", {"id": 2, "name": "x"}), state({"n": 2})]


def test_malformed_json(db):
    error = _fails(db, GOOD + ['{"type": "RECORD", "stream": "projects", "record": {"id": 3,'])
    assert error.startswith("line 4: malformed JSON")


def test_record_before_schema(db):
    error = _fails(db, [record("projects", {"id": 3})])
    assert error == "line 1 (stream projects): RECORD before SCHEMA for stream 'projects'"


def test_value_of_the_wrong_json_type(db):
    error = _fails(db, GOOD + [record("projects", {"id": "three"})])
    assert error.startswith("line 4 (stream projects): record does not match the stream's schema")
    assert "$.id" in error


def test_value_the_column_cannot_store(db):
    # Valid JSON of the declared type, but not a timestamp: DuckDB rejects it when the
    # batch loads; the error still names the record's input line and column.
    bad = record("projects", {"id": 7, "created_at": "next tuesday"})
    error = _fails(db, GOOD + [record("projects", {"id": 6}), bad, record("projects", {"id": 8})])
    assert error.startswith("line 5 (stream projects): value \"next tuesday\" cannot be stored in "
                            "column 'created_at' (TIMESTAMPTZ)")


def test_integer_too_large_for_bigint(db):
    error = _fails(db, GOOD + [record("projects", {"id": 2**70})])
    assert error.startswith(f"line 4 (stream projects): value {2**70} cannot be stored in column 'id' (BIGINT)")


def test_missing_key_property(db):
    error = _fails(db, GOOD + [record("projects", {"name": "no id"})])
    assert error.startswith("line 4 (stream projects): record has no key property 'id'")


def test_record_that_is_not_an_object(db):
    error = _fails(db, GOOD + ['{"type": "RECORD", "stream": "projects", "record": [1, 2]}'])
    assert error.startswith("line 4 (stream projects): record does not match")


def test_unknown_message_type(db):
    assert _fails(db, GOOD + ['{"type": "HELLO"}']) == "line 4: unknown message type 'HELLO'"


def test_schema_without_properties(db):
    error = _fails(db, [{"type": "SCHEMA", "stream": "projects", "schema": {"type": "object"}}])
    assert error.startswith("line 1 (stream projects): ")


def test_integral_float_is_an_integer_as_in_json_schema(tmp_path):
    path = tmp_path / "t.duckdb"
    ok(path, [schema("s", {"id": {"type": "integer"}}), record("s", {"id": 3.0})])
    assert query(path, "SELECT id FROM s") == [(3,)]


def test_database_locked_by_another_process(db):
    holder = duckdb.connect(str(db))  # this test process holds the write lock
    try:
        result = run_target(db, GOOD)
    finally:
        holder.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.error.startswith(f"database file {db} is locked by another process (pid {os.getpid()}): ")
    assert query(db, "SELECT id, name FROM projects") == [(1, "kept")]


def test_without_validation_the_database_still_rejects_with_the_line(db):
    error = _fails(db, GOOD + [record("projects", {"id": "three"})], validate_records=False)
    assert error.startswith("line 4 (stream projects): value \"three\" cannot be stored in column 'id' (BIGINT)")
