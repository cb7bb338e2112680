"""Where tap-dataops reaches past singer-sdk's public hooks: every such override, fenced.

Everything else in the tap uses the SDK's documented hooks. Each override here says why
(the measurement or the failing case that made it necessary) and is registered with the
SDK member it relies on; ``tests/tap/test_sdk_overrides.py`` fails when one of those
members disappears or changes its parameters, so an SDK upgrade breaks here, loudly,
instead of somewhere else, silently. The SDK is pinned once, in pyproject.toml.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import sys
import typing as t
from datetime import UTC, datetime

import click
from singer_sdk import Stream, Tap
from singer_sdk.plugin_base import SingerCommand
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_dataops.errors import OneLineError, Terminated, explain

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types

    from tap_dataops.output import PacedStateWriter


@dataclasses.dataclass(frozen=True)
class Seam:
    """One SDK member an override relies on, and the parameters it was written against."""

    owner: type
    member: str
    parameters: tuple[str, ...] | None  # None: an attribute, not a method
    reason: str


SEAMS: list[Seam] = []


def seam(owner: type, member: str, parameters: tuple[str, ...] | None, reason: str) -> Seam:
    registered = Seam(owner, member, parameters, reason)
    SEAMS.append(registered)
    return registered


# -- state: partitions found by key -------------------------------------------------------

seam(StreamStateManager, "get_context_state", ("self", "context"),
     "the SDK scans every partition on every record: tap CPU per request grew from 1.1 ms at 1,000 projects "
     "to 1.4 ms at 5,000 (pipelines keep a partition per project)")
seam(StreamStateManager, "__init__",
     ("self", "stream_name", "tap_state", "is_sorted", "check_sorted", "tap_name", "state_partitioning_keys"),
     "IndexedStateManager is built with the SDK manager's own arguments")


def _key(context: types.Context) -> tuple:
    return tuple(sorted(context.items()))


class IndexedStateManager(StreamStateManager):
    """The SDK's stream state manager, finding a partition's state by key.

    It keeps the SDK's partition list, its order and its entries (the STATE written is
    unchanged) and finds an entry in constant time instead of comparing every context.
    """

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._partitions: list[dict] | None = None  # the list indexed, as it was
        self._index: dict[tuple, dict] = {}

    @override
    def get_context_state(self, context: types.Context | None) -> dict:
        partition_context = self.get_state_partition_context(context)
        if not partition_context:
            return self.stream_state
        partitions = self.stream_state.setdefault("partitions", [])
        if partitions is not self._partitions:
            self._partitions, self._index = partitions, {}
        key = _key(partition_context)
        if key not in self._index and len(self._index) < len(partitions):
            self._index_new(partitions)
        state = self._index.get(key)
        if state is None:
            state = {"context": dict(partition_context)}  # what the SDK appends for a new one
            partitions.append(state)
            self._index[key] = state
        return state

    def _index_new(self, partitions: list[dict]) -> None:
        # Entries are only ever appended (by the SDK or by us), never removed or replaced.
        for partition in partitions[len(self._index):]:
            key = _key(partition["context"])
            if key in self._index:
                msg = f"State file contains duplicate entries for partition: {partition['context']}."
                raise ValueError(msg)
            self._index[key] = partition


# -- the stream's record path ---------------------------------------------------------------

seam(Stream, "_state_manager", None, "state_manager is the SDK's cached attribute; IndexedStateManager goes in it")
seam(Stream, "_tap_state", None, "the tap state the SDK builds its own state manager with")
seam(Stream, "_generate_record_messages", ("self", "record"),
     "with every property selected the SDK's mask walk and type conformance were 60% of the tap's CPU; "
     "dropping undeclared fields is the whole job")
seam(Stream, "_stream_version", None, "the version RECORD messages carry (ACTIVATE_VERSION of full listings)")
seam(Stream, "_write_schema_message", ("self",),
     "the SDK repeats a child stream's SCHEMA for every parent record: thousands of repeats slow every loader")
seam(Stream, "_write_starting_replication_value", ("self", "context"),
     "a partition fetched ahead on a worker must record its starting bookmark before the SDK syncs it")


class StreamSeams(Stream):
    """The record path of every DataOps.live stream (see the seams registered above)."""

    @property
    @override
    def state_manager(self) -> StreamStateManager:
        if self._state_manager is None:
            self._state_manager = IndexedStateManager(
                tap_name=self.tap_name,
                stream_name=self.name,
                tap_state=self._tap_state,
                state_partitioning_keys=self.state_partitioning_keys,
                is_sorted=self.is_sorted,
                check_sorted=self.check_sorted,
            )
        return self._state_manager

    def declared_properties(self) -> frozenset[str] | None:
        """The schema's top-level properties when every one is selected (the usual case)."""
        raise NotImplementedError

    @override
    def _generate_record_messages(self, record: types.Record) -> t.Generator[RecordMessage, None, None]:
        declared = self.declared_properties()
        if declared is None:  # some properties deselected: the SDK's own path
            yield from super()._generate_record_messages(record)
            return
        if not declared.issuperset(record):
            record = {key: value for key, value in record.items() if key in declared}
        extracted_at = datetime.now(UTC)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=extracted_at,
                )

    @override
    def _write_schema_message(self) -> None:
        if not getattr(self, "_schema_sent", False):
            super()._write_schema_message()
            self._schema_sent = True

    def stamp_version(self, version: int) -> None:
        """The version every RECORD of this stream carries in this run (see ACTIVATE_VERSION)."""
        self._stream_version = version

    def write_starting_bookmark(self, context: types.Context | None) -> None:
        """Record a partition's starting bookmark now (idempotent; the SDK does it when it syncs it)."""
        self._write_starting_replication_value(context)


# -- the tap: the run around the SDK's sync -------------------------------------------------

seam(Tap, "sync_all", ("self",),
     "the SDK has no hook after the last stream: the final STATE and the run summary go there")
seam(Tap, "_state_writer", None,
     "the SDK wrote a STATE (the whole state, a bookmark per project) after every partition: output and CPU "
     "grew with projects squared (1,000 projects: 3,699 STATEs, 225 MB); PacedStateWriter paces them")
seam(Tap, "load_streams", ("self",),
     "the SDK syncs streams sorted by name; namespaces and removed_projects are made from the projects and "
     "groups listings, which must come first (else each listing is read twice)")
seam(Tap, "get_singer_command", ("cls",), "the SDK's command, with every failure as one line (errors.py)")
seam(Tap, "run_connection_test", ("self",), "@final; the SDK's --test ends without a word, and a user wants a verdict")


class TapSeams(Tap):
    """The run around the SDK's ``sync_all``, and the paced STATE writer."""

    def install_state_writer(self, writer: PacedStateWriter) -> None:
        self._state_writer = t.cast("t.Any", writer)

    def before_sync(self) -> None:
        """Called once before the first stream syncs."""

    def sync_order(self, streams: list[Stream]) -> list[Stream]:
        """The order streams sync in (the SDK's: by name)."""
        return streams

    @override  # type: ignore[misc]  # @final in the SDK, see the seam above
    def load_streams(self) -> list[Stream]:
        return self.sync_order(super().load_streams())

    def after_sync(self) -> None:
        """Called once after every stream synced successfully."""

    def close_run(self) -> None:
        """Called once after the run, successful or not."""

    def connection_test_passed(self) -> None:
        """Called once after ``--test`` read the first record of every stream."""

    @override  # type: ignore[misc]  # @final in the SDK, see the seam above
    def run_connection_test(self) -> bool:
        passed = super().run_connection_test()
        self.connection_test_passed()
        return passed

    @override  # type: ignore[misc]  # @final in the SDK, see the seam above
    def sync_all(self) -> None:
        self.before_sync()
        try:
            super().sync_all()
            self.after_sync()
        finally:
            self.close_run()

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        return OneLineErrorsCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
            plugin_name=cls.name,
        )


# -- the command line: one line, one exit code ------------------------------------------------

seam(SingerCommand, "__init__", ("self", "args", "logger", "kwargs"),
     "the SDK's command is rebuilt with the same options as OneLineErrorsCommand")
seam(SingerCommand, "invoke", ("self", "ctx"),
     "the SDK's invoke logs config errors over several lines and installs an excepthook that prints tracebacks")


class OneLineErrorsCommand(SingerCommand):
    """The SDK's Singer command; every failure leaves it as one line and an exit code.

    The SDK logs unexpected exceptions with their traceback (its excepthook), and click
    ends a run whose stdout closed (EPIPE) with exit code 1 and no word. ``--discover`` and
    ``--test`` run as option callbacks while the context is made, outside ``invoke``: so
    both are guarded, and ``main`` is the only place that writes an error line or chooses
    the exit code.
    """

    @override
    def __init__(self, *args: t.Any, plugin_name: str, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_name = plugin_name

    @override
    def make_context(self, *args: t.Any, **kwargs: t.Any) -> click.Context:
        return _guarded(self.logger, lambda: super(OneLineErrorsCommand, self).make_context(*args, **kwargs))

    @override
    def invoke(self, ctx: click.Context) -> t.Any:
        logging.captureWarnings(capture=True)
        return _guarded(self.logger, lambda: click.Command.invoke(self, ctx))

    @override
    def main(self, args: t.Sequence[str] | None = None, *more: t.Any, **kwargs: t.Any) -> t.NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(argv, *more, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.BadParameter as bad:
            missing = _missing_file(bad)
            if missing is None:
                bad.show()
                sys.exit(bad.exit_code)
            self.fail(OneLineError(f"file not found: {missing!r}; check the path given on the command line"))
        except click.ClickException as usage:  # click's own: an unknown option, a missing value
            usage.show()
            sys.exit(usage.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            self.fail(Terminated(2))
        except _StdoutClosed:
            _silence_stdout()
            if {"--discover", "--about"} & set(argv):
                sys.exit(0)  # `tap-dataops --discover | head`: the reader had what it wanted
            self.fail(explain(BrokenPipeError()))
        except OneLineError as error:
            if error.invalid_json:
                error = _name_the_invalid_file(error, argv)
            self.fail(error)
        sys.exit(result if isinstance(result, int) else 0)

    def fail(self, error: OneLineError) -> t.NoReturn:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        sys.stderr.write(f"{self.plugin_name}: {error.message}\n")
        sys.stderr.flush()
        sys.exit(error.exit_code)


class _StdoutClosed(Exception):
    """Whoever read stdout stopped reading it (EPIPE)."""


def _guarded(logger: logging.Logger, call: t.Callable[[], t.Any]) -> t.Any:
    try:
        return call()
    except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, KeyboardInterrupt, SystemExit):
        raise
    except BrokenPipeError:
        raise _StdoutClosed from None
    except OneLineError:
        raise
    except Exception as exc:
        error = explain(exc)
        if error.unexpected:  # a file or JSON the user named is explained well enough by its line
            logger.debug("Unexpected failure", exc_info=True)
            if os.environ.get("TAP_DATAOPS_TRACEBACK"):
                raise
        raise error from None



def _missing_file(bad: click.BadParameter) -> str | None:
    """The path of a --state/--catalog file click could not open (its File type), if that is the problem."""
    cause = bad.__cause__ or bad.__context__
    if isinstance(cause, FileNotFoundError) and cause.filename:
        return str(cause.filename)
    text = bad.format_message()
    if "No such file or directory" in text and "'" in text:
        return text.split("'")[-2] if text.count("'") >= 4 else None
    return None


def _name_the_invalid_file(error: OneLineError, argv: list[str]) -> OneLineError:
    """Which of the files on the command line is not JSON (the SDK's loaders do not say)."""
    for option, path in itertools.pairwise(argv):
        if option in ("--config", "--catalog", "--state") and path != "ENV":
            try:
                with open(path, encoding="utf-8") as file:
                    json.load(file)
            except ValueError as exc:
                return OneLineError(f"{option} file {path!r} is not valid JSON: {getattr(exc, 'msg', exc)} at line "
                                    f"{getattr(exc, 'lineno', '?')} column {getattr(exc, 'colno', '?')}; fix or "
                                    "regenerate that file")
            except OSError:
                continue
    return error


def _silence_stdout() -> None:

    # Python flushes stdout once more on the way out; with the reader gone that would fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def terminate(plugin_name: str, signum: int) -> t.NoReturn:
    """Stop the process now on SIGTERM/SIGINT: one line, exit code 128 + signum.

    Installed as the signal handler (in the main thread) once the tap is made. Nothing more
    goes to stdout (the last STATE there is where the next run resumes), and worker threads
    are not waited for: one may be inside a request (up to request_timeout) or a
    rate-limit wait of many minutes.
    """
    error = Terminated(signum)
    sys.stderr.write(f"{plugin_name}: {error.message}\n")
    sys.stderr.flush()
    os._exit(error.exit_code)
