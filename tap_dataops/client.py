"""The base every DataOps.live stream shares: URL, listing parameters, paging, parsing.

Requests do not go through the SDK's own retry decorator: they go through the tap's
``ApiClient`` (``tap_dataops.http``), which shares one request budget across streams and
honours the server's ``Retry-After``.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from singer_sdk.streams import RESTStream

from tap_dataops.pagination import GitLabPaginator, PageToken

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_dataops.http import ApiClient


def _schemas_dir() -> Path:
    package = Path(__file__).parent
    installed = package / "schemas"  # inside a wheel (see pyproject's force-include)
    return installed if installed.is_dir() else package.parent / "schemas"


SCHEMAS_DIR = _schemas_dir()


class DataOpsStream(RESTStream[PageToken]):
    """A GitLab API v4 listing, paginated as the server reports it."""

    # Set by each stream: its schema file under schemas/.
    schema_name: str = ""

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.schema_name:
            cls.schema_filepath = SCHEMAS_DIR / f"{cls.schema_name}.json"

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def api(self) -> ApiClient:
        return self._tap.api_client  # type: ignore[attr-defined]

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        """Query parameters of the first page (filters, ordering); streams extend this."""
        return {}

    def get_url_params(self, context: Context | None, next_page_token: PageToken | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"per_page": self.config["page_size"], **self.listing_params(context)}
        if next_page_token:
            params.update(next_page_token)
        return params

    def get_new_paginator(self) -> GitLabPaginator:
        return GitLabPaginator()

    def request_decorator(self, func: t.Callable) -> t.Callable:
        # Retries, rate-limit waits and error classification live in ApiClient.
        return func

    def _request(self, prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
        response = self.api.get(t.cast("str", prepared_request.url))
        self._write_request_duration_log(endpoint=self.path, response=response, context=context, extra_tags=None)
        return response

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        body = response.body  # type: ignore[attr-defined]  # parsed once by ApiClient
        if not isinstance(body, list):
            from tap_dataops.errors import ApiError

            raise ApiError(f"GET {self.path} answered with a JSON {type(body).__name__}, expected a list")
        return body
