"""Following GitLab's pagination: what the server reports, never page arithmetic of ours.

A paginator says which query parameters the next request overrides (its token), from the
page just read, so one class serves offset listings (``X-Next-Page``, ``Link``) and keyset
listings (``Link`` carrying ``id_after``) alike. It also says which records of a page are
new to the listing (``keep``), for listings that are re-read or overlap.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from tap_dataops.errors import ApiError

if t.TYPE_CHECKING:
    from tap_dataops.api import Page

PageToken = dict[str, list[str]]


class GitLabPaginator:
    """Next page from the ``Link`` header's ``rel="next"``, else from ``X-Next-Page``.

    Only the query of a ``Link`` URL is used: the request still goes to the configured
    ``api_url``, so a server cannot redirect the token to another host.
    """

    def __init__(self, start: PageToken | None = None) -> None:
        self.token = start
        self.finished = False

    def keep(self, record: dict) -> bool:  # noqa: ARG002 - the hook of listings that overlap
        """Whether a record of the current page is new to this listing."""
        return True

    def continue_if_empty(self, page: Page) -> bool:
        # A page whose records were all dropped as already emitted is not the end.
        return bool(page.body)

    def next_token(self, page: Page) -> PageToken | None:
        next_url = page.links.get("next", {}).get("url")
        if next_url:
            return parse_qs(urlsplit(next_url).query, keep_blank_values=True)
        next_page = page.headers.get("X-Next-Page", "").strip()
        if next_page:
            return {"page": [next_page]}
        return None

    def advance(self, page: Page) -> None:
        token = self.next_token(page)
        if token is None:
            self.finished = True
            return
        if token == self.token:
            raise ApiError(f"GET {page.endpoint} names the same page again as its next page; the listing cannot go on")
        self.token = token


class ShiftAwareOffsetPaginator(GitLabPaginator):
    """Offset pagination that starts the listing again when it changes under it.

    Offset pages shift when records are created or deleted between two requests: a
    deletion moves a record from the next page onto one already read, and it would be
    missed. GitLab reports the listing's size in ``X-Total``; when that changes mid-walk
    the listing is read again from page 1, and ids already emitted are not kept again.
    Without ``X-Total`` (listings over 10,000 records) a change cannot be seen.
    """

    max_restarts = 3

    def __init__(self) -> None:
        super().__init__()
        self._total: str | None = None
        self.restarts = 0
        self._emitted: set[int] = set()

    @override
    def keep(self, record: dict) -> bool:
        if record["id"] in self._emitted:
            return False
        self._emitted.add(record["id"])
        return True

    @override
    def next_token(self, page: Page) -> PageToken | None:
        total = page.headers.get("X-Total")
        if total is not None:
            if self._total is None:
                self._total = total
            elif total != self._total and self.restarts < self.max_restarts:
                self._total = total
                self.restarts += 1
                return {"page": ["1"]}
        return super().next_token(page)


class UpdatedAtCursorPaginator(GitLabPaginator):
    """A cursor on ``updated_at`` for listings GitLab can only filter by time.

    GitLab filters pipelines by ``updated_after`` only when they are ordered by
    ``updated_at``, and offset pages in that order shift whenever a pipeline is updated
    mid-listing (a running one moves to the end, and the record at the next page's edge
    would be skipped for good, behind the new bookmark). So each page is asked for from a
    cursor instead: ``updated_after`` a millisecond before the last record read. Records
    at the cursor come back once more and are not kept again. If a whole page
    shares one instant the cursor cannot move; then it pages forward from the same cursor.
    """

    def __init__(self, page_size: int, start: str | None, emitted_at_start: t.Iterable[int] = ()) -> None:
        super().__init__({"updated_after": [start]} if start else None)
        self.page_size = page_size
        self._cursor = start
        self._page = 1
        # ``updated_after`` is inclusive: the records at the start's own instant that an
        # earlier run emitted come back first, and are not kept again.
        self._start = start
        self._emitted_at_start = set(emitted_at_start)
        self._emitted: set[int] = set()
        self._new_on_page = 0

    @override
    def keep(self, record: dict) -> bool:
        if record["id"] in self._emitted:  # the cursor's overlap with the page before
            return False
        self._emitted.add(record["id"])
        if record["id"] in self._emitted_at_start and same_instant(record.get("updated_at"), self._start):
            return False
        self._new_on_page += 1
        return True

    @override
    def next_token(self, page: Page) -> PageToken | None:
        body = page.body or []
        new_on_page, self._new_on_page = self._new_on_page, 0
        if len(body) < self.page_size:
            return None
        last = body[-1].get("updated_at")
        cursor = _one_millisecond_before(last) if last else None
        if new_on_page and cursor and cursor != self._cursor:
            self._cursor, self._page = cursor, 1
        else:
            self._page += 1
        token: PageToken = {"page": [str(self._page)]}
        if self._cursor:
            token["updated_after"] = [self._cursor]
        return token


def same_instant(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))


def _one_millisecond_before(timestamp: str) -> str:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) - timedelta(milliseconds=1)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
