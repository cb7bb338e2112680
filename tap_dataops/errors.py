"""The error contract: every failure reaches the user as one line and a non-zero exit.

``tap-dataops: <what is wrong and how to fix it>`` on stderr, then exit code N: 2 for a
configuration error (raised before any request), 1 for anything else, 128 + the signal
number when stopped by SIGTERM or SIGINT. Never a traceback (``TAP_DATAOPS_LOG_LEVEL=debug``
logs it, without secrets). The loader keeps the same contract (``target-dataops-duckdb: ...``).

Code raises a ``OneLineError`` (or lets an unexpected exception escape); the command line
(``sdk_overrides.OneLineErrorsCommand``) is the one place that turns it into the line and
the exit code.
"""

from __future__ import annotations

import signal


class OneLineError(Exception):
    """A failure the user sees as one line, with the process's exit code."""

    exit_code = 1
    unexpected = False  # a bug or a case nobody foresaw: its traceback is logged at DEBUG
    invalid_json = False  # a JSON input file did not parse (the command line names which)

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # never more than one line
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(OneLineError):
    """A setting is missing, malformed or unsafe; raised before any request is sent."""

    exit_code = 2


class ApiError(OneLineError):
    """DataOps.live answered in a way the tap cannot recover from."""

    def __init__(self, message: str, status: int | None = None, *, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.status = status


class AuthError(ApiError):
    """The token was rejected (401): retrying cannot help."""


class AccessError(ApiError):
    """403 or 404 on an endpoint: the token may not read it, or it does not exist."""


class RateLimitTooLong(ApiError):
    """The server asked the tap to wait longer than the user allows (``max_rate_limit_wait``)."""


class Terminated(OneLineError):
    """SIGTERM or SIGINT (Ctrl-C): the run stops now, exit code 128 + the signal number.

    Nothing more is written: the last STATE already on stdout covers every record before
    it, and the next run resumes from it (records after it are fetched again).
    """

    def __init__(self, signum: int) -> None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(
            f"stopped by {name}; the last STATE written covers every record before it: rerun with that state to resume",
            exit_code=128 + signum,
        )
        self.signum = signum


def explain(exc: BaseException) -> OneLineError:
    """The one line for a failure that is not a ``OneLineError`` (a file, a pipe, a bug)."""
    if isinstance(exc, OneLineError):
        return exc
    if isinstance(exc, BrokenPipeError):
        return OneLineError(
            "the program reading the tap's output (stdout) stopped reading it (broken pipe); see its "
            "error, then rerun from the last STATE it emitted"
        )
    # json's and simplejson's decode errors (the SDK reads files with either) share these fields.
    if isinstance(exc, ValueError) and hasattr(exc, "lineno") and hasattr(exc, "colno"):
        error = OneLineError(
            f"a JSON input file (--config, --catalog or --state) is not valid JSON: {getattr(exc, 'msg', exc)} "
            f"at line {exc.lineno} column {exc.colno}; fix or regenerate that file"
        )
        error.invalid_json = True
        return error

    if isinstance(exc, FileNotFoundError):
        where = exc.filename or str(exc).removeprefix("File at ").removesuffix(" was not found.")
        return OneLineError(f"file not found: {where}; check the path given on the command line")
    if isinstance(exc, PermissionError):
        return OneLineError(f"permission denied: {exc.filename}; check the file's permissions")
    first_line = (str(exc).splitlines() or [""])[0][:300]
    error = OneLineError(f"{type(exc).__name__}: {first_line} (rerun with TAP_DATAOPS_LOG_LEVEL=debug for details)")
    error.unexpected = True
    return error

