"""Running requests on several threads while Singer output stays sequential.

The SDK writes records and state from one thread, in order; that stays as it is. What
runs on worker threads is only the fetching: the next page of a listing, the children of
the parents on the page being written, pipeline details and their jobs. The writing
thread takes the results in the same order a sequential run would have fetched them, so
output and state are identical to a sequential run; the shared RequestBudget keeps every
thread together under requests_per_minute.

Work on a worker thread never waits for other submitted work (which could deadlock a full
pool): a partition's pages are fetched one after another inside its task.
"""

from __future__ import annotations

import collections
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

T = t.TypeVar("T")
R = t.TypeVar("R")


class Fetcher:
    """Up to ``max_concurrency`` requests at once; with 1, nothing is fetched ahead."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.concurrent = max_concurrency > 1
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="fetch") if self.concurrent else None

    def submit(self, fn: t.Callable[..., R], *args: t.Any) -> Future[R]:
        if self._pool is None:
            return _completed(fn, *args)
        return self._pool.submit(fn, *args)

    def map_ordered(
        self,
        fn: t.Callable[[T], R],
        items: t.Iterable[T],
        on_submit: t.Callable[[T], None] | None = None,
    ) -> t.Iterator[tuple[T, R]]:
        """``(item, fn(item))`` in the order of ``items``, with a bounded window in flight."""
        window = 2 * self.max_concurrency if self.concurrent else 1
        in_flight: collections.deque[tuple[T, Future[R]]] = collections.deque()
        iterator = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < window:
                item = next(iterator, _END)
                if item is _END:
                    exhausted = True
                    break
                if on_submit:
                    on_submit(item)  # type: ignore[arg-type]
                in_flight.append((item, self.submit(fn, item)))  # type: ignore[arg-type]
            if not in_flight:
                return
            item, future = in_flight.popleft()
            yield item, future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


_END = object()


def _completed(fn: t.Callable[..., R], *args: t.Any) -> Future[R]:
    future: Future[R] = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
        future.set_exception(exc)
    return future
