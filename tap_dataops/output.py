"""Writing Singer messages to stdout: msgspec-encoded, buffered, STATE paced.

The SDK's msgspec writer flushes stdout after every message, a system call per record
that cost a third of the tap's time. Records are buffered here instead and flushed with
the STATE message that follows them (and at least every 1 MiB). A record still in the
buffer when the tap dies is never covered by a STATE the target saw, so a resumed run
fetches it again: nothing can be lost by buffering.

The SDK also asks for a STATE after every partition it finishes: after each project's
members and pipelines, after each pipeline's jobs. Each STATE is the whole tap state,
which holds one pipelines bookmark per project, so writing every one of them made the
output and the CPU grow with projects squared (the SDK deep-copied and compared each
one too). ``PacedStateWriter`` writes the latest state only once the records written
since the last STATE outweigh it several times over, or a minute has passed, and always
at the end of the run. A STATE skipped is never wrong: the next one written covers
everything it would have, and until then a resumed run redoes a little more work.
"""

from __future__ import annotations

import sys
import time
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types
    from singer_sdk.singerlib.encoding.simple import Message

FLUSH_BYTES = 1 << 20
# A STATE is written once the RECORD bytes since the last one reach this many times its
# size: STATE output (and the CPU spent encoding it) stays a fraction of the records'.
RECORD_BYTES_PER_STATE_BYTE = 4
# ...or once this many seconds have passed, so a slow, rate-limited run still checkpoints.
MAX_STATE_INTERVAL = 60.0


class BufferedMessageWriter(MsgSpecWriter):
    """Messages gathered in one buffer, allocated once, written out a MiB at a time.

    A buffer grown and freed for every MiB went back and forth to the kernel: a page fault
    for every 4 KiB written, a tenth of the tap's CPU at zero latency.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffer = bytearray(2 * FLUSH_BYTES)
        self._view = memoryview(self._buffer)
        self._used = 0
        self.record_bytes = 0  # RECORD bytes written in this run

    @override
    def write_message(self, message: Message) -> None:
        if message.type != SingerMessageType.RECORD:
            self.write_line(self.format_message(message))
            return
        line = encoder.encode(message.to_dict())
        self._append(line, b"\n")
        self.record_bytes += len(line) + 1
        if self._used >= FLUSH_BYTES:
            self.flush()

    def write_line(self, line: bytes | bytearray) -> None:
        """A message already encoded as one line (a STATE), then everything out."""
        self._append(line, b"")
        self.flush()

    def _append(self, data: bytes | bytearray, ending: bytes) -> None:
        size = len(data) + len(ending)
        if self._used + size > len(self._buffer):
            self.flush()
            if size > len(self._buffer):  # a message over 2 MiB goes out on its own
                sys.stdout.buffer.write(data + ending)
                return
        used = self._used
        self._buffer[used : used + len(data)] = data
        self._buffer[used + len(data) : used + size] = ending
        self._used = used + size

    def flush(self) -> None:
        if self._used:
            sys.stdout.buffer.write(self._view[: self._used])
            self._used = 0
        sys.stdout.flush()


class PacedStateWriter:
    """The tap's STATE output: the latest state, written when due and at the end.

    It stands in for the SDK's own state writer (see ``sdk_overrides.TapSeams``), which
    the SDK only ever asks to ``write_state``.
    """

    def __init__(self, message_writer: BufferedMessageWriter) -> None:
        self._writer = message_writer
        self._pending: types.TapState | None = None
        self._last_line = b""
        self._record_bytes_then = 0
        self._last_time = time.monotonic()

    def write_state(self, state: types.TapState) -> None:
        # Called by the SDK at points where the state covers only finished work; the
        # state dict is the tap's live one, so the latest call's is the one to write.
        self._pending = state
        records_since = self._writer.record_bytes - self._record_bytes_then
        if (
            records_since >= RECORD_BYTES_PER_STATE_BYTE * len(self._last_line)
            or time.monotonic() - self._last_time >= MAX_STATE_INTERVAL
        ):
            self.flush()

    def flush(self) -> None:
        """Write the pending state now, unless it is the one written last."""
        if self._pending is None:
            return
        line = encoder.encode({"type": "STATE", "value": self._pending}) + b"\n"
        self._pending = None
        self._last_time = time.monotonic()
        if line != self._last_line:
            self._writer.write_line(line)
            self._last_line = line
            self._record_bytes_then = self._writer.record_bytes
