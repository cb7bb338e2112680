"""One stream's sink: checks each record, appends its JSON to a batch file, loads full batches.

The record path is the loader's hot loop (``add_raw``): a record is type-checked against its
schema with msgspec (about 1 µs; ``validate_records: false`` skips it), its key properties
are checked, and its bytes are appended to the batch file with the loader's fields
spliced in front (see ``database``). ``process_batch`` (the SDK's hook, called by
``drain_all``) loads the file in one transaction; ``activate_version`` (the SDK's hook for
ACTIVATE_VERSION) deletes older table versions once everything before it is committed.
"""

from __future__ import annotations

import datetime
import os
import time
import typing as t

import msgspec
from singer_sdk.exceptions import InvalidRecord, MissingKeyPropertiesError
from singer_sdk.sinks.core import JSONSchemaValidator

from target_dataops_duckdb.column_types import BIGINT, column_types, table_name_for_stream, validation_type
from target_dataops_duckdb.database import EXTRACTED, LINE, RECEIVED, SDC_FILLED, TABLE_VERSION, VERSION, TablePlan
from target_dataops_duckdb.errors import LoaderError
from target_dataops_duckdb.sdk_overrides import SinkSeams, override

if t.TYPE_CHECKING:
    from target_dataops_duckdb.target import TargetDataOpsDuckDB

DEFAULT_BATCH_SIZE_ROWS = 25_000


class MissingKeyError(LoaderError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties."""


class RecordTypeError(LoaderError):
    """A record's value does not have the JSON type its schema declares."""


encoder = msgspec.json.Encoder(
    enc_hook=lambda obj: obj.isoformat() if hasattr(obj, "isoformat") else str(obj),
    decimal_format="number",
)


class DuckDBSink(SinkSeams):
    """Buffers a stream's raw record JSON in a file and loads it in batches."""

    MAX_SIZE_DEFAULT = DEFAULT_BATCH_SIZE_ROWS

    @override
    def __init__(self, target: TargetDataOpsDuckDB, stream_name: str, schema: dict,
                 key_properties: t.Sequence[str] | None) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self._metadata = bool(self.include_sdc_metadata_properties)
        self._validate: t.Callable[[bytes], t.Any] | None = None
        if self.config.get("validate_records", True):
            self._validate = msgspec.json.Decoder(validation_type(self.schema)).decode
        self._slow_validator: JSONSchemaValidator | None = None
        self._key_needles = [(k, encoder.encode(k)) for k in self.key_properties]
        self._extracted_cache: tuple[t.Any, bytes] = (None, b"null")
        self._version_cache: tuple[t.Any, bytes] = (None, b"null")
        self._versioned = False  # the records carry a version (the plan's, cached for the hot loop)
        self._batch: t.BinaryIO | None = None  # the open batch file
        self._batch_path = ""
        self.plan: TablePlan | None = None

    @property
    def load_method(self) -> str:
        method = self.config.get("load_method") or "upsert"
        if method == "upsert" and not self.key_properties:
            return "append-only"
        return method

    @override
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
        # Records of the old schema still buffered are committed before the table changes
        # under them (a buffered object would otherwise be cast into a widened VARCHAR
        # column in DuckDB's literal syntax, not as JSON text).
        self._target.commit_before_table_changes(self.stream_name)
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
        if version is not None and version != self._version_cache[0]:
            self._new_version(version, line)
        out = self._batch or self._open_batch()
        if self._metadata:
            if time_extracted != self._extracted_cache[0]:
                self._extracted_cache = (time_extracted, encoder.encode(time_extracted))
            head = b'{"%b":%d,"%b":%.6f,"%b":%b,"%b":%b' % (
                LINE.encode(), line, RECEIVED.encode(), time.time(), EXTRACTED.encode(),
                self._extracted_cache[1], VERSION.encode(),
                b"null" if version is None else self._version_cache[1],
            )
        elif self._versioned:
            head = b'{"__tdd_l":%d,"__tdd_v":%b' % (line, b"null" if version is None else self._version_cache[1])
        else:
            head = b'{"__tdd_l":%d' % line
        if len(data) < 16 and not data[1:-1].strip():
            out.write(head + b"}\n")  # empty record {}
        else:
            out.write(head + b",")
            out.write(memoryview(data)[1:])
            out.write(b"\n")
        self.tally_record_read()

    def _new_version(self, version: t.Any, line: int) -> None:
        if type(version) is not int:
            msg = f"RECORD 'version' must be an integer, not {encoder.encode(version).decode()[:40]}"
            raise LoaderError(msg, line=line, stream=self.stream_name)
        self._version_cache = (version, b"%d" % version)
        plan = t.cast("TablePlan", self.plan)
        if not plan.versioned:
            # The stream is versioned (ACTIVATE_VERSION will follow): its rows keep their
            # version, with add_record_metadata or without.
            if not plan.metadata:  # with it, the column is declared already
                self._target.database.add_missing_columns(plan.table, {TABLE_VERSION: BIGINT})
            plan.versioned = self._versioned = True

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

    def _open_batch(self) -> t.BinaryIO:
        self._batch_path = self._target.database.new_batch_path()
        self._batch = open(self._batch_path, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in process_batch
        self._target.uncommitted.add(self)
        return self._batch

    @override
    def process_batch(self, context: dict) -> None:
        if "records" in context:  # BATCH messages (the SDK reads the files)
            for record in context["records"]:
                self.add_raw(encoder.encode(record), 0, None, None)
        if self._batch is None or self.plan is None:
            return
        self._batch.close()
        self._batch = None
        # _sdc_batched_at: when the batch is loaded (every record in it was received before).
        batched_at = datetime.datetime.now(tz=datetime.UTC).isoformat()
        try:
            self._target.database.load_batch(self.plan, self._batch_path, batched_at)
        finally:
            self._target.uncommitted.discard(self)
            if os.path.exists(self._batch_path):
                os.unlink(self._batch_path)

    # -- table versions -----------------------------------------------------

    @override
    def activate_version(self, new_version: int) -> None:
        """Rows of older versions leave the table (or are marked deleted), in one transaction.

        Every record read before the ACTIVATE_VERSION is committed first, so a STATE read
        after it is written only once the delete is committed too.
        """
        self._target.drain_all()
        plan = t.cast("TablePlan", self.plan)
        hard_delete = bool(self.config["hard_delete"])
        count = self._target.database.activate_version(
            plan.table, new_version, hard_delete=hard_delete,
            deleted_at=datetime.datetime.now(tz=datetime.UTC),
        )
        self.logger.info(
            "Activated version %d of table %s: %d rows of older versions %s",
            new_version, plan.final_table, count or 0, "deleted" if hard_delete else "marked deleted (_sdc_deleted_at)",
        )
