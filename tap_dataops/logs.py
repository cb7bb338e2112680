"""What a person reads on stderr by default: progress, warnings that need action, the summary.

The SDK logs a line per metric (two thousand per run), a warning per partition that the
stream is unsorted (it is, by design: bookmarks are committed per partition), a line as
each partition starts, and an ERROR before the tap's own one-line error. Those stay for
``TAP_DATAOPS_LOG_LEVEL=debug`` (or ``SINGER_SDK_LOG_CONFIG``, the SDK's logging config, e.g.
to send ``singer_sdk.metrics`` to a file); by default they are not shown.
"""

from __future__ import annotations

import logging
import os

# The SDK reads TAP_DATAOPS_LOGLEVEL or LOGLEVEL; the README and the error hints say
# TAP_DATAOPS_LOG_LEVEL, as Meltano users write it: both work.
if os.environ.get("TAP_DATAOPS_LOG_LEVEL") and not os.environ.get("TAP_DATAOPS_LOGLEVEL"):
    os.environ["TAP_DATAOPS_LOGLEVEL"] = os.environ["TAP_DATAOPS_LOG_LEVEL"]

# Message templates of the SDK's per-run chatter (singer_sdk/streams/core.py, tap_base.py,
# plugin_base.py, helpers/_state.py), dropped below DEBUG.
CHATTER = (
    "Added '%s' as child stream to '%s'",
    "Skipping parse of env var settings...",
    "Stream is assumed to be unsorted, progress is not resumable if interrupted",
    "An unhandled error occurred while syncing '%s'",  # the tap's own one line follows
    "Skipping deselected stream '%s'.",
)
CHATTER_PREFIXES = ("Beginning sync of '", "Starting incremental sync of '", "Beginning full_table sync of '",
                    "Beginning incremental sync of '", "Tap has custom mapper", "Beginning sync of '")


class Chatter(logging.Filter):
    """Drops the SDK's per-partition and per-metric lines unless the level is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        if record.name == "singer_sdk.metrics":
            return False
        template = record.msg if isinstance(record.msg, str) else ""
        return template not in CHATTER and not template.startswith(CHATTER_PREFIXES)


_FILTER = Chatter()


def keep_stderr_readable() -> None:
    """Install the filter on every handler the root logger has (the SDK's stderr handler)."""
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
