"""The loader's command line with one crash point, so a test picks the exact moment it dies.

    python -m tests.loader.crash_points <when>:<operation>:<n> --config FILE

``operation`` is ``load_batch`` (a batch's transaction) or ``activate_version`` (an
ACTIVATE_VERSION's delete), ``n`` counts them from 1, and ``when`` is one of

- ``kill-before-commit``: SIGKILL once the operation's statements ran, before its COMMIT;
- ``kill-after-commit``: SIGKILL right after its COMMIT (before anything else happens);
- ``term-in-query``: SIGTERM while DuckDB runs a query inside the operation's transaction
  (the signal arrives while the main thread is inside DuckDB, not in Python code);
- ``term-swallowed``: SIGTERM inside the operation's transaction, its exception swallowed by
  an ``except Exception`` on the way (as a library's broad handler would);
- ``raise-before-commit``: an exception nobody planned for (a bug), before its COMMIT.

Everything else is the real loader (``TargetDataOpsDuckDB.cli``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter

from target_dataops_duckdb import database
from target_dataops_duckdb.target import TargetDataOpsDuckDB

# sum() checks for interrupts as it goes (count(*) over range() does not). Uninterrupted it
# would run for tens of seconds, then end: a signal not acted on fails the test, not hangs it.
LONG_QUERY = "SELECT sum(range) FROM range(50000000000)"


def main() -> None:
    when, operation, n = sys.argv.pop(1).split(":")
    armed = f"{operation}:{n}"
    running: list[str] = []  # the operation in progress, as "name:count"
    counts: Counter[str] = Counter()

    def counted(name: str):
        method = getattr(database.Database, name)

        def run(self, *args, **kwargs):
            counts[name] += 1
            running.append(f"{name}:{counts[name]}")
            try:
                return method(self, *args, **kwargs)
            finally:
                running.pop()

        return run

    for name in ("load_batch", "activate_version"):
        setattr(database.Database, name, counted(name))

    transaction = database.Database.transaction

    @contextlib.contextmanager
    def crashing_transaction(self):
        with transaction(self):
            yield
            if running and running[-1] == armed and when == "kill-before-commit":
                os.kill(os.getpid(), signal.SIGKILL)
            if running and running[-1] == armed and when == "term-in-query":
                term_once_inside(self.con)
            if running and running[-1] == armed and when == "term-swallowed":
                with contextlib.suppress(Exception):
                    signal.raise_signal(signal.SIGTERM)
                    for _ in range(1000):  # the handler runs at the loop's first backward jump
                        pass
            if running and running[-1] == armed and when == "raise-before-commit":
                raise ZeroDivisionError("a failure nobody planned for")
        if running and running[-1] == armed and when == "kill-after-commit":
            os.kill(os.getpid(), signal.SIGKILL)

    database.Database.transaction = crashing_transaction
    TargetDataOpsDuckDB.cli()


def term_once_inside(con) -> None:
    """Run a long query; a thread sends SIGTERM once the main thread is inside it.

    With a switch interval this long the main thread never hands the GIL over while it runs
    Python code: the thread only runs when the main thread waits (here: inside DuckDB, which
    releases the GIL while a query runs). So when the thread sees the main thread at the
    ``execute`` line, the query is running.
    """
    main_thread = threading.main_thread().ident
    here = sys._getframe()
    sys.setswitchinterval(1000)

    def inside() -> bool:
        frame = sys._current_frames().get(main_thread)
        return frame is not None and frame.f_code is here.f_code and frame.f_lineno == line

    def send_when_inside() -> None:
        while not inside():
            time.sleep(0.001)  # polling; the main thread is reading input or starting the query
        os.kill(os.getpid(), signal.SIGTERM)

    # DuckDB's Python client runs the signal handlers between the tasks of a query; with
    # worker threads the main thread may instead wait for a long task to finish.
    con.execute("SET threads = 1")
    line = sys._getframe().f_lineno + 3  # the con.execute line
    threading.Thread(target=send_when_inside, daemon=True).start()
    try:
        con.execute(LONG_QUERY).fetchall()
    except BaseException as exc:
        sys.stderr.write(f"crash_points: the query ended with {type(exc).__name__}: {exc}\n")
        raise


if __name__ == "__main__":
    main()
