"""Errors a user sees: each one becomes a single line on stderr and a non-zero exit.

They subclass ``click.ClickException`` so that the SDK's command line (built on click)
prints them as one line instead of a traceback.
"""

from __future__ import annotations

import signal

import click


class DataOpsError(click.ClickException):
    """Base class for every error tap-dataops reports to its user."""

    exit_code = 1

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"tap-dataops: {self.format_message()}", file=file, err=True)


class ConfigError(DataOpsError):
    """A setting is missing, malformed or unsafe; raised before any request is sent."""

    exit_code = 2


class ApiError(DataOpsError):
    """DataOps.live answered in a way the tap cannot recover from."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """The token was rejected (401): retrying cannot help."""


class AccessError(ApiError):
    """403 or 404 on an endpoint: the token may not read it, or it does not exist."""


class RateLimitTooLong(ApiError):
    """The server asked the tap to wait longer than the user allows (`max_rate_limit_wait`)."""


class Terminated(DataOpsError):
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
            f"stopped by {name}; the last STATE written covers every record before it: "
            "rerun with that state to resume"
        )
        self.signum = signum
        self.exit_code = 128 + signum
