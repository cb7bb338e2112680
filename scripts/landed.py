"""Print every table of a DuckDB database with its row count.

    python scripts/landed.py PATH/TO/db.duckdb

Run with a Python that has duckdb (scripts/quickstart.py uses the loader's own venv).
Exit status 1 when the file is missing or holds no table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def landed_tables(database: str) -> list[tuple[str, int]]:
    """(schema-qualified table name, row count) for every base table, sorted."""
    with duckdb.connect(database, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        counts = []
        for schema, table in tables:
            (rows,) = con.execute(f"SELECT count(*) FROM {_ident(schema)}.{_ident(table)}").fetchone()
            name = table if schema == "main" else f"{schema}.{table}"
            counts.append((name, rows))
        return counts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: landed.py DATABASE", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"landed.py: no database at {path}", file=sys.stderr)
        return 1
    tables = landed_tables(str(path))
    if not tables:
        print(f"landed.py: {path} holds no table", file=sys.stderr)
        return 1
    width = max(len(name) for name, _ in tables)
    print(f"  {'table'.ljust(width)}  {'rows':>9}")
    for name, rows in tables:
        print(f"  {name.ljust(width)}  {rows:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
