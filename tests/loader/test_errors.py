"""Bad input: one line on stderr naming the input line and stream, non-zero exit, committed data intact."""

from __future__ import annotations

import os
import shutil
import subprocess

import duckdb
import pytest

from tests.loader.helpers import PREFIX, SCRIPT, Result, load, ok, query, record, run_target, schema, send, start, state

PROPS = {
    "id": {"type": "integer"},
    "name": {"type": ["null", "string"]},
    "created_at": {"type": ["null", "string"], "format": "date-time"},
}


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    path = tmp_path_factory.mktemp("committed") / "t.duckdb"
    load(path, [schema("projects", PROPS), record("projects", {"id": 1, "name": "kept"}), state({"n": 1})])
    return path


@pytest.fixture
def db(committed, tmp_path):
    """A database that already holds committed data, which no failed run may touch."""
    path = tmp_path / "t.duckdb"
    shutil.copy(committed, path)
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


# -- the error contract: one line, one exit code, never a traceback ------------------------------


@pytest.mark.parametrize(("args", "config_text", "code", "expected"), [
    (["--config", "{missing}"], None, 1, "File at '{missing}' was not found.; check the --config path"),
    (["--config", "{config}"], '{"database": ', 1, "the --config file is not valid JSON ("),
    (["--config", "{config}"], '{"add_record_metadata": "yes"}', 1,
     "invalid configuration: 'yes' is not of type 'boolean', 'null' in config['add_record_metadata']"),
    (["--bogus"], None, 2, "No such option '--bogus'"),
], ids=["config-missing", "config-not-json", "invalid-setting", "unknown-option"])
def test_command_line_failures_are_one_line(tmp_path, args, config_text, code, expected):
    paths = {"missing": str(tmp_path / "nope.json"), "config": str(tmp_path / "config.json")}
    if config_text is not None:
        (tmp_path / "config.json").write_text(config_text)
    done = subprocess.run([SCRIPT, *(a.format(**paths) for a in args)], input=b"", capture_output=True,
                          timeout=60, check=False)
    result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
    assert result.returncode == code, result.stderr
    assert result.error.startswith(expected.format(**paths)), result.error
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_unexpected_failure_is_one_line_and_its_traceback_is_logged_at_debug_only(db):
    messages = [*GOOD, record("projects", {"id": 3}), state({"n": 3})]
    result = run_target(db, messages, crash_at="raise-before-commit:load_batch:1")
    assert result.returncode == 1
    assert result.error == ("a failure nobody planned for (ZeroDivisionError; TARGET_DATAOPS_DUCKDB_LOGLEVEL=debug "
                            "logs the traceback)")  # at the end of the input, not about a line
    assert "Traceback" not in result.stderr and result.states == []
    assert query(db, "SELECT id, name FROM projects") == [(1, "kept")]  # rolled back
    debug = run_target(db, messages, crash_at="raise-before-commit:load_batch:1",
                       env={"TARGET_DATAOPS_DUCKDB_LOGLEVEL": "debug"})
    assert debug.error == result.error
    assert "Traceback" in debug.stderr and "ZeroDivisionError: a failure nobody planned for" in debug.stderr


def test_a_reader_that_stops_reading_stdout_is_one_line(tmp_path):
    proc = start(tmp_path / "t.duckdb")
    proc.stdout.close()  # whoever reads the STATE lines is gone
    send(proc, [schema("projects", PROPS), state({"n": 1})])
    proc.stdin.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    lines = [x for x in stderr.splitlines() if x.startswith(PREFIX)]
    assert lines == [PREFIX + "the program reading the loader's output (stdout) stopped reading it (broken "
                     "pipe); the records before the last STATE it received are committed, rerun from that state"]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
