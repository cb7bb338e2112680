"""Keeping tokens out of every log line, whatever library writes it.

The tap never formats a token into text itself; this filter is the second line of
defence, for anything a dependency might log (a header dump at DEBUG, an exception).
"""

from __future__ import annotations

import logging

MASK = "***"


class SecretFilter(logging.Filter):
    """Replaces known secret values in a log record's rendered message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, MASK)
        if redacted != message or record.exc_info:
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                for secret in self.secrets:
                    text = text.replace(secret, MASK)
                redacted = f"{redacted}\n{text}"
                record.exc_info = None
                record.exc_text = None
            record.msg, record.args = redacted, None
        return True


_FILTER = SecretFilter()


def redact_secrets(values: list[str]) -> None:
    """Mask these values in every record handled by the root logger's handlers (and later ones)."""
    _FILTER.secrets.update(v for v in values if v and len(v) >= 4)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    # Records emitted on loggers that do not propagate to the root are covered too.
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            for handler in logger.handlers:
                if _FILTER not in handler.filters:
                    handler.addFilter(_FILTER)
