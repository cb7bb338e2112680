#!/usr/bin/env python3
"""Break a promise on purpose and see whether a test notices.

    .venv/bin/python scripts/mutants.py            # every mutation below
    .venv/bin/python scripts/mutants.py budget-660 redaction-off

Each mutation replaces one exact piece of the product's code (it must occur exactly once), runs
the tests that should catch it, restores the file and reports KILLED (a test failed) or SURVIVED
(every test passed: the promise is not tested). The file is restored even on Ctrl-C. Exit status:
the number of survivors. Add a mutation here when you add a promise to the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    promise: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "child-403-crashes", "a 403 on a child endpoint skips that project, warns and counts it",
        "tap_dataops/streams.py",
        "        except AccessError as exc:\n            self.run.skips.record(self.name, exc.status)",
        "        except AccessError as exc:\n            raise",
        ("tests/tap/test_inventory.py", "tests/pipeline/test_real_account.py"),
    ),
    Mutation(
        "child-403-silent", "a skipped project is counted and reported",
        "tap_dataops/streams.py",
        "            self.run.skips.record(self.name, exc.status)\n",
        "            pass\n",
        ("tests/tap/test_inventory.py", "tests/pipeline/test_real_account.py"),
    ),
    Mutation(
        "429-fixed-1s", "a 429 is waited out as long as the server asks",
        "tap_dataops/api.py",
        "        budget.pause_until(time.monotonic() + wait)",
        "        budget.pause_until(time.monotonic() + 1.0)",
        ("tests/tap/test_rate_limits.py",),
    ),
    Mutation(
        "429-reset-first", "Retry-After wins over RateLimit-Reset",
        "tap_dataops/api.py",
        '    wait = _seconds_from_retry_after(headers.get("Retry-After"))',
        '    wait = None if headers.get("RateLimit-Reset") else _seconds_from_retry_after(headers.get("Retry-After"))',
        ("tests/tap/test_rate_limits.py",),
    ),
    Mutation(
        "budget-660", "never more than requests_per_minute in any minute",
        "tap_dataops/budget.py",
        "                if len(self._starts) >= self.limit:",
        "                if len(self._starts) >= self.limit * 1.1:",
        ("tests/tap/test_rate_limits.py",),
    ),
    Mutation(
        "budget-window-54.5", "the budget's window is longer than the server's minute",
        "tap_dataops/budget.py",
        "BUDGET_WINDOW_SECONDS = 61.0",
        "BUDGET_WINDOW_SECONDS = 54.5",
        ("tests/tap/test_rate_limits.py",),
    ),
    Mutation(
        "redaction-off", "the token never appears in a log line",
        "tap_dataops/redaction.py",
        "    def filter(self, record: logging.LogRecord) -> bool:\n",
        "    def filter(self, record: logging.LogRecord) -> bool:\n        return True\n",
        ("tests/tap/test_redaction.py", "tests/tap/test_secrets.py"),
    ),
    Mutation(
        "low-remaining-ignored", "the tap pauses before the quota a proxy reports runs out",
        "tap_dataops/api.py",
        "        if int(remaining) <= max(1, reserve):",
        "        if int(remaining) < 0:",
        ("tests/tap/test_rate_limits.py",),
    ),
    Mutation(
        "chatter-shown", "a default run shows what a person reads, not the SDK's per-record lines",
        "tap_dataops/logs.py",
        "    def filter(self, record: logging.LogRecord) -> bool:\n        if logging.getLogger()",
        "    def filter(self, record: logging.LogRecord) -> bool:\n        return True\n        if logging.getLogger()",
        ("tests/tap/test_log_output.py",),
    ),
    Mutation(
        "pacing-unreported", "the summary counts the tap's own pacing",
        "tap_dataops/api.py",
        "        self.stats.add(requests=1, paced_seconds=paced)",
        "        self.stats.add(requests=1, paced_seconds=0)",
        ("tests/tap/test_log_output.py",),
    ),
)


def run(mutation: Mutation) -> tuple[bool, float]:
    """True if a test failed with the mutation in place (killed)."""
    path = ROOT / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(f"mutants: {mutation.name}: the code to replace occurs {original.count(mutation.old)} "
                         f"times in {mutation.path}, not once: update the mutation")
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutation.old, mutation.new))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
                              cwd=ROOT, capture_output=True, text=True)
    finally:
        path.write_text(original)
    return proc.returncode != 0, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to apply (default: all)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        print(f"mutants: unknown mutation(s) {', '.join(sorted(unknown))}; known: "
              f"{', '.join(m.name for m in MUTATIONS)}", file=sys.stderr)
        return 2
    survivors = 0
    for mutation in chosen:
        killed, seconds = run(mutation)
        survivors += not killed
        print(f"{'KILLED  ' if killed else 'SURVIVED'} {mutation.name:24} {seconds:6.1f}s  {mutation.promise}",
              flush=True)
    print(f"{len(chosen) - survivors} of {len(chosen)} killed")
    return survivors


if __name__ == "__main__":
    sys.exit(main())
