"""A local Qdrant server for the acceptance tests: the REST endpoints ragbot's server backend
calls (``QDRANT_URL``), answered by qdrant-client's in-process local mode, so points really are
stored and searched. Every request is recorded (method, path, headers, JSON body), which is how a
test sees the collection name, the API key and the HNSW parameters ragbot sends; ``delay_s`` makes
every answer late (a slow or overloaded server).

No Qdrant server can be installed on this machine (no Docker, no binary on the package
registries), and the local mode speaks the same models the server does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from qdrant_client import AsyncQdrantClient, models

__all__ = ["FakeQdrant", "QdrantRequest"]


@dataclass(frozen=True)
class QdrantRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class FakeQdrant:
    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[QdrantRequest] = []
        self.delay_s = 0.0
        self.url = ""
        self._client = AsyncQdrantClient(location=":memory:")
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeQdrant:
        app = web.Application()
        routes: list[tuple[str, str, Callable[[str, Any], Awaitable[Any]]]] = [
            ("GET", "/collections/{name}/exists", self._exists),
            ("PUT", "/collections/{name}", self._create),
            ("GET", "/collections/{name}", self._info),
            ("PUT", "/collections/{name}/index", self._index),
            ("PUT", "/collections/{name}/points", self._upsert),
            ("POST", "/collections/{name}/points/query", self._query),
            ("POST", "/collections/{name}/points/delete", self._delete),
            ("POST", "/collections/{name}/points/count", self._count),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._handler(handler))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._client.close()

    def of(self, method: str, suffix: str) -> list[QdrantRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def _handler(
        self, handler: Callable[[str, Any], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json() if request.can_read_body else None
            self.requests.append(QdrantRequest(request.method, request.path, dict(request.headers), body))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.api_key is not None and request.headers.get("api-key") != self.api_key:
                return web.json_response({"status": {"error": "Invalid api-key"}, "time": 0.0}, status=401)
            result = await handler(request.match_info["name"], body)
            return web.json_response({"result": result, "status": "ok", "time": 0.0})

        return handle

    async def _exists(self, name: str, body: Any) -> Any:
        return {"exists": await self._client.collection_exists(name)}

    async def _create(self, name: str, body: Any) -> Any:
        create = models.CreateCollection.model_validate(body)
        return await self._client.create_collection(
            name, vectors_config=create.vectors, hnsw_config=create.hnsw_config
        )

    async def _info(self, name: str, body: Any) -> Any:
        return (await self._client.get_collection(name)).model_dump(mode="json")

    async def _index(self, name: str, body: Any) -> Any:
        return {"operation_id": 0, "status": "completed"}  # local mode keeps no payload indexes

    async def _upsert(self, name: str, body: Any) -> Any:
        points = models.PointsList.model_validate(body).points
        return (await self._client.upsert(name, points=points)).model_dump(mode="json")

    async def _query(self, name: str, body: Any) -> Any:
        query = models.QueryRequest.model_validate(body)
        found = await self._client.query_points(
            name,
            query=query.query,
            query_filter=query.filter,
            limit=query.limit or 10,
            with_payload=True,
        )
        return found.model_dump(mode="json")

    async def _delete(self, name: str, body: Any) -> Any:
        selector = models.FilterSelector.model_validate(body)
        return (await self._client.delete(name, points_selector=selector)).model_dump(mode="json")

    async def _count(self, name: str, body: Any) -> Any:
        count = models.CountRequest.model_validate(body or {})
        return (await self._client.count(name, count_filter=count.filter, exact=True)).model_dump(mode="json")
