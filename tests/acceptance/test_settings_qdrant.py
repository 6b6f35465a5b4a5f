"""The Qdrant server settings (docs/configuration.md, docs/deployment.md): with QDRANT_URL set,
ragbot keeps its vectors on that server, in QDRANT_COLLECTION, built with QDRANT_HNSW_M and
QDRANT_HNSW_EF_CONSTRUCT, searched with QDRANT_HNSW_EF, sending QDRANT_API_KEY, and gives up on
a server slower than QDRANT_TIMEOUT. The server is tests/acceptance/fake_qdrant.py (qdrant-client's
local mode behind Qdrant's REST API), which records what it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from acceptance_harness import Deployment, json_lines
from fake_qdrant import FakeQdrant

KEY = "qdrant-key-of-the-ledger-team"


@pytest.fixture
async def qdrant() -> AsyncIterator[FakeQdrant]:
    server = await FakeQdrant(api_key=KEY).start()
    try:
        yield server
    finally:
        await server.aclose()


async def test_the_vectors_go_to_the_qdrant_server_as_configured(
    team: Deployment, qdrant: FakeQdrant
) -> None:
    team.set(
        CLASSIFY_USE_MODEL="false",
        QDRANT_URL=qdrant.url,
        QDRANT_API_KEY=KEY,
        QDRANT_COLLECTION="ledger_team",
        QDRANT_HNSW_M="8",
        QDRANT_HNSW_EF_CONSTRUCT="40",
        QDRANT_HNSW_EF="96",
    )
    ingest = await team.ok("ingest", "./handbook", "--space", "ops")
    assert "3 added" in ingest.out, ingest.out
    assert not (team.root / "data" / "qdrant").exists(), "nothing in the embedded engine"
    assert qdrant.requests and all(r.headers.get("api-key") == KEY for r in qdrant.requests)
    assert all(r.path.startswith("/collections/ledger_team") for r in qdrant.requests), {
        r.path for r in qdrant.requests
    }
    (create,) = qdrant.of("PUT", "/collections/ledger_team")
    assert create.body["hnsw_config"] == {"m": 8, "ef_construct": 40}, create.body
    assert sum(len(r.body["points"]) for r in qdrant.of("PUT", "/points")) == 3
    assert KEY not in ingest.text, "the key stays out of the output"

    found = json_lines(
        (await team.ok("search", "rotate the API keys", "--space", "ops", "--mode", "dense", "--json")).out
    )
    assert found["hits"][0]["section"] == "Rotating the API keys", found
    (query,) = qdrant.of("POST", "/points/query")
    assert query.body["params"]["hnsw_ef"] == 96, query.body

    # a server that answers after 3 s: too slow for QDRANT_TIMEOUT=1, fine for the default 10 s
    qdrant.delay_s = 3.0
    slow = await team.cli("search", "rotate the API keys", "--space", "ops", env={"QDRANT_TIMEOUT": "1"})
    assert slow.code == 1 and "Qdrant server" in slow.err and "unreachable" in slow.err, str(slow)
    patient = await team.ok("search", "rotate the API keys", "--space", "ops")
    assert "Rotating the API keys" in patient.out
