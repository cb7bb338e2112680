"""A Singer message reader that leaves each record's JSON undecoded.

singer-sdk's readers decode every line into Python objects; the sink would then
re-encode them. This reader (the SDK's ``message_reader_class`` hook, its
``process_lines`` replaced in ``sdk_overrides.ReaderSeams``) decodes each line with
msgspec into the message envelope only: ``record`` stays a ``msgspec.Raw`` (the
record's exact JSON bytes), which the DuckDB sink writes straight into its batch
file. Other messages are handed to the target's callbacks as ordinary dicts, as the
SDK expects.

It also counts input lines, so every error can name the line it came from.
"""

from __future__ import annotations

import typing as t
from collections import Counter

import msgspec
from singer_sdk.io_base import SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dataops_duckdb.errors import LoaderError, text_of
from target_dataops_duckdb.sdk_overrides import ReaderSeams, override

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


class RawRecordReader(ReaderSeams):
    """Reads Singer messages; RECORD messages keep ``record`` as ``msgspec.Raw``."""

    @override
    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self._decoder = msgspec.json.Decoder(_Envelope)

    @override
    def read(self, source: t.IO[bytes] | t.IO[str], callbacks: dict[str, t.Callable[[dict], None]]) -> t.Counter[str]:
        """Hand every line of ``source`` to the callback of its message type."""
        stats: Counter[str] = Counter()
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
            if exc.about_input:  # about the current line (not a batch, the database, a signal)
                if exc.line is None:
                    exc.line = line_number
                if exc.stream is None and message is not None and isinstance(message.stream, str):
                    exc.stream = message.stream
            raise
        except OSError:
            raise  # the pipes, the disk: not about the line being read
        except Exception as exc:
            # Raised by the SDK's own message handling (a SCHEMA without properties, a
            # stream map that does not apply): about the current line.
            stream = message.stream if message is not None and isinstance(message.stream, str) else None
            raise LoaderError(text_of(exc), line=line_number, stream=stream) from exc
        return stats


def _excerpt(line: bytes | str, limit: int = 80) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
