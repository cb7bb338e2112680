"""Upsert, append-only and overwrite, and schema evolution, on real DuckDB files (the loader
in this process, ``load``, except where the console script's failure is the point)."""

from __future__ import annotations

from tests.loader.helpers import column_types, load, query, record, run_target, schema, state

PROPS = {"id": {"type": "integer"}, "name": {"type": ["null", "string"]}}


def _input(names: list[tuple[int, str]]) -> list[dict]:
    return [schema("items", PROPS)] + [record("items", {"id": i, "name": n}) for i, n in names]


def test_upsert_dedupes_within_a_batch_and_is_idempotent(tmp_path):
    db = tmp_path / "t.duckdb"
    messages = _input([(1, "a"), (2, "b"), (1, "a2"), (3, "c"), (2, "b2"), (1, "a3")])
    load(db, messages)
    first = query(db, "SELECT id, name FROM items ORDER BY id")
    assert first == [(1, "a3"), (2, "b2"), (3, "c")]  # last record wins
    load(db, messages)  # the same input again leaves the same table
    assert query(db, "SELECT id, name FROM items ORDER BY id") == first
    # Across batches too (batch_size_rows=2 → several transactions).
    load(db, messages, batch_size_rows=2)
    assert query(db, "SELECT id, name FROM items ORDER BY id") == first
    load(db, _input([(2, "new"), (4, "d")]))
    assert query(db, "SELECT id, name FROM items ORDER BY id") == [(1, "a3"), (2, "new"), (3, "c"), (4, "d")]


def test_upsert_with_composite_keys(tmp_path):
    db = tmp_path / "t.duckdb"
    props = {"org": {"type": "string"}, "id": {"type": "integer"}, "v": {"type": "integer"}}
    msgs = [schema("m", props, keys=["org", "id"])] + [
        record("m", {"org": o, "id": i, "v": v}) for o, i, v in [("a", 1, 1), ("b", 1, 2), ("a", 1, 3)]
    ]
    load(db, msgs)
    load(db, msgs)
    assert query(db, "SELECT org, id, v FROM m ORDER BY org") == [("a", 1, 3), ("b", 1, 2)]


def test_streams_without_keys_are_appended_under_upsert(tmp_path):
    db = tmp_path / "t.duckdb"
    msgs = [schema("events", PROPS, keys=[]), record("events", {"id": 1, "name": "x"})]
    load(db, msgs)
    load(db, msgs)
    assert query(db, "SELECT count(*) FROM events") == [(2,)]


def test_append_only_appends(tmp_path):
    db = tmp_path / "t.duckdb"
    messages = _input([(1, "a"), (1, "b")])
    load(db, messages, load_method="append-only")
    load(db, messages, load_method="append-only")
    assert query(db, "SELECT id, name FROM items ORDER BY name") == [(1, "a"), (1, "a"), (1, "b"), (1, "b")]


def test_overwrite_replaces_the_table_atomically(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, _input([(1, "a"), (2, "b"), (3, "c")]))
    states = load(db, _input([(7, "x"), (8, "y")]) + [state({"s": 1})], load_method="overwrite", batch_size_rows=1)
    assert states == [{"s": 1}]
    assert query(db, "SELECT id FROM items ORDER BY id") == [(7,), (8,)]
    # A failed overwrite run leaves the previous contents: several batches had been
    # committed to the shadow table, none to the table itself.
    failed = run_target(db, _input([(10, "p"), (11, "q")]) + ['{"type": "RECORD", broken'],
                        load_method="overwrite", batch_size_rows=1)
    assert failed.returncode == 1 and failed.states == []
    assert query(db, "SELECT id FROM items ORDER BY id") == [(7,), (8,)]
    # The next good run replaces it (the stale shadow is reset, not appended to).
    load(db, _input([(20, "z")]), load_method="overwrite")
    assert query(db, "SELECT id FROM items ORDER BY id") == [(20,)]
    assert query(db, "SELECT table_name FROM duckdb_tables()") == [("items",)]


def test_schema_evolution_adds_and_widens_without_losing_values(tmp_path):
    db = tmp_path / "t.duckdb"
    v1 = {
        "id": {"type": "integer"},
        "count": {"type": "integer"},
        "code": {"type": "integer"},
        "when": {"type": "string", "format": "date-time"},
        "ns": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "integer"}},
    }
    load(db, [schema("s", v1), record("s", {"id": 1, "count": 5, "code": 42, "when": "2024-01-01T00:00:00+01:00",
                                          "ns": {"id": 9}, "tags": [1, 2]})])
    v2 = {
        "id": {"type": "integer"},
        "count": {"type": "number"},  # integer → number
        "code": {"type": "string"},  # integer → string
        "when": {"type": "string"},  # date-time → string
        "ns": {"type": "object", "properties": {"id": {"type": "integer"}, "path": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "added": {"type": "boolean"},  # new field → new column
    }
    # Both schemas in one run, with records under each (the old batch commits first).
    load(db, [schema("s", v1), record("s", {"id": 2, "count": 6, "code": 43, "when": None, "ns": None, "tags": None}),
            schema("s", v2), record("s", {"id": 3, "count": 6.5, "code": "X-1", "when": "soon",
                                          "ns": {"id": 1, "path": "p"}, "tags": ["a"], "added": True})])
    assert column_types(db, "s") == {
        "id": "BIGINT",
        "count": "DOUBLE",
        "code": "VARCHAR",
        "when": "VARCHAR",
        "ns": 'STRUCT(id BIGINT, path VARCHAR)',
        "tags": "VARCHAR[]",
        "added": "BOOLEAN",
    }
    assert query(db, 'SELECT id, count, code, "when", ns, tags, added FROM s ORDER BY id') == [
        (1, 5.0, "42", "2023-12-31 23:00:00+00", {"id": 9, "path": None}, ["1", "2"], None),
        (2, 6.0, "43", None, None, None, None),
        (3, 6.5, "X-1", "soon", {"id": 1, "path": "p"}, ["a"], True),
    ]
    # An older, narrower schema later does not narrow anything back.
    load(db, [schema("s", v1),
            record("s", {"id": 4, "count": 7, "code": 44, "when": None, "ns": {"id": 2}, "tags": [3]})])
    assert column_types(db, "s")["code"] == "VARCHAR"
    assert query(db, "SELECT code, ns.id, tags FROM s WHERE id = 4") == [("44", 2, ["3"])]
    assert query(db, "SELECT count(*) FROM s") == [(4,)]


def test_objects_widen_to_string_as_json_text_and_to_json_with_numbers(tmp_path):
    db = tmp_path / "t.duckdb"
    obj = {"type": "object", "properties": {"a": {"type": "integer"}}}
    load(db, [schema("s", {"id": {"type": "integer"}, "v": obj, "w": obj}),
            record("s", {"id": 1, "v": {"a": 1}, "w": {"a": 2}})])
    load(db, [schema("s", {"id": {"type": "integer"}, "v": {"type": "string"}, "w": {"type": "integer"}}),
            record("s", {"id": 2, "v": "plain", "w": 5})])
    assert column_types(db, "s") == {"id": "BIGINT", "v": "VARCHAR", "w": "JSON"}
    assert query(db, "SELECT id, v, w FROM s ORDER BY id") == [(1, '{"a":1}', '{"a":2}'), (2, "plain", "5")]


def test_a_schema_change_commits_the_records_buffered_under_the_old_schema_first(tmp_path):
    # In one run: the object is still buffered when the next SCHEMA turns its column into a
    # string; it must land as JSON text, as a committed one would (not DuckDB's {'a': 1}).
    db = tmp_path / "t.duckdb"
    obj = {"type": "object", "properties": {"a": {"type": "integer"}}}
    load(db, [schema("s", {"id": {"type": "integer"}, "v": obj}), record("s", {"id": 1, "v": {"a": 1}}),
              schema("s", {"id": {"type": "integer"}, "v": {"type": "string"}}), record("s", {"id": 2, "v": "x"})])
    assert query(db, "SELECT id, v FROM s ORDER BY id") == [(1, '{"a":1}'), (2, "x")]
