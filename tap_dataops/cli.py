"""The command line's error contract: one line on stderr and a non-zero exit, never a traceback.

The SDK's command logs unexpected exceptions with their traceback (its excepthook) and
prints config validation errors over several lines. This wraps the SDK's own command,
with its options unchanged, so that every failure reaches the user as one line.
"""

from __future__ import annotations

import logging
import os
import sys
import typing as t

import click
from singer_sdk.plugin_base import SingerCommand

from tap_dataops.errors import DataOpsError, Terminated


class UserFacingError(DataOpsError):
    """An unexpected failure, reported on one line (the traceback goes to DEBUG logging)."""


def terminate(signum: int) -> t.NoReturn:
    """Stop the process now on SIGTERM/SIGINT: one line, exit code 128 + signum.

    Called from the signal handler, in the main thread. Nothing more goes to stdout (the
    last STATE there is where the next run resumes), and worker threads are not waited
    for: one may be inside a request (up to request_timeout) or a rate-limit wait.
    """
    error = Terminated(signum)
    error.show()
    sys.stderr.flush()
    os._exit(error.exit_code)


def _explain(exc: BaseException) -> DataOpsError:
    if isinstance(exc, BrokenPipeError):
        return UserFacingError(
            "the program reading the tap's output (stdout) stopped reading it (broken pipe); see its "
            "error, then rerun from the last STATE it emitted"
        )
    # json's and simplejson's decode errors (the SDK reads files with either) share these fields.
    if isinstance(exc, ValueError) and hasattr(exc, "lineno") and hasattr(exc, "colno"):
        return UserFacingError(
            f"a JSON input file (--config, --catalog or --state) is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}; fix or regenerate that file"
        )
    if isinstance(exc, FileNotFoundError):
        where = exc.filename or str(exc).removeprefix("File at ").removesuffix(" was not found.")
        return UserFacingError(f"file not found: {where}; check the path given on the command line")
    if isinstance(exc, PermissionError):
        return UserFacingError(f"permission denied: {exc.filename}; check the file's permissions")
    first_line = (str(exc).splitlines() or [""])[0][:300]
    return UserFacingError(
        f"{type(exc).__name__}: {first_line} (rerun with TAP_DATAOPS_LOG_LEVEL=debug for details)"
    )


class OneLineErrorsCommand(SingerCommand):
    """The SDK's Singer command, translating every failure into a one-line ``DataOpsError``."""

    def _guard(self, call: t.Callable[[], t.Any]) -> t.Any:
        try:
            return call()
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, KeyboardInterrupt):
            raise
        except SystemExit:
            raise
        except Exception as exc:
            self.logger.debug("Unexpected failure", exc_info=True)
            if os.environ.get("TAP_DATAOPS_TRACEBACK"):
                raise
            raise _explain(exc) from None

    def make_context(self, *args: t.Any, **kwargs: t.Any) -> click.Context:
        # --discover and --test run as option callbacks while the context is made.
        return self._guard(lambda: super(OneLineErrorsCommand, self).make_context(*args, **kwargs))

    def invoke(self, ctx: click.Context) -> t.Any:
        return self._guard(lambda: super(OneLineErrorsCommand, self).invoke(ctx))


def with_one_line_errors(command: click.Command, logger: logging.Logger) -> OneLineErrorsCommand:
    return OneLineErrorsCommand(
        name=command.name,
        callback=command.callback,
        params=command.params,
        help=command.help,
        context_settings=command.context_settings,
        logger=logger,
    )
