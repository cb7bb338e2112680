"""Where target-dataops-duckdb reaches past singer-sdk's public hooks: every such override, fenced.

The rest of the loader uses the SDK's documented hooks (``Sink.setup``,
``BatchSink.process_batch``, ``Sink.activate_version``, ``Target.process_endofpipe``,
``message_reader_class``) and calls its public methods (``drain_all``, ``get_sink``,
``tally_record_read``). Every override of anything else is here, with the reason (the
measurement or the failing case that made it necessary), and forwards to an ordinary
method of ``target.py``, ``sink.py`` or ``reader.py``. Each SDK member relied on is
registered with the parameters it was written against; ``tests/loader/test_sdk_overrides.py``
fails when one disappears or changes its parameters, so an SDK upgrade breaks here,
loudly, instead of somewhere else, silently. The SDK is pinned once, in pyproject.toml.

Measurements quoted below: 20,000 records of ``benchmarks/loader_benchmark.py``
(GitLab projects, 35 fields) read in-process on a 2-core VM.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import typing as t

import click
from singer_sdk.io_base import GenericSingerReader
from singer_sdk.mapper import StreamMap
from singer_sdk.plugin_base import BaseSingerReader, PluginBase, SingerCommand
from singer_sdk.sinks import BatchSink, Sink
from singer_sdk.sinks.core import JSONSchemaValidator
from singer_sdk.target_base import Target

from target_dataops_duckdb.errors import STOP, LoaderError, Terminated, explain

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.sinks.core import BaseJSONSchemaValidator

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override  # the SDK's own dependency, as the SDK imports it

__all__ = ["SEAMS", "OneLineErrorsCommand", "ReaderSeams", "SinkSeams", "TargetSeams", "override", "stop_now"]


@dataclasses.dataclass(frozen=True)
class Seam:
    """One SDK member the loader relies on, and the parameters it was written against."""

    owner: type
    member: str
    parameters: tuple[str, ...] | None  # None: an attribute, not a method
    reason: str


SEAMS: list[Seam] = []


def seam(owner: type, member: str, parameters: tuple[str, ...] | None, reason: str) -> None:
    SEAMS.append(Seam(owner, member, parameters, reason))


# -- public hooks and methods the loader uses (not overridden here; checked all the same) --------

seam(Sink, "setup", ("self",), "DuckDBSink creates or evolves its table there")
seam(BatchSink, "process_batch", ("self", "context"), "DuckDBSink loads its batch file there")
seam(Sink, "activate_version", ("self", "new_version"), "DuckDBSink deletes older table versions there")
seam(Sink, "tally_record_read", ("self", "count"), "the fast path counts records so drain_one sees them")
seam(Sink, "is_full", None, "the fast path drains when a batch is full")
seam(Sink, "include_sdc_metadata_properties", None, "add_record_metadata, as the SDK reads it")
seam(Sink, "process_activate_version_messages", None, "process_activate_version_messages, as the SDK reads it")
seam(Target, "drain_all", ("self", "*", "is_endofpipe"), "commits every sink, then writes the latest STATE")
seam(Target, "get_sink", ("self", "stream_name", "*", "record", "schema", "key_properties"), "a stream's sink")
seam(Target, "process_endofpipe", ("self",), "the end of the input: drain, swap overwrite tables, close")
seam(BaseSingerReader, "message_reader_class", None, "the reader that keeps record JSON undecoded")
seam(BaseSingerReader, "process_lines", ("self", "file_input"),
     "hands the reader the callbacks of the message types (SingerMessageType keys)")
seam(Sink, "__init__", ("self", "target", "stream_name", "schema", "key_properties"), "DuckDBSink is built so")
seam(JSONSchemaValidator, "__init__", ("self", "schema", "*", "validate_formats", "format_checker"),
     "the JSON-Schema check of a record msgspec rejected (1.0 is an integer to JSON Schema)")
seam(JSONSchemaValidator, "validate", ("self", "record"), "raises InvalidRecord")
seam(StreamMap, "transform", ("self", "record"), "records of streams with stream maps are transformed")
seam(StreamMap, "flattening_enabled", None, "a flattened stream takes the mapper's path")
seam(Target, "_handle_max_record_age", ("self",),
     "called after each record, as the SDK's own record handler does (a drain every 5 minutes)")


# -- the reader ---------------------------------------------------------------------------------

seam(GenericSingerReader, "process_lines", ("self", "file_input", "callbacks"),
     "the SDK's readers decode every line into dicts the sink would encode again: 10.2 µs/line "
     "(2.9 with its msgspec reader) against 1.0 µs for the envelope alone, the record kept as bytes")
seam(GenericSingerReader, "default_input", None, "the input is read as bytes (sys.stdin.buffer)")
seam(GenericSingerReader, "deserialize_json", ("self", "line"), "abstract in the SDK; only its process_lines calls it")


class ReaderSeams(GenericSingerReader[bytes]):
    """The SDK's reader interface, implemented by ``reader.RawRecordReader.read``."""

    def read(self, source: t.IO[bytes] | t.IO[str], callbacks: dict[str, t.Callable[[dict], None]]) -> t.Counter[str]:
        raise NotImplementedError

    @override
    def process_lines(
        self,
        file_input: t.IO[bytes] | t.IO[str] | None,  # bytes (stdin) or text (in-process tests)
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        return self.read(file_input if file_input is not None else self.default_input, callbacks)

    @property
    @override
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    @override
    def deserialize_json(self, line: bytes) -> dict:
        msg = "never called: process_lines is replaced"
        raise NotImplementedError(msg)


# -- the sink -----------------------------------------------------------------------------------

seam(Sink, "get_validator", ("self",),
     "the SDK's jsonschema validation cost 238 µs/record (261 against 22.5 µs without it); records are "
     "checked by msgspec in add_raw (about 1 µs), so the SDK's validator would be built and never used")


class SinkSeams(BatchSink):
    """The SDK's sink, without the SDK's per-record validator."""

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return None


# -- the target ---------------------------------------------------------------------------------

seam(Target, "_process_record_message", ("self", "message_dict"),
     "the SDK's record path (copy, jsonschema validation, timestamp parsing, a dict per record), reading "
     "included, cost 261 µs/record: 3,800 records/s before anything is loaded, against 7.8 µs "
     "(128,000 records/s) for the fast path with its own type check")
seam(Target, "_process_state_message", ("self", "message_dict"),
     "the SDK writes STATE only from drain_all: a STATE read while nothing is buffered waited for the "
     "next full batch or the end of the input (test_state_with_nothing_buffered_is_emitted_at_once)")
seam(Target, "_write_state_message", ("self", "state"),
     "drain_all (final) writes STATE through it: an overwrite table must be swapped in before its "
     "STATE goes out, and a STATE already written is not repeated")
seam(Target, "_process_activate_version_message", ("self", "message_dict"),
     "the SDK's handler fails with KeyError on a stream without SCHEMA, drains nothing first, and "
     "warns on every message that _sdc columns will be added when add_record_metadata is off")
seam(PluginBase, "_handle_termination", ("self", "signum", "frame"),
     "the SDK's handler commits every buffered record (drain_all) and exits 0: a stopped run looked "
     "successful (test_sigterm_stops_with_one_line_and_exit_143)")
seam(PluginBase, "_setup_signal_handlers", ("self",), "installs _handle_termination for SIGTERM and SIGINT")


class TargetSeams(Target):
    """The SDK's target; the message handlers forward to ``TargetDataOpsDuckDB``."""

    def on_record(self, message: dict) -> None:
        raise NotImplementedError

    def on_state(self, value: t.Any) -> None:
        """Called after the SDK stored a STATE message's value as its latest state."""
        raise NotImplementedError

    def on_activate_version(self, message: dict) -> None:
        raise NotImplementedError

    def write_state(self, state: dict) -> None:
        raise NotImplementedError

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        self.on_record(message_dict)
        self._handle_max_record_age()

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        self.on_state(message_dict["value"])

    @override
    def _write_state_message(self, state: dict) -> None:
        self.write_state(state)

    @override
    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.on_activate_version(message_dict)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        stop_now(signum, frame)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        for param in command.params:
            if param.name == "config":
                param.callback = _config_file_errors_in_one_line(param.callback)
        return OneLineErrorsCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
            plugin_name=cls.name,
        )


# -- stopping: SIGTERM and SIGINT ---------------------------------------------------------------


def stop_now(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - a signal handler's signature
    """SIGTERM/SIGINT: raise :class:`Terminated` where the main thread is.

    Why not write the line and ``os._exit`` at once, as the tap does: a batch may be inside
    a DuckDB transaction. Raising here lets DuckDB interrupt its query (it reports "Query
    interrupted" instead of this exception, so the signal is also remembered in
    ``errors.STOP``, which every transaction checks before COMMIT), ``Database.transaction``
    roll it back, and the connection close: blocks DuckDB wrote ahead for the uncommitted
    rows are freed instead of left in the file, and the batch files are removed. DuckDB
    runs signal handlers between the tasks of a query, so this takes milliseconds (at most
    the rest of one task); what the user sees is what ``os._exit`` would show: one line,
    exit code 128 + signum, nothing more on stdout.
    """
    STOP.signum = signum
    raise Terminated(signum)


def _install_stop_handlers() -> None:
    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGINT, stop_now)


# -- the command line: one line, one exit code --------------------------------------------------

seam(PluginBase, "get_singer_command", ("cls",), "the SDK's command, with every failure as one line")
seam(PluginBase, "cb_config", ("cls", "ctx", "param", "value"),
     "--config files are read by this callback while click parses the command line, before invoke: "
     "a missing file ended in the SDK's logged traceback")
seam(SingerCommand, "__init__", ("self", "*args", "logger", "**kwargs"),
     "the SDK's command is rebuilt with the same options as OneLineErrorsCommand")
seam(SingerCommand, "invoke", ("self", "ctx"),
     "the SDK's invoke logs config errors over several lines and installs an excepthook that logs "
     "tracebacks; OneLineErrorsCommand runs click's invoke instead")


def _config_file_errors_in_one_line(callback: t.Callable[..., t.Any] | None) -> t.Callable[..., t.Any]:
    assert callback is not None

    def read_config(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> t.Any:
        try:
            return callback(ctx, param, value)
        except FileNotFoundError as exc:
            msg = f"{exc}; check the --config path"
            raise LoaderError(msg) from None
        except ValueError as exc:  # json's and simplejson's decode errors
            msg = f"the --config file is not valid JSON ({' '.join(str(exc).split())}); fix it"
            raise LoaderError(msg) from None

    return read_config


class OneLineErrorsCommand(SingerCommand):
    """The SDK's Singer command; every failure leaves it as one line and an exit code.

    This is the only place that writes an error line or chooses the exit code: failures
    while the command line is parsed (``--config`` files), while the target runs, click's
    own usage errors, SIGTERM/SIGINT (``stop_now``) and anything unexpected, whose
    traceback is logged at DEBUG only.
    """

    def __init__(self, *args: t.Any, plugin_name: str, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_name = plugin_name

    @override
    def invoke(self, ctx: click.Context) -> t.Any:
        logging.captureWarnings(capture=True)
        try:
            return click.Command.invoke(self, ctx)
        except KeyboardInterrupt:  # SIGINT while the handlers could not be installed (not the main thread)
            raise Terminated(signal.SIGINT) from None
        except OSError as exc:  # click would swallow a broken pipe (EPIPE) silently, with exit code 1
            raise explain(exc) from exc

    @override
    def main(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        if threading.current_thread() is threading.main_thread():
            _install_stop_handlers()  # from the start: the SDK installs its own once the target exists
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.Abort:
            self.fail(Terminated(signal.SIGINT))
        except click.ClickException as usage:  # click's own: an unknown option, a missing value
            self.fail(LoaderError(f"{usage.format_message()} (see --help)", exit_code=usage.exit_code))
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure becomes one line
            self.fail(explain(exc), exc)
        sys.exit(result if isinstance(result, int) else 0)

    def fail(self, error: LoaderError, cause: BaseException | None = None) -> t.NoReturn:
        # A second signal while we clean up ends the process at once, silently.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if STOP.signum and not isinstance(error, Terminated):
            error = Terminated(STOP.signum)  # the signal surfaced as DuckDB's "Query interrupted"
        if cause is not None:
            self.logger.debug("%s failed", self.plugin_name, exc_info=cause)
        try:
            sys.stdout.flush()  # a complete STATE written before the failure is committed
        except BrokenPipeError:  # nobody reads stdout: Python's own flush on exit must not complain
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write(f"{self.plugin_name}: {error.one_line()}\n")
        sys.stderr.flush()
        sys.exit(error.exit_code)
