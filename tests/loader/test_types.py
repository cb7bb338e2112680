"""JSON Schema → DuckDB types, on real DuckDB files."""

from __future__ import annotations

import datetime as dt

from tests.loader.helpers import column_types, load, query, record, run_target, schema

PROPS = {
    "id": {"type": "integer"},
    "score": {"type": ["null", "number"]},
    "active": {"type": "boolean"},
    "created_at": {"type": ["null", "string"], "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "name": {"type": ["string", "null"]},
    "namespace": {
        "type": ["null", "object"],
        "properties": {"id": {"type": "integer"}, "full_path": {"type": "string"}},
    },
    "topics": {"type": "array", "items": {"type": "string"}},
    "settings": {"type": "object"},
    "anything": {},
    "either": {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]},
    "big": {"type": "integer"},
}


def test_types_offsets_empty_strings_and_nested(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, [
        schema("projects", PROPS),
        record("projects", {
            "id": 1, "score": 1.5, "active": True, "created_at": "2024-03-01T10:20:30+02:00",
            "day": "2024-03-01", "name": "", "namespace": {"id": 7, "full_path": "grp/sub"},
            "topics": ["dbt", "ml"], "settings": {"a": {"b": [1, 2]}}, "anything": [1, "x"],
            "either": 3, "big": 9007199254740993,
        }),
        record("projects", {
            "id": 2, "score": None, "active": False, "created_at": "2024-03-01T10:20:30Z",
            "day": "2024-02-29", "name": None, "namespace": None, "topics": [],
            "settings": {}, "anything": None, "either": 2.5,
        }),
    ])
    assert column_types(db, "projects") == {
        "id": "BIGINT",
        "score": "DOUBLE",
        "active": "BOOLEAN",
        "created_at": "TIMESTAMP WITH TIME ZONE",
        "day": "DATE",
        "name": "VARCHAR",
        "namespace": "STRUCT(id BIGINT, full_path VARCHAR)",
        "topics": "VARCHAR[]",
        "settings": "JSON",
        "anything": "JSON",
        "either": "DOUBLE",
        "big": "BIGINT",
    }
    rows = query(db, "SELECT id, created_at, name, namespace.full_path, topics, day, big, either "
                     "FROM projects ORDER BY id")
    utc = dt.UTC
    assert rows[0][1] == dt.datetime(2024, 3, 1, 8, 20, 30, tzinfo=utc)  # +02:00 honoured
    assert rows[1][1] == dt.datetime(2024, 3, 1, 10, 20, 30, tzinfo=utc)
    assert rows[0][2] == ""  # "" stays ""
    assert rows[1][2] is None  # null stays NULL
    assert rows[0][3] == "grp/sub"  # namespace.full_path
    assert rows[1][3] is None
    assert rows[0][4] == ["dbt", "ml"] and rows[1][4] == []
    assert rows[1][5] == dt.date(2024, 2, 29)
    assert rows[0][6] == 9007199254740993  # no float rounding
    assert [r[7] for r in rows] == [3.0, 2.5]
    # JSON columns: queryable with DuckDB's JSON functions; nothing dropped.
    assert query(db, "SELECT settings->'a'->'b'->>1, anything FROM projects WHERE id = 1") == [("2", '[1,"x"]')]
    assert query(db, "SELECT count(*) FROM projects WHERE list_contains(topics, 'ml')") == [(1,)]


def test_table_names_for_streams_that_are_not_identifiers(tmp_path):
    db = tmp_path / "t.duckdb"
    props = {"id": {"type": "integer"}}
    load(db, [
        schema("public-users", props), record("public-users", {"id": 1}),
        schema("test:SpecialChars!in?attributes", props), record("test:SpecialChars!in?attributes", {"id": 2}),
        schema("2024.sales", props), record("2024.sales", {"id": 3}),
        schema("Projects", props), record("Projects", {"id": 4}),
    ])
    tables = dict(query(db, "SELECT table_name, comment FROM duckdb_tables()"))
    assert tables == {
        "public_users": "singer stream: public-users",
        "test_specialchars_in_attributes": "singer stream: test:SpecialChars!in?attributes",
        "_2024_sales": "singer stream: 2024.sales",
        "Projects": "singer stream: Projects",
    }
    # Stable: a second run lands in the same tables.
    load(db, [schema("public-users", props), record("public-users", {"id": 5})])
    assert query(db, "SELECT id FROM public_users ORDER BY id") == [(1,), (5,)]
    # Two streams that map to one table are refused rather than mixed.
    clash = run_target(db, [schema("public_users", props), record("public_users", {"id": 6})])
    assert clash.returncode == 1
    assert "public_users" in clash.error and "already holds stream 'public-users'" in clash.error
    assert query(db, "SELECT id FROM public_users ORDER BY id") == [(1,), (5,)]


def test_record_metadata_columns(tmp_path):
    db = tmp_path / "t.duckdb"
    load(db, [
        schema("s", {"id": {"type": "integer"}}),
        record("s", {"id": 1}, time_extracted="2024-05-01T12:00:00+02:00", version=7),
    ], add_record_metadata=True)
    types = column_types(db, "s")
    for name in ("_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_deleted_at"):
        assert types[name] == "TIMESTAMP WITH TIME ZONE"
    for name in ("_sdc_sequence", "_sdc_table_version", "_sdc_sync_started_at"):
        assert types[name] == "BIGINT"
    (row,) = query(db, "SELECT _sdc_extracted_at, _sdc_table_version, _sdc_received_at IS NOT NULL, "
                       "_sdc_batched_at >= _sdc_received_at, _sdc_deleted_at FROM s")
    assert row == (dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC), 7, True, True, None)


def test_database_in_a_folder_that_does_not_exist_yet(tmp_path):
    # The config file sits beside the database in these tests; the database goes one folder down.
    db = tmp_path / "t.duckdb"
    nested = tmp_path / "output" / "nested" / "dataops.duckdb"
    load(db, [schema("projects", {"id": {"type": "integer"}}, keys=["id"]), record("projects", {"id": 1})],
       database=str(nested))
    assert query(nested, "SELECT id FROM projects") == [(1,)]
