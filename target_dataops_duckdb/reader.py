"""A Singer message reader that leaves each record's JSON undecoded.

singer-sdk's readers decode every line into Python objects; the sink would then
re-encode them. This reader (the SDK's ``message_reader_class`` hook) decodes each
line with msgspec into the message envelope only: ``record`` stays a
``msgspec.Raw`` (the record's exact JSON bytes), which the DuckDB sink writes
straight into its batch file. Other messages are handed to the target's callbacks as
ordinary dicts, as the SDK expects.

It also counts input lines, so every error can name the line it came from.
"""

from __future__ import annotations

import sys
import typing as t
from collections import Counter

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerReader, SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dataops_duckdb.database import LoaderError

NO_RECORD = msgspec.Raw(b"")


class InvalidLineError(LoaderError, InvalidInputLine):
    """A line that is not a Singer message (malformed JSON, no type, ...)."""


class _Envelope(msgspec.Struct, gc=False):
    type: t.Any = None
    stream: t.Any = None
    record: msgspec.Raw = NO_RECORD
    schema: t.Any = None
    key_properties: t.Any = None
    bookmark_properties: t.Any = None
    value: t.Any = None
    time_extracted: t.Any = None
    version: t.Any = None
    encoding: t.Any = None
    manifest: t.Any = None


_OTHER_FIELDS = ("stream", "schema", "key_properties", "bookmark_properties", "value",
                 "time_extracted", "version", "encoding", "manifest")


class RawRecordReader(GenericSingerReader[bytes]):
    """Reads Singer messages; RECORD messages keep ``record`` as ``msgspec.Raw``."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self._decoder = msgspec.json.Decoder(_Envelope)

    @property
    def default_input(self) -> t.IO[bytes]:  # type: ignore[override]
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes | str) -> dict:  # type: ignore[override]
        try:
            return msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            msg = f"malformed JSON: {exc}"
            raise InvalidLineError(msg, line=self.line_number) from None

    def process_lines(  # type: ignore[override]
        self,
        file_input: t.IO[bytes] | t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        source = file_input if file_input is not None else self.default_input
        decode = self._decoder.decode
        on_record = callbacks[SingerMessageType.RECORD]
        record_type = SingerMessageType.RECORD.value
        line_number = 0
        message = None
        try:
            for line in source:
                line_number += 1
                self.line_number = line_number
                message = None
                try:
                    message = decode(line)
                except msgspec.DecodeError as exc:
                    if not line.strip():
                        continue  # blank lines carry nothing
                    msg = f"malformed JSON ({exc}): {_excerpt(line)}"
                    raise InvalidLineError(msg, line=line_number) from None
                kind = message.type
                if kind == record_type:
                    if message.record is NO_RECORD or message.stream is None:
                        msg = "RECORD message without 'stream' or 'record'"
                        raise InvalidLineError(msg, stream=message.stream)
                    on_record({
                        "type": kind,
                        "stream": message.stream,
                        "record": message.record,
                        "time_extracted": message.time_extracted,
                        "version": message.version,
                    })
                else:
                    if not isinstance(kind, str):
                        msg = f"line is not a Singer message (no 'type'): {_excerpt(line)}"
                        raise InvalidLineError(msg)
                    callback = callbacks.get(kind)
                    if callback is None:
                        msg = f"unknown message type {kind!r}"
                        raise InvalidLineError(msg, stream=message.stream)
                    as_dict: dict[str, t.Any] = {"type": kind}
                    for name in _OTHER_FIELDS:
                        value = getattr(message, name)
                        if value is not None:
                            as_dict[name] = value
                    callback(as_dict)
                stats[kind] += 1
        except LoaderError as exc:
            if not exc.batch:  # about the current line (not a batch, not the database)
                if exc.line is None:
                    exc.line = line_number
                if exc.stream is None and message is not None and isinstance(message.stream, str):
                    exc.stream = message.stream
            raise
        except Exception as exc:
            # Errors raised by the SDK's own message handling concern the current line.
            exc.singer_line = line_number  # type: ignore[attr-defined]
            if message is not None and isinstance(message.stream, str):
                exc.singer_stream = message.stream  # type: ignore[attr-defined]
            raise
        return stats


def _excerpt(line: bytes | str, limit: int = 80) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
