"""target-dataops-duckdb: a Singer target that lands any tap's output in DuckDB.

How the pieces fit:

- ``reader.RawRecordReader`` (the SDK's ``message_reader_class``): reads lines, keeps
  each record's JSON undecoded, counts lines for error messages.
- ``on_record``: the per-record fast path into ``sink.DuckDBSink.add_raw``. Streams
  with stream maps or flattening take the SDK's mapper first.
- ``sink.DuckDBSink`` (a ``BatchSink``): ``setup`` creates/evolves the table,
  ``process_batch`` loads the batch file in one transaction (``database.Database``),
  ``activate_version`` deletes older table versions.
- STATE: a STATE message is emitted (to stdout) only when every record read before it
  is committed: immediately if nothing is buffered, otherwise after the next
  ``drain_all`` (a full batch drains every stream, then emits the latest STATE).
  ``overwrite`` streams hold STATE back until their table is swapped in at the end.
- ACTIVATE_VERSION: every record before it is committed, then rows of older versions
  leave the table (``hard_delete``), before the next line is read.
- Errors: every failure is one line on stderr, ``target-dataops-duckdb: line N
  (stream S): ...``, and an exit code (``errors``; written by
  ``sdk_overrides.OneLineErrorsCommand``). SIGTERM/SIGINT stop at once; any open
  transaction is rolled back.
- Where the SDK's public hooks do not suffice, the override is in ``sdk_overrides``.
"""

from __future__ import annotations

import copy
import json
import sys
import typing as t

import msgspec
from singer_sdk import typing as th
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform

from target_dataops_duckdb.column_types import table_name_for_stream
from target_dataops_duckdb.database import OVERWRITE_PREFIX, Database
from target_dataops_duckdb.errors import LoaderError
from target_dataops_duckdb.reader import RawRecordReader
from target_dataops_duckdb.sdk_overrides import TargetSeams, override
from target_dataops_duckdb.sink import DEFAULT_BATCH_SIZE_ROWS, DuckDBSink, RecordTypeError, encoder

NAME = "target-dataops-duckdb"


class RecordBeforeSchemaError(LoaderError, RecordsWithoutSchemaException):
    """A RECORD arrived for a stream that has had no SCHEMA."""


class TargetDataOpsDuckDB(TargetSeams):
    """Singer target for DuckDB (and MotherDuck): fast, typed, idempotent."""

    name = NAME
    package_name = "tap-dataops"
    default_sink_class = DuckDBSink
    message_reader_class = RawRecordReader
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "database",
            th.StringType,
            default="dataops.duckdb",
            title="Database",
            description="Path of the DuckDB database file (any path DuckDB accepts, "
            "including `md:` for MotherDuck).",
        ),
        th.Property(
            "schema",
            th.StringType,
            default="main",
            title="Schema",
            description="Database schema the tables are created in.",
        ),
        th.Property(
            "load_method",
            th.StringType,
            default="upsert",
            allowed_values=["upsert", "append-only", "overwrite"],
            title="Load Method",
            description="`upsert` (default): replace rows by key properties (streams "
            "without keys are appended); `append-only`: insert every record; "
            "`overwrite`: replace each table with this run's records.",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=DEFAULT_BATCH_SIZE_ROWS,
            title="Batch Size Rows",
            description="Records per stream buffered (in a temporary file) before "
            "they are committed; STATE is emitted at these commits.",
        ),
        th.Property(
            "add_record_metadata",
            th.BooleanType,
            default=False,
            title="Add Record Metadata",
            description="Add the `_sdc_extracted_at`, `_sdc_received_at`, "
            "`_sdc_batched_at`, `_sdc_deleted_at`, `_sdc_sequence`, "
            "`_sdc_table_version` and `_sdc_sync_started_at` columns.",
        ),
        th.Property(
            "hard_delete",
            th.BooleanType,
            default=True,
            title="Hard Delete",
            description="On ACTIVATE_VERSION (sent by a tap after the last record of a "
            "stream it lists completely), rows of older versions are deleted (`true`), or "
            "kept with `_sdc_deleted_at` set to the time of the message (`false`, soft "
            "delete). Defaults to `true`, unlike the SDK's SQL targets: the tables then "
            "hold what the source holds, so every query (the inventory notebook's "
            "included) is right without a `WHERE _sdc_deleted_at IS NULL`.",
        ),
    ).to_dict()

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._database: Database | None = None
        self._overwrites: dict[str, str] = {}  # table -> stream, shadow pending
        self._fast: dict[str, DuckDBSink | None] = {}
        self._emitted_state: t.Any = None
        self._at_end = False
        self.uncommitted: set[DuckDBSink] = set()  # sinks with records in a batch file
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1  # one DuckDB connection, batches applied in order

    # -- database -----------------------------------------------------------

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(self.config["database"], self.config["schema"],
                                      self.config["batch_size_rows"])
        return self._database

    def overwrite_table(self, stream: str, table: str) -> str:
        """The shadow table an overwrite stream loads into (created once per run)."""
        if table not in self._overwrites:
            self._overwrites[table] = stream
            return self.database.start_overwrite(table)
        return OVERWRITE_PREFIX + table

    def _finish_overwrites(self) -> None:
        for table, stream in list(self._overwrites.items()):
            self.database.finish_overwrite(stream, table)
            del self._overwrites[table]

    def commit_before_table_changes(self, stream: str) -> None:
        """A new sink for ``stream`` is about to change its table: commit what is buffered."""
        self._fast.clear()
        if any(sink.stream_name == stream for sink in self.uncommitted):
            self.drain_all()

    def close(self) -> None:
        """Close the database (after a failure too: nothing uncommitted survives)."""
        if self._database is not None:
            self._database.close()
            self._database = None

    # -- records ------------------------------------------------------------

    @override
    def on_record(self, message: dict) -> None:
        stream = message["stream"]
        record = message["record"]
        line = getattr(self.message_reader, "line_number", 0)
        try:
            sink = self._fast[stream]
        except KeyError:
            sink = self._fast[stream] = self._sink_for_fast_path(stream)
        if sink is not None:
            data = bytes(record) if isinstance(record, msgspec.Raw) else encoder.encode(record)
            sink.add_raw(data, line, message.get("time_extracted"), message.get("version"))
            sink.record_counter_metric.increment()
            if sink.is_full:
                self.drain_all()
        else:
            self._process_mapped_record(stream, record, line, message)

    def _sink_for_fast_path(self, stream: str) -> DuckDBSink | None:
        maps = self.mapper.stream_maps.get(stream)
        if maps is None:
            msg = f"RECORD before SCHEMA for stream {stream!r}"
            raise RecordBeforeSchemaError(msg, stream=stream)
        if (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not maps[0].flattening_enabled
        ):
            return t.cast("DuckDBSink", self.get_sink(stream))
        return None

    def _process_mapped_record(self, stream: str, record: t.Any, line: int, message: dict) -> None:
        """Streams with stream maps / flattening: the SDK's mapper transforms the record."""
        decoded = msgspec.json.decode(record) if isinstance(record, msgspec.Raw) else record
        if not isinstance(decoded, dict):
            msg = "record is not a JSON object"
            raise RecordTypeError(msg, line=line, stream=stream)
        for stream_map in self.mapper.stream_maps[stream]:
            transformed = stream_map.transform(copy.copy(decoded))
            if transformed is None:
                continue
            sink = t.cast("DuckDBSink", self.get_sink(stream_map.stream_alias, record=transformed))
            sink.add_raw(encoder.encode(transformed), line, message.get("time_extracted"),
                         message.get("version"))
            sink.record_counter_metric.increment()
            if sink.is_full:
                self.drain_all()

    # -- STATE --------------------------------------------------------------

    @override
    def on_state(self, value: t.Any) -> None:
        if not self.uncommitted and value is not None:
            self.write_state(copy.deepcopy(value))  # every record before it is committed

    @override
    def write_state(self, state: dict) -> None:
        """Emit STATE, but never ahead of its data (called by ``drain_all``)."""
        if self._overwrites:
            if not self._at_end:
                return  # overwrite tables are swapped in at the end; hold STATE till then
            self._finish_overwrites()
        if state == self._emitted_state:
            return
        self._emitted_state = state
        sys.stdout.write(json.dumps(state) + "\n")
        sys.stdout.flush()

    # -- ACTIVATE_VERSION ---------------------------------------------------

    @override
    def on_activate_version(self, message: dict) -> None:
        stream = message.get("stream")
        version = message.get("version")
        if not isinstance(stream, str):
            msg = "ACTIVATE_VERSION message without 'stream'"
            raise LoaderError(msg)
        if type(version) is not int:
            msg = f"ACTIVATE_VERSION 'version' must be an integer, not {json.dumps(version)[:40]}"
            raise LoaderError(msg, stream=stream)
        maps = self.mapper.stream_maps.get(stream)
        if maps is None:
            # No SCHEMA for the stream in this run. Without a table there is nothing to
            # delete (and nothing is created); with one, which rows to delete is a guess.
            table = table_name_for_stream(stream)
            if self.database.table_exists(table):
                msg = (f"ACTIVATE_VERSION before SCHEMA for stream {stream!r}, whose table {table!r} "
                       "exists; the tap must send the stream's SCHEMA first")
                raise LoaderError(msg, stream=stream)
            self.logger.info("ACTIVATE_VERSION for stream '%s', which has no table: nothing to delete", stream)
            return
        for stream_map in maps:
            if isinstance(stream_map, RemoveRecordTransform):
                continue  # a stream map drops this stream: it has no table here
            sink = self.get_sink(stream_map.stream_alias)
            if not sink.process_activate_version_messages:
                self.logger.warning("process_activate_version_messages is false: ACTIVATE_VERSION for "
                                    "'%s' ignored", stream_map.stream_alias)
                continue
            sink.activate_version(version)

    # -- the end ------------------------------------------------------------

    @override
    def process_endofpipe(self) -> None:
        self._at_end = True
        try:
            super().process_endofpipe()  # drain_all(is_endofpipe=True), then STATE
            self._finish_overwrites()  # when no STATE was ever received
        finally:
            self.close()
