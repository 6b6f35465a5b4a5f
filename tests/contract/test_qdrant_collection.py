"""The scale-out settings (QDRANT_SHARDS, QDRANT_REPLICATION_FACTOR, QDRANT_WRITE_CONSISTENCY,
QDRANT_ON_DISK) as a Qdrant server receives them: qdrant-client's local mode ignores them, so here
the real client talks HTTP to a small local server that answers the REST calls a start makes
(whether the collection exists, create it, read it, payload indexes) with the library's own models,
and records what it was sent."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from qdrant_client.http import models

from bot.bootstrap import build_keyword_index, build_vector_index
from bot.settings import Settings
from core.settings import QdrantSettings


class _Qdrant(BaseHTTPRequestHandler):
    """GET .../exists, PUT/GET /collections/<name>, PUT .../index: a collection's start-up calls."""

    created: dict[str, Any] | None = None  # the body of the create request (or a stored collection)
    requests: list[tuple[str, str]] = []

    def _reply(self, result: Any) -> None:
        body = json.dumps({"result": result, "status": "ok", "time": 0.0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        path = urlsplit(self.path).path
        type(self).requests.append(("GET", path))
        if path.endswith("/exists"):
            self._reply({"exists": type(self).created is not None})
        else:
            self._reply(_info(type(self).created or {}))

    def do_PUT(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = urlsplit(self.path).path
        type(self).requests.append(("PUT", path))
        if path.endswith("/index"):
            self._reply({"operation_id": 0, "status": "completed"})
            return
        type(self).created = body
        self._reply(True)

    def log_message(self, format: str, *args: object) -> None:
        return None


def _info(created: dict[str, Any]) -> dict[str, Any]:
    """The collection as the server describes it, from what it was created with."""
    params = models.CollectionParams(
        vectors=models.VectorParams(**created.get("vectors", {"size": 384, "distance": "Cosine"})),
        shard_number=created.get("shard_number"),
        replication_factor=created.get("replication_factor"),
        write_consistency_factor=created.get("write_consistency_factor"),
        on_disk_payload=created.get("on_disk_payload"),
        sparse_vectors={
            name: models.SparseVectorParams(**spec)
            for name, spec in (created.get("sparse_vectors") or {}).items()
        }
        or None,
    )
    info = models.CollectionInfo(
        status=models.CollectionStatus.GREEN,
        optimizer_status=models.OptimizersStatusOneOf.OK,
        segments_count=1,
        config=models.CollectionConfig(
            params=params,
            hnsw_config=models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
            optimizer_config=models.OptimizersConfig(default_segment_number=0, flush_interval_sec=5),
        ),
        payload_schema={},
    )
    return info.model_dump(mode="json", exclude_none=True)


@pytest.fixture
def qdrant() -> Iterator[str]:
    _Qdrant.created = None
    _Qdrant.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Qdrant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _start(settings: Settings) -> None:
    vectors = build_vector_index(settings, 384)
    keywords = build_keyword_index(settings, vectors)
    await vectors.start()
    await keywords.start()
    await keywords.aclose()
    await vectors.aclose()


async def test_a_new_collection_is_created_with_the_scale_out_settings(qdrant: str, tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        qdrant=QdrantSettings(url=qdrant, shards=6, replication_factor=2, write_consistency=2, on_disk=True),
    )
    await _start(settings)
    body = _Qdrant.created
    assert body is not None and ("PUT", "/collections/ragbot_chunks") in _Qdrant.requests
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (6, 2, 2)
    assert body["on_disk_payload"] is True and body["vectors"]["on_disk"] is True
    keywords = body["sparse_vectors"]["keywords"]  # KEYWORD_INDEX=qdrant, the default with QDRANT_URL
    assert keywords["modifier"] == "idf" and keywords["index"]["on_disk"] is True


async def test_the_defaults_make_one_shard_one_copy_in_ram(qdrant: str, tmp_path) -> None:
    await _start(Settings(data_dir=tmp_path, qdrant=QdrantSettings(url=qdrant)))
    body = _Qdrant.created
    assert body is not None
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (1, 1, 1)
    assert "on_disk" not in body["vectors"] and "on_disk_payload" not in body


async def test_an_existing_collection_keeps_its_layout_and_the_difference_is_logged(
    qdrant: str, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    _Qdrant.created = {
        "vectors": {"size": 384, "distance": "Cosine"},
        "shard_number": 1,
        "replication_factor": 1,
        "write_consistency_factor": 1,
        "sparse_vectors": {"keywords": {"modifier": "idf"}},
    }
    settings = Settings(data_dir=tmp_path, qdrant=QdrantSettings(url=qdrant, shards=4, replication_factor=2))
    with caplog.at_level(logging.WARNING, logger="core.backends.qdrant_collection"):
        await _start(settings)
    assert ("PUT", "/collections/ragbot_chunks") not in _Qdrant.requests  # not created again
    (record,) = [r for r in caplog.records if "other scale-out settings" in r.getMessage()]
    message = record.getMessage()
    assert "QDRANT_SHARDS=4 (the collection has 1)" in message
    assert "QDRANT_REPLICATION_FACTOR=2 (the collection has 1)" in message
    assert "QDRANT_WRITE_CONSISTENCY" not in message
