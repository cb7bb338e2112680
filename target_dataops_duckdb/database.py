"""The DuckDB side: opening the file, preparing tables, loading one batch in one transaction,
and activating a table version.

A batch is a newline-delimited JSON file written by the sink: each line is the record
exactly as the tap sent it, with a few loader fields spliced in front
(``__tdd_l`` = input line number; ``__tdd_v`` = the RECORD's ``version``, for streams whose
records carry one and with ``add_record_metadata``; and with ``add_record_metadata``
``__tdd_r`` = receive time, ``__tdd_e`` = ``time_extracted``).
DuckDB parses it with ``read_json`` and an explicit ``columns=`` list, so no value goes
through Python conformance; the whole batch is then applied by SQL in one transaction:

upsert (the stream has key properties)::

    BEGIN TRANSACTION;
    CREATE OR REPLACE TEMP TABLE __tdd_batch AS
        SELECT <columns> FROM read_json('<batch file>', format = 'newline_delimited',
                                        columns = {<name>: <type>, ...})
        QUALIFY row_number() OVER (PARTITION BY <keys> ORDER BY __tdd_l DESC) = 1;
    DELETE FROM <table> AS t USING __tdd_batch AS b
        WHERE t.<key> IS NOT DISTINCT FROM b.<key> [AND ...];
    INSERT INTO <table> BY NAME SELECT * EXCLUDE (__tdd_l) FROM __tdd_batch;
    COMMIT;

append-only / overwrite::

    BEGIN TRANSACTION;
    INSERT INTO <table or overwrite shadow> BY NAME SELECT <columns> FROM read_json(...);
    COMMIT;

``<columns>`` include ``__tdd_v AS _sdc_table_version`` for versioned streams (the column
is added to the table the first time a record carries a version).

Overwrite loads into ``__tdd_overwrite__<table>`` and, at the end of the input, swaps
it in (``DROP TABLE``, ``ALTER TABLE ... RENAME``) in one transaction, so the table
holds either its old or its complete new contents.

ACTIVATE_VERSION V (once every record before it is committed; on the overwrite shadow
for overwrite streams): rows of an older version, or of none, leave the table; rows of
a newer version stay (a late ACTIVATE_VERSION of an older run deletes nothing newer)::

    BEGIN TRANSACTION;
    ALTER TABLE <table> ADD COLUMN IF NOT EXISTS _sdc_table_version BIGINT;
    -- hard_delete: true (the default)
    DELETE FROM <table> WHERE _sdc_table_version IS NULL OR _sdc_table_version < V;
    -- hard_delete: false
    ALTER TABLE <table> ADD COLUMN IF NOT EXISTS _sdc_deleted_at TIMESTAMPTZ;
    UPDATE <table> SET _sdc_deleted_at = <time of the ACTIVATE_VERSION>
        WHERE (_sdc_table_version IS NULL OR _sdc_table_version < V) AND _sdc_deleted_at IS NULL;
    COMMIT;

(A soft-deleted row that comes back is replaced by its new record, with
``_sdc_deleted_at`` NULL.) A table that does not exist has nothing to delete and is not
created.

Any failure rolls the transaction back; committed data is never touched by a failed
batch. When ``read_json`` rejects a value, :meth:`Database.locate_error` finds the
offending record (binary search over the batch file) and column, so the error can
name the input line.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import tempfile
import typing as t
import weakref
from dataclasses import dataclass
from pathlib import Path

import duckdb
import msgspec

from target_dataops_duckdb.column_types import (
    BIGINT,
    TIMESTAMPTZ,
    DType,
    alter_using,
    from_duckdb,
    quote_ident,
    sql_string,
    widen,
)
from target_dataops_duckdb.errors import LoaderError, stop_if_requested

LINE = "__tdd_l"  # input line number of the record (always present)
RECEIVED = "__tdd_r"  # receive time, epoch seconds (with add_record_metadata)
EXTRACTED = "__tdd_e"  # time_extracted of the RECORD message
VERSION = "__tdd_v"  # version of the RECORD message (versioned streams, add_record_metadata)
TABLE_VERSION = "_sdc_table_version"
DELETED_AT = "_sdc_deleted_at"
BATCH_TABLE = "__tdd_batch"
OVERWRITE_PREFIX = "__tdd_overwrite__"
STREAM_COMMENT = "singer stream: "
MAX_OBJECT_SIZE = 16 * 1024 * 1024  # DuckDB's default: the largest record accepted

# Record metadata the loader fills in itself (the record's own values are ignored).
SDC_FILLED = {
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
}


class DatabaseLockedError(LoaderError):
    """Another process holds DuckDB's write lock on the file."""


_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def connect(database: str) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB database, turning a lock conflict into a clear message."""
    if database != ":memory:" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", database):
        # A plain file path: create its folder, as users expect of e.g. output/dataops.duckdb.
        with contextlib.suppress(OSError):  # an unwritable place is reported by connect below
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(database)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            match = _LOCK_PID.search(text)
            pid = f" (pid {match.group(1)})" if match else ""
            msg = f"database file {database} is locked by another process{pid}: {text}"
            raise DatabaseLockedError(msg, about_input=False) from None
        msg = f"cannot open database {database}: {text}"
        raise LoaderError(msg, about_input=False) from None
    except duckdb.Error as exc:
        msg = f"cannot open database {database}: {exc}"
        raise LoaderError(msg, about_input=False) from None


@dataclass
class TablePlan:
    """Everything needed to load batches of one stream into one table."""

    stream: str
    schema: str
    table: str  # the table that receives batches (the overwrite shadow for overwrite)
    final_table: str  # the table users query
    method: str  # "upsert" | "append-only" | "overwrite"
    keys: list[str]
    read_columns: dict[str, DType]  # record columns read from the batch file (table types)
    metadata: bool
    sync_started_at: int = 0
    versioned: bool = False  # records carry a version: it lands in _sdc_table_version

    @property
    def carries_version(self) -> bool:
        """The batch file has the records' versions (``__tdd_v``)."""
        return self.metadata or self.versioned

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"


class Database:
    """One DuckDB connection; every change is made in a transaction."""

    def __init__(self, database: str, schema: str, batch_size_rows: int) -> None:
        self.path = database
        self.schema = schema
        self.con = connect(database)
        self.con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC
        # DuckDB caches table pages up to its memory limit (80% of RAM by default),
        # which would make memory grow with the data loaded; cap it from the batch size.
        limit_mb = max(256, (batch_size_rows * 4096) >> 20)
        self.con.execute(f"SET memory_limit = '{limit_mb}MB'")
        self._tmpdir = tempfile.mkdtemp(prefix="target-dataops-duckdb-")
        # However the process ends short of SIGKILL (a failure, SIGTERM, the end of the
        # input), the connection is closed (an open transaction was rolled back by
        # ``transaction``) and the batch files are removed, once.
        self._cleanup = weakref.finalize(self, _close, self.con, self._tmpdir)
        with self.transaction():
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")

    # -- plumbing -----------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> t.Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            stop_if_requested()  # a SIGTERM whose exception was lost on its way: do not commit
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def new_batch_path(self) -> str:
        fd, path = tempfile.mkstemp(prefix="batch-", suffix=".ndjson", dir=self._tmpdir)
        os.close(fd)
        return path

    def close(self) -> None:
        self._cleanup()

    def _columns(self, table: str) -> dict[str, DType] | None:
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = ? AND lower(table_name) = lower(?)",
            [self.schema, table],
        ).fetchone()
        if not exists or not exists[0]:
            return None
        rel = self.con.sql(f"SELECT * FROM {quote_ident(self.schema)}.{quote_ident(table)} LIMIT 0")
        return {name: from_duckdb(ty) for name, ty in zip(rel.columns, rel.types, strict=True)}

    def table_exists(self, table: str) -> bool:
        return self._columns(table) is not None

    def _comment(self, table: str) -> str | None:
        row = self.con.execute(
            "SELECT comment FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = ? AND lower(table_name) = lower(?)",
            [self.schema, table],
        ).fetchone()
        return row[0] if row else None

    # -- tables -------------------------------------------------------------

    def prepare_table(self, stream: str, table: str, declared: dict[str, DType]) -> dict[str, DType]:
        """Create the table or evolve it so every declared column fits; return its columns.

        New properties add columns; a column whose declared type differs is widened
        (never narrowed, see ``types.widen``), converting the stored values in place.
        Columns no longer declared are kept (they receive NULL).
        """
        _check_case_collisions(stream, declared)
        qualified = f"{quote_ident(self.schema)}.{quote_ident(table)}"
        with self.transaction():
            current = self._columns(table)
            if current is None:
                body = ", ".join(f"{quote_ident(n)} {ty.sql()}" for n, ty in declared.items())
                self.con.execute(f"CREATE TABLE {qualified} ({body})")
                self.con.execute(
                    f"COMMENT ON TABLE {qualified} IS {sql_string(STREAM_COMMENT + stream)}"
                )
                return dict(declared)
            comment = self._comment(table) or ""
            if comment.startswith(STREAM_COMMENT) and comment[len(STREAM_COMMENT):] != stream:
                other = comment[len(STREAM_COMMENT):]
                msg = (
                    f"stream {stream!r} maps to table {table!r}, which already holds "
                    f"stream {other!r}; rename one of the streams (e.g. with a stream map alias)"
                )
                raise LoaderError(msg, stream=stream)
            by_lower = {name.lower(): name for name in current}
            for name, ty in declared.items():
                existing = by_lower.get(name.lower())
                if existing is None:
                    self.con.execute(
                        f"ALTER TABLE {qualified} ADD COLUMN {quote_ident(name)} {ty.sql()}"
                    )
                    current[name] = ty
                    continue
                old = current[existing]
                new = widen(old, ty)
                if new != old:
                    col = quote_ident(existing)
                    self.con.execute(
                        f"ALTER TABLE {qualified} ALTER COLUMN {col} TYPE {new.sql()} "
                        f"USING {alter_using(col, old, new)}"
                    )
                    current[existing] = new
            lower_map = {name.lower(): name for name in current}
            return {name: current[lower_map[name.lower()]] for name in declared}

    def start_overwrite(self, table: str) -> str:
        """Create (or reset) the shadow table an overwrite run loads into."""
        shadow = OVERWRITE_PREFIX + table
        src = f"{quote_ident(self.schema)}.{quote_ident(table)}"
        dst = f"{quote_ident(self.schema)}.{quote_ident(shadow)}"
        with self.transaction():
            self.con.execute(f"CREATE OR REPLACE TABLE {dst} AS SELECT * FROM {src} LIMIT 0")
        return shadow

    def finish_overwrite(self, stream: str, table: str) -> None:
        """Swap the shadow in for the table, in one transaction."""
        shadow = OVERWRITE_PREFIX + table
        dst = f"{quote_ident(self.schema)}.{quote_ident(table)}"
        src = f"{quote_ident(self.schema)}.{quote_ident(shadow)}"
        with self.transaction():
            self.con.execute(f"DROP TABLE IF EXISTS {dst}")
            self.con.execute(f"ALTER TABLE {src} RENAME TO {quote_ident(table)}")
            self.con.execute(f"COMMENT ON TABLE {dst} IS {sql_string(STREAM_COMMENT + stream)}")

    def add_missing_columns(self, table: str, columns: dict[str, DType]) -> None:
        """Add those of ``columns`` the table lacks (in one transaction)."""
        with self.transaction():
            self._add_missing_columns(table, columns)

    def _add_missing_columns(self, table: str, columns: dict[str, DType]) -> None:
        qualified = f"{quote_ident(self.schema)}.{quote_ident(table)}"
        for name, ty in columns.items():
            self.con.execute(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {quote_ident(name)} {ty.sql()}")

    # -- table versions (ACTIVATE_VERSION) -------------------------------------

    def activate_version(self, table: str, version: int, *, hard_delete: bool,
                         deleted_at: datetime.datetime) -> int | None:
        """Rows older than ``version`` (or without one) leave ``table``; return how many.

        One statement in one transaction (see the module docstring); None when the table
        does not exist (nothing to delete, and nothing is created).
        """
        qualified = f"{quote_ident(self.schema)}.{quote_ident(table)}"
        older = f"({TABLE_VERSION} IS NULL OR {TABLE_VERSION} < $version)"
        with self.transaction():
            if self._columns(table) is None:
                return None
            if hard_delete:
                self._add_missing_columns(table, {TABLE_VERSION: BIGINT})
                row = self.con.execute(f"DELETE FROM {qualified} WHERE {older}", {"version": version}).fetchone()
            else:
                self._add_missing_columns(table, {TABLE_VERSION: BIGINT, DELETED_AT: TIMESTAMPTZ})
                row = self.con.execute(
                    f"UPDATE {qualified} SET {DELETED_AT} = $deleted_at "
                    f"WHERE {older} AND {DELETED_AT} IS NULL",
                    {"version": version, "deleted_at": deleted_at},
                ).fetchone()
        return int(row[0]) if row else 0

    # -- batches ------------------------------------------------------------

    def _read_json(self, path: str, columns: dict[str, DType]) -> str:
        spec = ", ".join(f"{sql_string(n)}: {sql_string(ty.sql())}" for n, ty in columns.items())
        return (
            f"read_json({sql_string(path)}, format = 'newline_delimited', "
            f"columns = {{{spec}}}, maximum_object_size = {MAX_OBJECT_SIZE})"
        )

    def _file_columns(self, plan: TablePlan) -> dict[str, DType]:
        columns: dict[str, DType] = {LINE: BIGINT}
        if plan.metadata:
            columns[RECEIVED] = DType("DOUBLE")
            columns[EXTRACTED] = TIMESTAMPTZ
        if plan.carries_version:
            columns[VERSION] = BIGINT
        columns.update(plan.read_columns)
        return columns

    def _select_list(self, plan: TablePlan, batched_at: str) -> str:
        items = [quote_ident(LINE)]
        items += [quote_ident(name) for name in plan.read_columns]
        if plan.metadata:
            items += [
                f"{quote_ident(EXTRACTED)} AS _sdc_extracted_at",
                f"to_timestamp({quote_ident(RECEIVED)}) AS _sdc_received_at",
                f"TIMESTAMPTZ {sql_string(batched_at)} AS _sdc_batched_at",
                f"CAST(round({quote_ident(RECEIVED)} * 1000) AS BIGINT) AS _sdc_sequence",
                f"CAST({int(plan.sync_started_at)} AS BIGINT) AS _sdc_sync_started_at",
            ]
        if plan.carries_version:
            items.append(f"{quote_ident(VERSION)} AS {TABLE_VERSION}")
        return ", ".join(items)

    def load_batch(self, plan: TablePlan, path: str, batched_at: str) -> int:
        """Apply one batch file to its table in one transaction; return rows written."""
        source = self._read_json(path, self._file_columns(plan))
        select = self._select_list(plan, batched_at)
        try:
            with self.transaction():
                if plan.method == "upsert" and plan.keys:
                    keys = ", ".join(quote_ident(k) for k in plan.keys)
                    self.con.execute(
                        f"CREATE OR REPLACE TEMP TABLE {BATCH_TABLE} AS "
                        f"SELECT {select} FROM {source} "
                        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {LINE} DESC) = 1"
                    )
                    match = " AND ".join(
                        f"t.{quote_ident(k)} IS NOT DISTINCT FROM b.{quote_ident(k)}"
                        for k in plan.keys
                    )
                    self.con.execute(
                        f"DELETE FROM {plan.qualified} AS t USING {BATCH_TABLE} AS b WHERE {match}"
                    )
                    row = self.con.execute(
                        f"INSERT INTO {plan.qualified} BY NAME "
                        f"SELECT * EXCLUDE ({LINE}) FROM {BATCH_TABLE}"
                    ).fetchone()
                    self.con.execute(f"DROP TABLE {BATCH_TABLE}")
                else:
                    row = self.con.execute(
                        f"INSERT INTO {plan.qualified} BY NAME "
                        f"SELECT * EXCLUDE ({LINE}) FROM (SELECT {select} FROM {source})"
                    ).fetchone()
        except duckdb.InterruptException:
            raise  # a signal stopped the query (rolled back): nothing to locate
        except duckdb.Error as exc:
            raise self.locate_error(plan, path, exc) from None
        return int(row[0]) if row else 0

    def locate_error(self, plan: TablePlan, path: str, error: duckdb.Error) -> LoaderError:
        """Name the input line and column of the value DuckDB could not store."""
        columns = self._file_columns(plan)
        lines = Path(path).read_bytes().splitlines()

        def failure(chunk: list[bytes], cols: dict[str, DType]) -> str | None:
            probe = self.new_batch_path()
            try:
                Path(probe).write_bytes(b"\n".join(chunk) + b"\n")
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE __tdd_probe AS SELECT * FROM {self._read_json(probe, cols)}"
                )
            except duckdb.Error as exc:
                return str(exc)
            finally:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("DROP TABLE IF EXISTS __tdd_probe")
                with contextlib.suppress(OSError):
                    os.unlink(probe)
            return None

        if not lines or failure(lines, columns) is None:
            return LoaderError(
                f"could not load the batch: {_first_line(str(error))}",
                stream=plan.stream,
                about_input=False,
            )
        low, high = 1, len(lines)  # smallest prefix length that fails
        while low < high:
            mid = (low + high) // 2
            if failure(lines[:mid], columns) is None:
                low = mid + 1
            else:
                high = mid
        culprit = lines[low - 1]
        line_no: int | None = None
        with contextlib.suppress(Exception):
            line_no = int(msgspec.json.decode(culprit, type=dict[str, t.Any])[LINE])
        neutral = failure([culprit], {LINE: columns[LINE]})
        for name, ty in plan.read_columns.items() if neutral is None else ():
            problem = failure([culprit], {name: ty})
            if problem is not None:
                value = _value_text(culprit, name)
                msg = (
                    f"value {value} cannot be stored in column {name!r} ({ty.sql()}): "
                    f"{_duckdb_reason(problem)}"
                )
                return LoaderError(msg, line=line_no, stream=plan.stream, about_input=False)
        problem = failure([culprit], columns) or str(error)
        return LoaderError(
            f"record cannot be stored: {_duckdb_reason(problem)}",
            line=line_no,
            stream=plan.stream,
            about_input=False,
        )


def _close(con: duckdb.DuckDBPyConnection, tmpdir: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.close()
    shutil.rmtree(tmpdir, ignore_errors=True)


def _check_case_collisions(stream: str, declared: dict[str, DType]) -> None:
    seen: dict[str, str] = {}
    for name in declared:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            msg = (
                f"properties {other!r} and {name!r} differ only in case; DuckDB column "
                "names are case-insensitive, so they cannot both be columns"
            )
            raise LoaderError(msg, stream=stream)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


_REASON = re.compile(r"in line \d+: (.*)")


def _duckdb_reason(text: str) -> str:
    first = _first_line(text)
    match = _REASON.search(first)
    return match.group(1) if match else first


def _value_text(line: bytes, name: str) -> str:
    with contextlib.suppress(Exception):
        value = msgspec.json.decode(line, type=dict[str, t.Any]).get(name)
        text = msgspec.json.encode(value).decode()
        return text if len(text) <= 80 else text[:77] + "..."
    return "?"
