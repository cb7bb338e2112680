"""Print what a DuckDB database holds: the raw tables with their row counts, and, when the
inventory models have been built in it, the marts and a few of their answers.

    python scripts/landed.py PATH/TO/db.duckdb             # raw tables, marts
    python scripts/landed.py PATH/TO/db.duckdb --answers   # ... and stale projects, owners,
                                                           # the least reliable pipelines

Run with a Python that has duckdb (scripts/quickstart.py uses the loader's own venv).
Exit status 1 when the file is missing or holds no table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

RAW_SCHEMA = "main"         # the bundled loader's default schema
MODELS_SCHEMA = "analytics"  # transform/profiles.yml: DBT_SCHEMA's default


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def landed_tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[tuple[str, int]]:
    """(table name, row count) for every base table of ``schema``, sorted."""
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_catalog = current_database() AND table_schema = ? ORDER BY table_name", [schema]
    ).fetchall()
    counts = []
    for (table,) in tables:
        (rows,) = con.execute(f"SELECT count(*) FROM {_ident(schema)}.{_ident(table)}").fetchone()
        counts.append((table, rows))
    return counts


def print_tables(tables: list[tuple[str, int]], heading: str = "table") -> None:
    width = max(len(heading), *(len(name) for name, _ in tables))
    print(f"  {heading.ljust(width)}  {'rows':>9}")
    for name, rows in tables:
        print(f"  {name.ljust(width)}  {rows:>9,}")


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def print_answers(con: duckdb.DuckDBPyConnection) -> None:
    """A few of the questions the marts answer (README: Models)."""
    m = MODELS_SCHEMA
    buckets = dict(_rows(con, f"SELECT staleness_bucket, count(*) FROM {m}.project_inventory "
                              "WHERE NOT archived GROUP BY ALL"))
    total = sum(buckets.values())
    print(f"\nStale projects (not archived, no activity in 90+ days), of {total:,}: "
          + ", ".join(f"{buckets.get(b, 0):,} {label}" for b, label in (
              ("stale_90d", "for 90-180 days"), ("stale_180d", "for 180-365 days"),
              ("stale_365d", "for over a year"), ("no_activity", "never active"))))
    for path, days, owners in _rows(con, f"""
            SELECT project_path, days_since_activity, coalesce(owners, '(no owner)')
            FROM {m}.project_inventory
            WHERE NOT archived AND staleness_bucket <> 'active'
            ORDER BY days_since_activity DESC NULLS FIRST, project_path LIMIT 5"""):
        print(f"  {path}: idle {'ever' if days is None else f'{days:,} days'}; owners {owners}")

    (unowned,) = _rows(con, f"SELECT count(*) FROM {m}.project_inventory WHERE owner_count = 0")[0]
    print(f"\nOwners (Owner access, 50; {unowned:,} project(s) have none):")
    for username, projects, inherited in _rows(con, f"""
            SELECT username, count(*) AS projects, count(*) FILTER (WHERE source <> 'direct')
            FROM {m}.owners_by_project GROUP BY ALL ORDER BY projects DESC, username LIMIT 5"""):
        print(f"  {username}: owns {projects:,} project(s), {inherited:,} of them through a group or a share")

    print("\nLeast reliable pipelines (project and ref, 3+ finished top-level pipelines):")
    least = _rows(con, f"""
        SELECT project_path, ref, sum(finished_runs) AS finished, sum(failed_runs) AS failed,
               sum(failed_runs) / sum(finished_runs) AS failure_rate,
               max(p95_duration_seconds) / 60 AS p95_minutes
        FROM {m}.pipeline_reliability
        GROUP BY ALL HAVING sum(finished_runs) >= 3 AND sum(failed_runs) > 0
        ORDER BY failure_rate DESC, finished DESC, project_path LIMIT 5""")
    for path, ref, finished, failed, rate, p95 in least:
        print(f"  {path} @ {ref}: {failed:,} of {finished:,} failed ({rate:.0%}); p95 {p95:.1f} min")
    if not least:
        print("  none failed")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("--answers", action="store_true", help="also print a few answers of the models")
    args = parser.parse_args(argv)
    path = Path(args.database)
    if not path.is_file():
        print(f"landed.py: no database at {path}", file=sys.stderr)
        return 1
    with duckdb.connect(str(path), read_only=True) as con:
        raw = landed_tables(con, RAW_SCHEMA)
        if not raw:
            print(f"landed.py: {path} holds no table", file=sys.stderr)
            return 1
        print_tables(raw)
        marts = landed_tables(con, MODELS_SCHEMA)
        if marts:
            print(f"\nModels in schema {MODELS_SCHEMA} (README: Models):")
            print_tables(marts, "model")
            if args.answers:
                print_answers(con)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
