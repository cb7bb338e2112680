"""The loader's error contract: every failure reaches the user as one line and an exit code.

``target-dataops-duckdb: <what is wrong>`` on stderr, then exit code N: 1 for bad input, a
bad setting or a database error, 128 + the signal number when stopped by SIGTERM or SIGINT,
2 for a malformed command line. Never a traceback: it is logged at DEBUG
(``TARGET_DATAOPS_DUCKDB_LOGLEVEL=debug``). The tap keeps the same contract (``tap-dataops: ...``).

Code raises a :class:`LoaderError` (or lets an unexpected exception escape);
``sdk_overrides.OneLineErrorsCommand`` is the one place that turns it into the line and
the exit code.
"""

from __future__ import annotations

import signal

from singer_sdk.exceptions import ConfigValidationError


class LoaderError(Exception):
    """A failure the user sees as one line, ``line N (stream S): message``, and an exit code."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        stream: str | None = None,
        about_input: bool = True,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.stream = stream
        # True: about the input line being read when it was raised (the reader adds that
        # line's number and stream). False: about a batch, the database or the process,
        # which surfaced while some later line was read.
        self.about_input = about_input
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.stream is not None:
            where.append(f"(stream {self.stream})")
        text = " ".join(self.message.split())  # never more than one line
        return f"{' '.join(where)}: {text}" if where else text


class Terminated(LoaderError):
    """SIGTERM or SIGINT: stop now, exit code 128 + the signal number.

    Nothing uncommitted is committed and nothing more is written to stdout: the last
    STATE there covers every record before it, and the next run resumes from it.
    """

    def __init__(self, signum: int) -> None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(
            f"stopped by {name}; records after the last STATE it printed were not committed, "
            "rerun from that state",
            about_input=False,
            exit_code=128 + signum,
        )
        self.signum = signum


class _StopRequest:
    signum = 0  # the SIGTERM/SIGINT that stopped the run, once one arrived


STOP = _StopRequest()  # set by the signal handler, sdk_overrides.stop_now


def stop_if_requested() -> None:
    """Raise :class:`Terminated` if SIGTERM/SIGINT arrived.

    The handler raises where the main thread is, and that exception can be lost on its way:
    DuckDB reports "Query interrupted" instead of it, and an ``except Exception`` (the error
    location's probes, a library's broad handler) can drop it. So the signal is remembered,
    and a transaction checks it before its COMMIT.
    """
    if STOP.signum:
        raise Terminated(STOP.signum)


def explain(exc: BaseException) -> LoaderError:
    """The one line for any failure (a :class:`LoaderError` is its own explanation)."""
    if isinstance(exc, LoaderError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Terminated(signal.SIGINT)
    if isinstance(exc, ConfigValidationError):
        # The SDK would log each error on its own line.
        detail = "; ".join(" ".join(str(e).split()) for e in exc.errors) or str(exc)
        return LoaderError(f"invalid configuration: {detail}; fix the loader's config file")
    if isinstance(exc, BrokenPipeError):
        return LoaderError(
            "the program reading the loader's output (stdout) stopped reading it (broken pipe); "
            "the records before the last STATE it received are committed, rerun from that state"
        )
    return LoaderError(
        f"{text_of(exc)} ({type(exc).__name__}; TARGET_DATAOPS_DUCKDB_LOGLEVEL=debug logs the traceback)",
        about_input=False,
    )


def text_of(exc: BaseException, limit: int = 400) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
