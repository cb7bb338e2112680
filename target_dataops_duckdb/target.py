"""target-dataops-duckdb: a Singer target that lands any tap's output in DuckDB.

How the pieces fit (singer-sdk hooks, not replacements):

- ``message_reader_class`` = :class:`~target_dataops_duckdb.reader.RawRecordReader`: reads
  lines, keeps each record's JSON undecoded, counts lines for error messages.
- ``_process_record_message``: the per-record fast path. A record is type-checked
  against its schema with msgspec (about 1 µs; ``validate_records: false`` skips it),
  its key properties are checked, and its bytes are appended to the sink's batch file.
  Streams with stream maps or flattening take the SDK's mapper path instead.
- :class:`DuckDBSink` (a ``BatchSink``): ``setup`` creates/evolves the table,
  ``process_batch`` loads the batch file in one transaction (``database.Database``).
- STATE: a STATE message is emitted (to stdout) only when every record read before it
  is committed: immediately if nothing is buffered, otherwise after the next
  ``drain_all`` (a full batch drains every stream, then emits the latest STATE).
  ``overwrite`` streams hold STATE back until their table is swapped in at the end.
- Errors: every failure is one line on stderr, ``target-dataops-duckdb: line N
  (stream S): ...``, exit code 1 (143/130 for SIGTERM/SIGINT), no traceback; any open
  transaction is rolled back.
"""

from __future__ import annotations

import copy
import datetime
import json
import sys
import time
import typing as t

import msgspec
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidRecord,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import JSONSchemaValidator
from singer_sdk.target_base import Target

from target_dataops_duckdb.reader import RawRecordReader
from target_dataops_duckdb.database import (
    EXTRACTED,
    LINE,
    OVERWRITE_PREFIX,
    RECEIVED,
    SDC_FILLED,
    VERSION,
    Database,
    LoaderError,
    TablePlan,
)
from target_dataops_duckdb.column_types import column_types, table_name_for_stream, validation_type

if t.TYPE_CHECKING:
    from types import FrameType

NAME = "target-dataops-duckdb"
DEFAULT_BATCH_SIZE_ROWS = 25_000


class RecordBeforeSchemaError(LoaderError, RecordsWithoutSchemaException):
    """A RECORD arrived for a stream that has had no SCHEMA."""


class MissingKeyError(LoaderError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties."""


class RecordTypeError(LoaderError):
    """A record's value does not have the JSON type its schema declares."""


class TerminatedError(LoaderError):
    """SIGTERM/SIGINT: stop now; nothing uncommitted is committed."""

    def __init__(self, signum: int) -> None:
        super().__init__(
            f"terminated by signal {signum}; records after the last emitted STATE "
            "were not committed (rerun from that state)"
        )
        self.signum = signum


_encoder = msgspec.json.Encoder(
    enc_hook=lambda obj: obj.isoformat() if hasattr(obj, "isoformat") else str(obj),
    decimal_format="number",
)


class DuckDBSink(BatchSink):
    """Buffers a stream's raw record JSON in a file and loads it in batches."""

    MAX_SIZE_DEFAULT = DEFAULT_BATCH_SIZE_ROWS

    def __init__(self, target: TargetDataOpsDuckDB, stream_name: str, schema: dict,
                 key_properties: t.Sequence[str] | None) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self._metadata = bool(self.include_sdc_metadata_properties)
        self._validate: t.Callable[[bytes], t.Any] | None = None
        if self.config.get("validate_records", True):
            self._validate = msgspec.json.Decoder(validation_type(self.schema)).decode
        self._slow_validator: JSONSchemaValidator | None = None
        self._key_needles = [(k, _encoder.encode(k)) for k in self.key_properties]
        self._extracted_cache: tuple[t.Any, bytes] = (None, b"null")
        self.plan: TablePlan | None = None

    # The SDK's per-record JSON-Schema validation is replaced by the msgspec type check.
    def get_validator(self) -> None:  # type: ignore[override]
        return None

    @property
    def load_method(self) -> str:
        method = self.config.get("load_method") or "upsert"
        if method == "upsert" and not self.key_properties:
            return "append-only"
        return method

    def setup(self) -> None:
        super().setup()
        declared = column_types(self.schema)
        if not declared:
            msg = "SCHEMA declares no properties; there is nothing to make columns of"
            raise LoaderError(msg, stream=self.stream_name)
        missing = [k for k in self.key_properties if k not in declared]
        if missing:
            msg = f"key properties {missing} are not properties of the schema"
            raise LoaderError(msg, stream=self.stream_name)
        db = self._target.database
        table = table_name_for_stream(self.stream_name)
        types = db.prepare_table(self.stream_name, table, declared)
        load_table = table
        if self.load_method == "overwrite":
            load_table = self._target.overwrite_table(self.stream_name, table)
            types = db.prepare_table(self.stream_name, load_table, declared)
        self.plan = TablePlan(
            stream=self.stream_name,
            schema=db.schema,
            table=load_table,
            final_table=table,
            method=self.load_method,
            keys=list(self.key_properties),
            read_columns={n: ty for n, ty in types.items() if n not in SDC_FILLED},
            metadata=self._metadata,
            sync_started_at=self.sync_started_at,
        )

    # -- per record ---------------------------------------------------------

    def add_raw(self, data: bytes, line: int, time_extracted: t.Any, version: t.Any) -> None:
        """Check one record's JSON and append it to the batch file."""
        if self._validate is not None:
            try:
                self._validate(data)
            except msgspec.ValidationError as exc:
                self._recheck(data, exc, line)
        elif data[:1] != b"{":
            msg = "record is not a JSON object"
            raise RecordTypeError(msg, line=line, stream=self.stream_name)
        for key, needle in self._key_needles:
            if needle not in data and key not in msgspec.json.decode(data):
                msg = f"record has no key property {key!r} (key properties: {list(self.key_properties)})"
                raise MissingKeyError(msg, line=line, stream=self.stream_name)
        context = self._pending_batch or self._get_context({})
        out = context["out"]
        if self._metadata:
            if time_extracted != self._extracted_cache[0]:
                self._extracted_cache = (time_extracted, _encoder.encode(time_extracted))
            head = b'{"%b":%d,"%b":%.6f,"%b":%b,"%b":%b' % (
                LINE.encode(), line, RECEIVED.encode(), time.time(), EXTRACTED.encode(),
                self._extracted_cache[1], VERSION.encode(),
                b"null" if version is None else _encoder.encode(version),
            )
        else:
            head = b'{"__tdd_l":%d' % line
        if len(data) < 16 and not data[1:-1].strip():
            out.write(head + b"}\n")  # empty record {}
        else:
            out.write(head + b",")
            out.write(memoryview(data)[1:])
            out.write(b"\n")
        self.tally_record_read()

    def _recheck(self, data: bytes, exc: msgspec.ValidationError, line: int) -> None:
        """msgspec is stricter than JSON Schema in a few places (1.0 is an integer):
        ask the SDK's JSON-Schema validator before rejecting."""
        try:
            record = msgspec.json.decode(data)
        except msgspec.DecodeError:
            record = None
        if isinstance(record, dict):
            if self._slow_validator is None:
                self._slow_validator = JSONSchemaValidator(self.schema)
            try:
                self._slow_validator.validate(record)
            except InvalidRecord:
                pass
            else:
                return
        msg = f"record does not match the stream's schema: {exc}"
        raise RecordTypeError(msg, line=line, stream=self.stream_name) from None

    # -- batches ------------------------------------------------------------

    def start_batch(self, context: dict) -> None:
        path = self._target.database.new_batch_path()
        context["path"] = path
        context["out"] = open(path, "wb", buffering=1 << 20)  # noqa: SIM115

    def process_batch(self, context: dict) -> None:
        if "records" in context and "out" not in context:  # BATCH messages (SDK path)
            self.start_batch(context)
            for record in context["records"]:
                self.add_raw(_encoder.encode(record), 0, None, None)
        out = context.get("out")
        if out is None or self.plan is None:
            return
        out.close()
        # _sdc_batched_at: when the batch is loaded (every record in it was received before).
        batched_at = datetime.datetime.now(tz=datetime.timezone.utc).isoformat()
        path = context["path"]
        try:
            self._target.database.load_batch(self.plan, path, batched_at)
        finally:
            import os  # noqa: PLC0415

            if os.path.exists(path):
                os.unlink(path)


class TargetDataOpsDuckDB(Target):
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
        TargetCapabilities.VALIDATE_RECORDS,
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
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._database: Database | None = None
        self._overwrites: dict[str, str] = {}  # table -> stream, shadow pending
        self._fast: dict[str, DuckDBSink | None] = {}
        self._emitted_state: t.Any = None
        self._at_end = False
        self._terminated_by = 0
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1  # one DuckDB connection, batches applied in order

    # -- database -----------------------------------------------------------

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(
                self.config.get("database") or "dataops.duckdb",
                self.config.get("schema") or "main",
                int(self.config.get("batch_size_rows") or DEFAULT_BATCH_SIZE_ROWS),
            )
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

    def close(self) -> None:
        """Close the database (after a failure too: nothing uncommitted survives)."""
        if self._database is not None:
            self._database.close()
            self._database = None

    # -- messages -----------------------------------------------------------

    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        maps = self.mapper.stream_maps.get(stream) if isinstance(stream, str) else None
        if maps and (
            maps[0].raw_schema != message_dict.get("schema")
            or maps[0].raw_key_properties != message_dict.get("key_properties")
        ):
            # Commit what the old schema buffered before the table changes under it.
            self.drain_all()
        self._fast.clear()
        super()._process_schema_message(message_dict)

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
            return t.cast("DuckDBSink", self._sinks_active[stream])
        return None

    def _process_record_message(self, message_dict: dict) -> None:
        stream = message_dict["stream"]
        record = message_dict["record"]
        line = getattr(self.message_reader, "line_number", 0)
        try:
            sink = self._fast[stream]
        except KeyError:
            sink = self._fast[stream] = self._sink_for_fast_path(stream)
        if sink is not None:
            data = bytes(record) if isinstance(record, msgspec.Raw) else _encoder.encode(record)
            sink.add_raw(data, line, message_dict.get("time_extracted"), message_dict.get("version"))
            sink.record_counter_metric.increment()
            if sink.is_full:
                self.drain_all()
        else:
            self._process_mapped_record(stream, record, line, message_dict)
        self._handle_max_record_age()

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
            sink.add_raw(_encoder.encode(transformed), line, message.get("time_extracted"),
                         message.get("version"))
            sink.record_counter_metric.increment()
            if sink.is_full:
                self.drain_all()

    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        pending = any(s.current_size for s in self._sinks_active.values()) or any(
            s.current_size for s in self._sinks_to_clear
        )
        if not pending and self._latest_state is not None:
            # Every record before this STATE is already committed.
            self._write_state_message(copy.deepcopy(self._latest_state))

    def _write_state_message(self, state: dict) -> None:
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

    def process_endofpipe(self) -> None:
        self._at_end = True
        try:
            super().process_endofpipe()  # drain_all(is_endofpipe=True), then STATE
            self._finish_overwrites()  # when no STATE was ever received
        finally:
            self.close()

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        # Stop where we are: an open transaction is rolled back, and records after
        # the last emitted STATE are replayed by the next run.
        self._terminated_by = signum
        raise TerminatedError(signum)

    # -- command line -------------------------------------------------------

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        if about:
            super().invoke(about=about, about_format=about_format, config=config,
                           file_input=file_input)
            return
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        target: TargetDataOpsDuckDB | None = None
        try:
            target = cls(config=config.config, validate_config=True,
                         parse_env_config=config.parse_env)
            target.listen(file_input)
        except ConfigValidationError as exc:
            # One line, like every other failure (the SDK would log each error separately).
            detail = "; ".join(" ".join(str(e).split()) for e in exc.errors) or str(exc)
            fail(f"invalid configuration: {detail}; fix the loader's config file")
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001
            if target is not None:
                target.close()
                if target._terminated_by and not isinstance(exc, TerminatedError):
                    exc = TerminatedError(target._terminated_by)  # DuckDB saw it as an interrupt
            sys.stdout.flush()
            sys.stderr.write(f"{cls.name}: {describe_error(exc)}\n")
            sys.stderr.flush()
            code = 1
            if isinstance(exc, TerminatedError):
                code = 128 + exc.signum
            elif isinstance(exc, KeyboardInterrupt):
                code = 130
            sys.exit(code)


    @classmethod
    def cb_config(cls, ctx: t.Any, param: t.Any, value: tuple[str, ...]) -> _ConfigInput:  # type: ignore[override]
        # --config is read while the command line is parsed, before invoke: a missing or
        # malformed file would otherwise end in the SDK's logged traceback.
        try:
            return super().cb_config(ctx, param, value)
        except FileNotFoundError as exc:
            fail(f"{exc}; check the --config path")
        except ValueError as exc:  # json's and simplejson's decode errors
            fail(f"the --config file is not valid JSON ({' '.join(str(exc).split())}); fix it")


def fail(message: str) -> t.NoReturn:
    """One line on stderr, exit code 1."""
    sys.stdout.flush()
    sys.stderr.write(f"{NAME}: {message}\n")
    sys.stderr.flush()
    sys.exit(1)


def describe_error(exc: BaseException) -> str:
    """One line for any failure."""
    if isinstance(exc, LoaderError):
        return exc.one_line()
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 400:
        text = text[:397] + "..."
    where = []
    line = getattr(exc, "singer_line", None)
    stream = getattr(exc, "singer_stream", None)
    if line is not None:
        where.append(f"line {line}")
    if stream is not None:
        where.append(f"(stream {stream})")
    return f"{' '.join(where)}: {text}" if where else text
