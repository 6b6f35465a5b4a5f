"""Confluence spaces and page trees as sources, end to end through RagService: the real
ConfluenceHttp client against a local server speaking the Confluence REST API
(tests/unit/fake_confluence.py): Cloud with basic auth, Data Center with a personal access token,
paging along _links.next, versions, restricted and deleted pages, 401/404/429."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator

import pytest
from fake_confluence import FakeConfluence

from bot.bootstrap import build_service
from bot.cli import main
from bot.settings import Settings
from core.backends import confluence_http
from core.backends.confluence_http import ConfluenceHttp
from core.errors import InvalidInput
from core.ingest.locations import Kind, parse
from core.models import OutcomeStatus
from core.service import RagService
from core.settings import ConfluenceSettings
from core.testing.fake_service import make_service

SPACE = "ops"
USER, API_TOKEN, PAT = "bot@example.org", "ATATT3xFfGF0-cloud-secret", "NjM0-dc-personal-token"

RESTART = """<h1>Restarting the gateway</h1><p>When the gateway hangs, restart it.</p>
<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>
<ac:plain-text-body><![CDATA[sudo systemctl restart gateway && curl -fsS localhost:8080/healthz]]></ac:plain-text-body>
</ac:structured-macro>
<table><tbody><tr><th>Port</th><th>Use</th></tr><tr><td>8080</td><td>health checks</td></tr></tbody></table>"""


def wiki(**options) -> FakeConfluence:
    fake = FakeConfluence(**options)
    fake.add_page("1", "Operations", "OPS", "<p>The operations space home.</p>")
    fake.add_page("2", "Restarting the gateway", "OPS", RESTART, parent="1")
    fake.add_page("3", "On-call rota", "OPS", "<p>The rota changes every Monday at 10:00.</p>", parent="1")
    fake.add_page(
        "4", "Escalation", "OPS", "<p>Escalate to the duty manager after 30 minutes.</p>", parent="3"
    )
    fake.add_page("5", "Lunch menu", "OPS", "<p>Soup on Mondays.</p>")
    fake.add_page("9", "Hiring", "HR", "<p>Interviews happen on Thursdays.</p>")
    return fake


@pytest.fixture
async def cloud() -> AsyncIterator[FakeConfluence]:
    fake = wiki(context="/wiki", user=USER, api_token=API_TOKEN)
    await fake.start()
    yield fake
    await fake.aclose()


async def open_service(settings: ConfluenceSettings) -> RagService:
    service = make_service(confluence=ConfluenceHttp(settings, timeout=5.0))
    await service.start()
    return service


@pytest.fixture
async def service() -> AsyncIterator[RagService]:
    s = await open_service(ConfluenceSettings(user=USER, api_token=API_TOKEN))
    yield s
    await s.aclose()


def space_of(fake: FakeConfluence, key: str = "OPS") -> str:
    return f"confluence+{fake.base}/spaces/{key}"


def titles(report, status: OutcomeStatus) -> list[str]:
    return sorted(o.doc_id.rsplit("/", 1)[-1] for o in report.outcomes if o.status is status)


async def test_a_cloud_space_is_ingested_page_by_page_with_web_links(
    cloud: FakeConfluence, service: RagService
) -> None:
    report = await service.ingest(SPACE, [space_of(cloud)])

    assert titles(report, OutcomeStatus.ADDED) == ["1", "2", "3", "4", "5"]  # HR's page is not in OPS
    assert report.ok
    listing = [r for r in cloud.requests if r.path.endswith("/rest/api/content")]
    assert len(listing) == 3  # 5 pages, 2 per list page, along _links.next
    live = await service.store.live_documents(SPACE)
    doc = live[f"confluence+{cloud.base}/pages/2"]
    assert doc.title == "Restarting the gateway"
    assert doc.source == f"{cloud.base}/spaces/OPS/pages/2/Restarting+the+gateway"  # the page's web URL
    hits = await service.search("how do I restart the gateway", SPACE)
    text = hits.hits[0].chunk.text
    assert "```bash\nsudo systemctl restart gateway" in text  # the code macro, verbatim
    assert "| 8080 | health checks |" in text  # the table
    assert "ac:" not in text and "CDATA" not in text


async def test_an_unchanged_space_reads_no_page_body(cloud: FakeConfluence, service: RagService) -> None:
    await service.ingest(SPACE, [space_of(cloud)])
    cloud.requests.clear()
    embedded = len(service.embedder.calls)

    again = await service.ingest(SPACE, [space_of(cloud)])

    assert again.count(OutcomeStatus.UNCHANGED) == 5 and again.chunks_written == 0
    assert cloud.bodies_read() == [] and len(service.embedder.calls) == embedded


async def test_edited_deleted_and_moved_pages_follow_on_the_next_run(
    cloud: FakeConfluence, service: RagService
) -> None:
    pin, _ = await service.pin(SPACE, space_of(cloud))
    cloud.edit("3", "<p>The rota changes every Tuesday at 09:00.</p>")
    del cloud.pages["5"]  # deleted
    cloud.pages["4"].space = "HR"  # moved to another space
    cloud.requests.clear()

    run = await service.refresh_pin(pin)

    assert run.report is not None and run.error is None
    assert titles(run.report, OutcomeStatus.UPDATED) == ["3"]
    assert titles(run.report, OutcomeStatus.REMOVED) == ["4", "5"]
    assert cloud.bodies_read() == ["3"]  # only the page whose version moved
    hits = await service.search("when does the rota change", SPACE)
    assert "Tuesday" in hits.hits[0].chunk.text


async def test_a_page_and_its_children(cloud: FakeConfluence, service: RagService) -> None:
    report = await service.ingest(SPACE, [f"confluence+{cloud.base}/spaces/OPS/pages/3/On-call+rota"])
    assert titles(report, OutcomeStatus.ADDED) == ["3", "4"]
    (state,) = await service.source_states(SPACE)
    assert state.location == f"confluence+{cloud.base}/spaces/OPS/pages/3" and state.documents == 2


async def test_pages_these_credentials_cannot_read_are_skipped_and_counted(
    cloud: FakeConfluence, service: RagService
) -> None:
    cloud.pages["5"].restricted = True
    report = await service.ingest(SPACE, [space_of(cloud)])
    skipped = [o for o in report.outcomes if o.status is OutcomeStatus.SKIPPED]
    assert [(o.source, o.reason) for o in skipped] == [("Lunch menu (5)", "these credentials cannot read it")]
    assert report.ok and report.count(OutcomeStatus.ADDED) == 4
    (state,) = await service.source_states(SPACE)
    assert (state.documents, state.skipped) == (4, 1)


async def test_data_center_with_a_personal_access_token_and_a_context_path() -> None:
    fake = wiki(context="/confluence", token=PAT)
    await fake.start()
    service = await open_service(ConfluenceSettings(token=PAT))
    try:
        space = await service.ingest(SPACE, [f"confluence+{fake.base}/display/OPS"])
        page = await service.ingest("one", [f"confluence+{fake.base}/pages/viewpage.action?pageId=4"])
        titled = await service.ingest("titled", [f"confluence+{fake.base}/display/OPS/On-call+rota"])
    finally:
        await service.aclose()
        await fake.aclose()
    assert space.count(OutcomeStatus.ADDED) == 5 and space.ok
    assert titles(page, OutcomeStatus.ADDED) == ["4"]
    assert titles(titled, OutcomeStatus.ADDED) == ["3", "4"]
    assert {r.authorization for r in fake.requests} == {f"Bearer {PAT}"}


async def test_wrong_credentials_are_refused_in_words_that_hold_no_secret(
    cloud: FakeConfluence, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and ragbot at their most talkative
    wrong = "ATATT3x-wrong-token-value"
    service = await open_service(ConfluenceSettings(user=USER, api_token=wrong))
    try:
        report = await service.ingest(SPACE, [space_of(cloud)])
        states = await service.source_states(SPACE)
    finally:
        await service.aclose()
    (failure,) = report.failed
    assert "refused the credentials (HTTP 401)" in failure.reason
    assert "CONFLUENCE_USER and CONFLUENCE_API_TOKEN" in failure.reason
    basic = base64.b64encode(f"{USER}:{wrong}".encode()).decode()
    for text in (failure.reason, states[0].last_error or "", caplog.text, space_of(cloud)):
        assert wrong not in text and basic not in text
    assert caplog.records, "the run was logged"


async def test_no_credentials_says_which_settings_to_set(cloud: FakeConfluence) -> None:
    service = await open_service(ConfluenceSettings())
    try:
        report = await service.ingest(SPACE, [space_of(cloud)])
    finally:
        await service.aclose()
    assert "needs a login (HTTP 401): set CONFLUENCE_USER" in report.failed[0].reason


async def test_a_space_that_does_not_exist(cloud: FakeConfluence, service: RagService) -> None:
    report = await service.ingest(SPACE, [space_of(cloud, "NOPE")])
    (failure,) = report.failed
    assert failure.reason.startswith("The Confluence space NOPE does not exist on 127.0.0.1")
    missing = await service.ingest(SPACE, [f"confluence+{cloud.base}/spaces/OPS/pages/404"])
    assert "The Confluence page 404 does not exist" in missing.failed[0].reason


async def test_rate_limits_are_waited_out_as_retry_after_asks(
    cloud: FakeConfluence, service: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(confluence_http, "_sleep", record)
    cloud.rate_limited = 2
    report = await service.ingest(SPACE, [space_of(cloud)])
    assert report.ok and report.count(OutcomeStatus.ADDED) == 5
    assert waits == [3.0, 3.0]
    cloud.rate_limited = 100
    report = await service.ingest("other", [space_of(cloud)])
    assert "kept rate-limiting requests (HTTP 429)" in report.failed[0].reason


async def test_an_unreachable_wiki_loses_nothing(cloud: FakeConfluence, service: RagService) -> None:
    await service.ingest(SPACE, [space_of(cloud)])
    location = space_of(cloud)
    await cloud.aclose()
    report = await service.ingest(SPACE, [location], prune=True)
    assert "Cannot connect to Confluence at 127.0.0.1" in report.failed[0].reason
    assert len(await service.store.live_documents(SPACE)) == 5


def test_credentials_in_a_confluence_url_are_refused() -> None:
    with pytest.raises(InvalidInput, match="must not carry credentials"):
        parse("confluence+https://bot:secret@wiki.example.com/spaces/OPS")


async def test_the_settings_choose_the_credentials(
    cloud: FakeConfluence, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONFLUENCE_USER + CONFLUENCE_API_TOKEN -> basic auth; CONFLUENCE_TOKEN -> a bearer token,
    as bot.bootstrap wires them from the environment."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CONFLUENCE_USER", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", API_TOKEN)
    built = build_service(Settings(data_dir=tmp_path / "data"))
    client = built.sources.readers[Kind.CONFLUENCE].client
    assert isinstance(client, ConfluenceHttp) and client.scheme == "basic"
    try:
        assert (await client.get(f"{cloud.base}/rest/api/space/OPS"))["key"] == "OPS"
    finally:
        await client.aclose()
    monkeypatch.setenv("CONFLUENCE_TOKEN", PAT)
    client = build_service(Settings(data_dir=tmp_path / "data")).sources.readers[Kind.CONFLUENCE].client
    assert client.scheme == "pat"
    dc = wiki(context="", token=PAT)
    await dc.start()
    try:
        assert (await client.get(f"{dc.base}/rest/api/space/OPS"))["key"] == "OPS"
    finally:
        await client.aclose()
        await dc.aclose()
    assert dc.requests[0].authorization == f"Bearer {PAT}"


@pytest.mark.slow
async def test_the_cli_pins_a_confluence_space_with_the_settings_of_the_environment(
    cloud: FakeConfluence, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ragbot pin confluence+... --space ops` as docs/sources.md writes it (the production wiring)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLASSIFY_USE_MODEL", "false")
    monkeypatch.setenv("CONFLUENCE_USER", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", API_TOKEN)
    code = await asyncio.to_thread(main, ["pin", space_of(cloud), "--space", "ops", "--max-pages", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"pinned {space_of(cloud)}#max-pages=3 in ops" in out and "space ops: 3 added" in out
    assert "there are more than 3 pages" in out  # skipped: the listing was cut, nothing pruned
    assert API_TOKEN not in out
