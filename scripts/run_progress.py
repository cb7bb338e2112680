"""Turn `meltano --log-format json run ...` output into short progress for a person.

Shown: records per stream the loader has received (every few seconds while the run lasts),
the tap's progress, rate-limit waits, retries and skips, its closing "Run complete: N
requests, ..." line, dbt's summary, and every error. Hidden: the SDK's METRIC lines and
per-partition chatter. When the run fails, the last lines held back are printed too, so the
cause is on screen. Received is not landed: what a failed run committed is the database's to
tell (scripts/landed.py), not these counts.
Uses the standard library only (it runs under the bare python3 of scripts/quickstart.py).
"""

from __future__ import annotations

import collections
import json
import re
import time
import typing as t

# Plugin lines worth a person's attention (the tap logs these; see tap_dataops/api.py, tap.py).
SHOWN = re.compile(
    r"Run complete|Progress:|rate limit|RateLimit|429|retrying|pausing|waiting|skipped \d+ parent"
    r"|error|Error|ERROR|failed|invalid|refused|no token|answered 40[13]|Traceback|terminated",
)
# The plugins' own one-line errors (tap_dataops/sdk_overrides.py, the loader) start with their name.
ONE_LINE_ERROR = re.compile(r"^(tap-dataops|target-dataops-duckdb): ")
# Meltano's own lines worth showing.
MELTANO_SHOWN = re.compile(r"is active|Run completed|Block run completed|failed|error|Error")
# dbt's lines worth showing: its summary, failures and errors (the rest is one line per node).
DBT_SHOWN = re.compile(r"Done\. PASS=|Completed with|Failure in|FAIL \d|ERROR creating|Runtime Error|Compilation Error"
                       r"|Database Error|Env var required")
# Waits for the server's rate limit: concurrent requests report the same pause, so at most
# one such line is shown per progress interval (all are counted).
RATE_WAIT = re.compile(r"pausing|rate limited \(429\)")
HIDDEN = re.compile(r"^METRIC:|DeprecationWarning|instance = super\(\)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RunProgress:
    """Feed it lines with :meth:`line`; it prints through ``out``."""

    def __init__(self, out: t.Callable[[str], None] = print, every: float = 5.0) -> None:
        self.out = out
        self.every = every
        self.records: collections.Counter[str] = collections.Counter()
        self.held: collections.deque[str] = collections.deque(maxlen=20)
        self.errors: list[str] = []
        self.started = time.monotonic()
        self._last_report = self.started
        self._reported: dict[str, int] = {}
        self.rate_waits = 0
        self._last_rate_line = float("-inf")

    def line(self, raw: str) -> None:
        raw = raw.rstrip("\n")
        if not raw.strip():
            return
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            # Not a log record (a traceback line, a plugin's raw print): keep for failures.
            self.held.append(raw)
            return
        event = str(entry.get("event", ""))
        plugin = entry.get("name") if entry.get("cmd_type") else None
        if event.startswith("METRIC:"):
            if entry.get("consumer"):  # the loader's counts: records it received (the tap's are hidden)
                self._metric(event)
        elif HIDDEN.search(event):
            pass
        elif plugin and RATE_WAIT.search(event):
            self.rate_waits += 1
            if time.monotonic() - self._last_rate_line >= self.every:
                self._last_rate_line = time.monotonic()
                self.out(f"  {plugin}: {event}")
        elif plugin and ONE_LINE_ERROR.search(event):
            self.errors.append(event)
            self.out(f"  {event}")
        elif plugin and str(plugin).startswith("dbt"):
            text = ANSI.sub("", event).strip()
            text = re.sub(r"^\d\d:\d\d:\d\d\s+", "", text)  # dbt's own clock
            if DBT_SHOWN.search(text):
                self.out(f"  {plugin}: {text}")
                if re.search(r"ERROR=[1-9]|Error|Failure|FAIL", text):
                    self.errors.append(f"{plugin}: {text}")
            else:
                self.held.append(f"  {plugin}: {text}")
        elif plugin:
            if SHOWN.search(event):
                self.out(f"  {plugin}: {event}")
            else:
                self.held.append(f"  {plugin}: {event}")
        elif MELTANO_SHOWN.search(event) or entry.get("level") in ("error", "critical"):
            self.out(f"  meltano: {event}")
        else:
            self.held.append(f"  meltano: {event}")
        self.tick()

    def _metric(self, event: str) -> None:
        try:
            metric = json.loads(event.removeprefix("METRIC:").strip())
        except ValueError:
            return
        if metric.get("metric") == "record_count":
            stream = metric.get("tags", {}).get("stream", "?")
            self.records[stream] += int(metric.get("value") or 0)

    def tick(self) -> None:
        """Print the record counts if some time has passed and they changed."""
        now = time.monotonic()
        if now - self._last_report >= self.every and dict(self.records) != self._reported:
            self._last_report = now
            self.report(prefix=f"  [{now - self.started:4.0f}s] records so far: ")

    def report(self, prefix: str = "  records: ") -> None:
        self._reported = dict(self.records)
        if self.records:
            waits = f" (rate-limit pauses: {self.rate_waits})" if self.rate_waits else ""
            self.out(prefix + ", ".join(f"{s} {n:,}" for s, n in sorted(self.records.items())) + waits)

    def failed(self) -> None:
        """Print the context of a failure: the plugins' error lines, else what was held back."""
        if self.errors:
            self.out("  error: " + self.errors[-1])
        elif self.held:
            self.out("  --- last log lines ---")
            for held in self.held:
                self.out(held)
