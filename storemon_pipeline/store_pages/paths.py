"""Where a store's page is: one spelling for the routes, the API's own links and the report's metadata."""

from __future__ import annotations

from urllib.parse import quote

# `:path` so that a store id holding a slash still reaches its page.
STORE_TIMELINE_ROUTE = "/stores/{store_id:path}/timeline"
STORE_PAGE_ROUTE = "/stores/{store_id:path}"
AS_OF_PARAMETER = "as_of"


def store_page_path(store_id: str, as_of_key: str | None = None) -> str:
    """`/stores/<id>?as_of=<key>`, the id quoted whole (a `?`, `#` or `/` in it stays part of the id)."""
    path = f"/stores/{quote(store_id, safe='')}"
    return path if as_of_key is None else f"{path}?{AS_OF_PARAMETER}={quote(as_of_key, safe=':')}"


def store_timeline_path(store_id: str, as_of_key: str | None = None) -> str:
    path = f"/stores/{quote(store_id, safe='')}/timeline"
    return path if as_of_key is None else f"{path}?{AS_OF_PARAMETER}={quote(as_of_key, safe=':')}"
