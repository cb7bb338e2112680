"""Following GitLab's pagination: what the server reports, never page arithmetic of ours.

The token of a page is the set of query parameters that the next request overrides,
so one paginator serves offset listings (``X-Next-Page``, ``Link``) and keyset
listings (``Link`` carrying ``id_after``) alike.
"""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs, urlsplit

from singer_sdk.pagination import BaseAPIPaginator

if t.TYPE_CHECKING:
    import requests

PageToken = dict[str, list[str]]


class GitLabPaginator(BaseAPIPaginator[PageToken | None]):
    """Next page from the ``Link`` header's ``rel="next"``, else from ``X-Next-Page``.

    Only the query of a ``Link`` URL is used: the request still goes to the configured
    ``api_url``, so a server cannot redirect the token to another host.
    """

    def __init__(self) -> None:
        super().__init__(None)

    def continue_if_empty(self, response: requests.Response) -> bool:
        # A page whose records were all dropped as already emitted is not the end.
        return bool(getattr(response, "body", None))

    def get_next(self, response: requests.Response) -> PageToken | None:
        next_url = response.links.get("next", {}).get("url")
        if next_url:
            return parse_qs(urlsplit(next_url).query, keep_blank_values=True)
        next_page = response.headers.get("X-Next-Page", "").strip()
        if next_page:
            return {"page": [next_page]}
        return None


class ShiftAwareOffsetPaginator(GitLabPaginator):
    """Offset pagination that starts the listing again when it changes under it.

    Offset pages shift when records are created or deleted between two requests: a
    deletion moves a record from the next page onto one already read, and it would be
    missed. GitLab reports the listing's size in ``X-Total``; when that changes mid-walk
    the listing is read again from page 1 and the stream drops ids it already emitted.
    Without ``X-Total`` (listings over 10,000 records) a change cannot be seen.
    """

    max_restarts = 3

    def __init__(self) -> None:
        super().__init__()
        self._total: str | None = None
        self.restarts = 0

    def get_next(self, response: requests.Response) -> PageToken | None:
        total = response.headers.get("X-Total")
        if total is not None:
            if self._total is None:
                self._total = total
            elif total != self._total and self.restarts < self.max_restarts:
                self._total = total
                self.restarts += 1
                return {"page": ["1"]}
        return super().get_next(response)
