"""A local server speaking the Confluence REST API (v1, as Cloud serves it under ``/wiki/rest/api``
and Data Center under ``[/context]/rest/api``), for tests of the Confluence source.

What it implements, after Atlassian's reference and its "Pagination in the REST API" page:
``GET /space/{key}``; ``GET /content?spaceKey&type&status&title&expand&start&limit``;
``GET /content/{id}?expand``; ``GET /content/{id}/child/page?expand&start&limit``. Lists answer
``{"results", "start", "limit", "size", "_links": {"base", "context", "self", "next"?}}`` with
``next`` relative to ``base``; ``limit`` is capped (``max_limit``) as real servers cap it; each
page has ``version.number`` and ``_links.webui``; ``expand=body.storage`` adds the storage-format
body. Errors are JSON ``{"statusCode", "message", "reason"}``: 401 without the right credentials
(HTTP basic for Cloud, a bearer token for Data Center), 403 on restricted pages, 404 for missing
spaces and pages, and 429 with Retry-After when told to rate-limit."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Page:
    id: str
    title: str
    space: str
    body: str
    version: int = 1
    parent: str | None = None
    restricted: bool = False  # listed, but reading it answers 403 (a page-level view restriction)


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    status: int
    authorization: str


@dataclass
class FakeConfluence:
    context: str = "/wiki"  # Cloud: /wiki; Data Center: "" or e.g. /confluence
    user: str | None = None  # Cloud: basic auth user (e-mail) and API token
    api_token: str | None = None
    token: str | None = None  # Data Center: personal access token (bearer)
    max_limit: int = 2  # results per list page at most, whatever limit= asks
    spaces: dict[str, str] = field(default_factory=dict)  # key -> name
    pages: dict[str, Page] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    rate_limited: int = 0  # the next N requests get 429
    retry_after: str = "3"
    url: str = ""  # http://127.0.0.1:PORT (without the context path)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return self.url + self.context

    def add_page(self, id: str, title: str, space: str, body: str, *, parent: str | None = None) -> Page:
        self.spaces.setdefault(space, space.title())
        page = Page(id, title, space, body, parent=parent)
        self.pages[id] = page
        return page

    def edit(self, id: str, body: str) -> None:
        page = self.pages[id]
        page.body = body
        page.version += 1

    def bodies_read(self) -> list[str]:
        """Ids of the pages whose body was asked for."""
        return [
            r.path.rsplit("/", 1)[-1]
            for r in self.requests
            if "body.storage" in r.query.get("expand", "") and r.status == 200
        ]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self.url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the API ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        response = self._answer(request)
        self.requests.append(
            Recorded(
                request.path, dict(request.query), response.status, request.headers.get("Authorization", "")
            )
        )
        return response

    def _answer(self, request: web.Request) -> web.Response:
        if self.rate_limited:
            self.rate_limited -= 1
            return _error(429, "Rate limit exceeded", headers={"Retry-After": self.retry_after})
        if not self._authorised(request.headers.get("Authorization", "")):
            return _error(401, "Unauthorized; scope does not match")
        prefix = f"{self.context}/rest/api/"
        if not request.path.startswith(prefix):
            return web.Response(status=404, text="<html>Page not found</html>", content_type="text/html")
        parts = request.path[len(prefix) :].strip("/").split("/")
        query = request.query
        if parts[0] == "space" and len(parts) == 2:
            if parts[1] not in self.spaces:
                return _error(404, f"No space found with key : {parts[1]}")
            return _json({"key": parts[1], "name": self.spaces[parts[1]], "type": "global"})
        if parts == ["content"]:
            chosen = [
                p for p in self._ordered()
                if p.space == query.get("spaceKey") and ("title" not in query or p.title == query["title"])
            ]  # fmt: skip
            if query.get("spaceKey") not in self.spaces:
                return _error(404, f"No space with key : {query.get('spaceKey')}")
            return self._list(request, chosen)
        if parts[0] == "content" and len(parts) == 2:
            page = self.pages.get(parts[1])
            if page is None:
                return _error(404, f"No content found with id : ContentId{{id={parts[1]}}}")
            if page.restricted:
                return _error(403, "User not permitted to view content")
            return _json(self._page(page, query.get("expand", "")) | {"_links": self._links(page, root=True)})
        if parts[0] == "content" and parts[2:] == ["child", "page"]:
            if parts[1] not in self.pages:
                return _error(404, f"No content found with id : ContentId{{id={parts[1]}}}")
            return self._list(request, [p for p in self._ordered() if p.parent == parts[1]])
        return _error(404, "null for uri: " + request.path)

    def _authorised(self, header: str) -> bool:
        if self.token is not None:
            return header == f"Bearer {self.token}"
        if self.user is not None:
            expected = base64.b64encode(f"{self.user}:{self.api_token}".encode()).decode()
            return header == f"Basic {expected}"
        return True

    def _ordered(self) -> list[Page]:
        return sorted(self.pages.values(), key=lambda p: int(p.id))

    def _list(self, request: web.Request, pages: list[Page]) -> web.Response:
        start = int(request.query.get("start", "0"))
        limit = min(int(request.query.get("limit", "25")), self.max_limit)
        chunk = pages[start : start + limit]
        expand = request.query.get("expand", "")
        links: dict[str, Any] = {
            "base": self.base,
            "context": self.context,
            "self": f"{self.base}{request.path}",
        }
        if start + limit < len(pages):
            query = dict(request.query) | {"start": str(start + limit), "limit": str(limit)}
            rel = request.path[len(self.context) :]
            links["next"] = rel + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        body = {
            "results": [self._page(p, expand) | {"_links": self._links(p)} for p in chunk],
            "start": start,
            "limit": limit,
            "size": len(chunk),
            "_links": links,
        }
        return _json(body)

    def _page(self, page: Page, expand: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": page.id, "type": "page", "status": "current", "title": page.title}
        if "version" in expand:
            data["version"] = {"number": page.version, "minorEdit": False}
        if "body.storage" in expand:
            data["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        return data

    def _links(self, page: Page, root: bool = False) -> dict[str, str]:
        webui = f"/spaces/{page.space}/pages/{page.id}/{page.title.replace(' ', '+')}"
        links = {"webui": webui, "self": f"{self.base}/rest/api/content/{page.id}"}
        if root:
            links |= {"base": self.base, "context": self.context}
        return links


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    reasons = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
    body = {
        "statusCode": status,
        "data": {"authorized": status != 401},
        "message": message,
        "reason": reasons[status],
    }
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=headers
    )
