"""The console's pages as an admin uses them (docs/console.md), over real HTTP against the serve
runtime with the SQL store: what each page shows of a running bot's state, the question log's
filters and paging, running a pinned source now, usage charts, English and Russian."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_fixtures import (  # noqa: F401 - no_outside_settings is a fixture
    ConsoleBench,
    ConsoleClient,
    Seeded,
    hidden_value,
    no_outside_settings,
    open_console,
)

from core.models import Question

pytestmark = pytest.mark.usefixtures("no_outside_settings")


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[ConsoleBench]:
    bench, close = await open_console(tmp_path)
    try:
        yield bench
    finally:
        await close()


@pytest.fixture
async def seeded(bench: ConsoleBench) -> Seeded:
    return await bench.seed()


@pytest.fixture
async def admin(bench: ConsoleBench) -> AsyncIterator[ConsoleClient]:
    client = bench.client()
    page = await client.login("alice")
    assert page.status == 303
    try:
        yield client
    finally:
        await client.aclose()


def rows(page, table: str) -> list[list[str]]:  # noqa: ANN001 - a console_fixtures.Page
    """The cells of a table's body rows, as text."""
    return [
        [td.text(separator=" ", strip=True) for td in tr.css("td")]
        for tr in page.html.css(f"table#{table} tr")
        if tr.css("td")
    ]


async def test_spaces_show_documents_chunks_types_ingestion_pins_and_channels(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get("/admin/")
    assert page.status == 200
    table = {r[0]: r for r in rows(page, "spaces")}
    assert set(table) == {"ops", "eng"}
    ops, eng = table["ops"], table["eng"]
    ops_summary = next(s for s in await bench.service.spaces() if s.space_id == "ops")
    assert ops[1:3] == ["2", str(ops_summary.chunks)]
    types = Counter(d.doc_type for d in await bench.service.documents("ops")).most_common()
    assert ops[3] == " ".join(f"{name} {n}" for name, n in types) and sum(n for _, n in types) == 2
    assert ops[4].startswith(datetime.now(UTC).strftime("%Y-%m-%d"))
    assert ops[5] == "2 (1 failing)" and ops[6] == "0"
    assert eng[1] == "1" and eng[5] == "0" and eng[6] == "1"

    space = await admin.get("/admin/spaces/ops")
    titles = [r[0] for r in rows(space, "documents")]
    assert any(t.startswith("Deploying") for t in titles) and any(
        t.startswith("Rolling back") for t in titles
    )
    assert len(rows(space, "pins")) == 2 and space.html.css_first("table#bindings") is None
    assert (await admin.get("/admin/spaces/nowhere")).status == 404


async def test_sources_show_health_and_run_now_reingests_the_source(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get("/admin/sources")
    pins = {r[1]: r for r in rows(page, "pins")}
    deploy = pins[str(bench.docs / "deploy.md")]
    assert deploy[2] == "every 6 h" and deploy[4] == "OK" and deploy[8] == "slack:U0ADMIN"
    failing = pins["https://wiki.invalid/runbook?token=***"]
    assert failing[4] == "failing ×1" and "no HTTP fetcher" in failing[7]

    (bench.docs / "deploy.md").write_text(
        "# Deploying\n\nDeploys now go through the deploy bot: type `/deploy billing` in #releases.\n",
        encoding="utf-8",
    )
    before = {d.doc_id: d.version for d in await bench.service.documents("ops")}
    ran = await admin.post(f"/admin/sources/{seeded.file_pin}/run", {"csrf": hidden_value(page, "csrf")})
    assert ran.status == 303
    after_page = await admin.get(ran.headers["Location"])
    assert after_page.css_text("#notice") == "The source was re-ingested."
    after = {d.doc_id: d.version for d in await bench.service.documents("ops")}
    changed = [doc for doc in after if after[doc] != before[doc]]
    assert len(changed) == 1 and "deploy" in changed[0]
    found = await bench.service.search("deploy bot releases", "ops")
    assert "deploy bot" in found.hits[0].chunk.text
    assert (await admin.post("/admin/sources/999/run", {"csrf": hidden_value(page, "csrf")})).status == 404


async def test_bindings_list_every_channel_and_its_space(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get("/admin/bindings")
    assert rows(page, "bindings") == [["slack", "T1", "C0ENG", "eng", "yes"]]


async def test_the_question_log_shows_answers_and_filters_them(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    async def ids(query: str = "") -> list[str]:
        page = await admin.get("/admin/questions" + query)
        assert page.status == 200, page.text
        return [tr.attributes["id"].removeprefix("answer-") for tr in page.html.css("table#questions tr[id]")]

    everything = [seeded.declined, seeded.other_space, seeded.liked, seeded.asked]
    assert await ids() == everything  # newest first
    page = await admin.get("/admin/questions")
    first = rows(page, "questions")[-1]
    assert first[1] == "ops" and first[2] == "slack:U0ALICE in C0OPS"
    assert first[3] == "How do I deploy the billing service?" and first[6] == "▼1"
    assert page.css_text("#count") == "1-4 of 4"

    assert await ids("?space=eng") == [seeded.declined, seeded.other_space]
    assert await ids("?vote=down") == [seeded.asked]
    assert await ids("?vote=up") == [seeded.liked]
    assert await ids("?vote=none&space=eng") == [seeded.declined, seeded.other_space]
    assert await ids("?declined=yes") == [seeded.declined]
    today = datetime.now(UTC).date()
    assert await ids(f"?from={today}") == everything
    assert await ids(f"?to={today - timedelta(days=1)}") == []
    assert await ids(f"?from={today - timedelta(days=3)}&to={today}&space=ops&vote=up") == [seeded.liked]
    # the form keeps the filters it shows
    page = await admin.get("/admin/questions?space=eng&vote=none")
    assert page.html.css_first("select[name=space] option[selected]").attributes["value"] == "eng"
    assert page.html.css_first("select[name=vote] option[selected]").attributes["value"] == "none"

    bad = await admin.get("/admin/questions?from=last+week")
    assert bad.status == 400 and bad.css_text("#error") == "'last week' is not a date: use YYYY-MM-DD."


async def test_the_question_log_pages_fifty_at_a_time(bench: ConsoleBench, admin: ConsoleClient) -> None:
    assert (await bench.service.ingest("ops", [str(bench.docs)])).ok
    for i in range(53):
        async for _ in bench.service.ask(Question(text=f"How do I deploy service {i}?", space_id="ops")):
            pass
    first = await admin.get("/admin/questions?space=ops")
    assert len(rows(first, "questions")) == 50 and first.css_text("#count") == "1-50 of 53"
    assert first.html.css_first("#newer") is None
    older = first.html.css_first("#older").attributes["href"] or ""
    assert "space=ops" in older and "page=2" in older
    second = await admin.get(older)
    assert len(rows(second, "questions")) == 3 and second.css_text("#count") == "51-53 of 53"
    assert rows(second, "questions")[-1][3] == "How do I deploy service 0?"
    assert second.html.css_first("#older") is None and second.html.css_first("#newer") is not None


async def test_one_answer_shows_its_text_sources_timings_and_votes(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get(f"/admin/questions/{seeded.asked}")
    assert page.css_text("#question") == "How do I deploy the billing service?"
    assert page.css_text("#answer-text") == "To deploy, run make deploy from the release branch [1]."
    sources = [li.text(strip=True) for li in page.html.css("ol.sources li")]
    assert sources and sources[0].startswith("Deploying")
    timings = rows(page, "timings")[0]
    assert all(cell.endswith(" s") for cell in timings[:5])
    assert rows(page, "votes") == [
        ["slack:U0ALICE", "▼", "it needs the release manager, not on-call", rows(page, "votes")[0][3]]
    ]
    declined = await admin.get(f"/admin/questions/{seeded.declined}")
    assert "declined: the documents did not hold the answer" in declined.text
    assert (await admin.get("/admin/questions/no-such-answer")).status == 404


async def test_usage_shows_rates_charts_and_the_figures_per_day(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get("/admin/usage?days=7")
    totals = page.css_text("#totals")
    assert "Questions: 4" in totals and "Helpful rate (thumbs-up among votes): 50%" in totals
    assert "Declined rate: 25%" in totals
    for chart in ("questions_per_day", "helpful_rate", "declined_rate", "ttft_p50"):
        svg = page.html.css_first(f"#chart-{chart} svg")
        assert svg is not None, chart
    today = datetime.now(UTC).date().isoformat()
    bars = [t.text() for t in page.html.css("#chart-questions_per_day svg rect title")]
    assert len(bars) == 7 and bars[-1] == f"{today}: 4"
    table = rows(page, "usage")
    assert len(table) == 7 and table[0][:5] == [today, "4", "1", "1", "1"]
    assert table[1][1] == "0" and table[1][5] == "—"

    ops = await admin.get("/admin/usage?space=ops&days=30")
    assert "Questions: 2" in ops.css_text("#totals") and len(rows(ops, "usage")) == 30
    assert (await admin.get("/admin/usage?days=9999")).status == 200  # an unknown window: the default


async def test_pages_speak_russian_by_browser_or_switch(bench: ConsoleBench, seeded: Seeded) -> None:
    russian = bench.client(headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    try:
        login = await russian.get("/admin/login")
        assert login.html.css_first("html").attributes["lang"] == "ru"
        assert login.css_text("h1") == "Вход в консоль ragbot"
        await russian.login("Мария")
        page = await russian.get("/admin/questions")
        assert (
            page.css_text("#nav-questions") == "Вопросы"
            and page.css_text("#identity") == "Вы вошли как console:Мария"
        )
        switch = page.html.css_first("#lang-switch").attributes["href"] or ""
        assert switch == "/admin/questions?lang=en"
        english = await russian.get(switch)
        assert english.css_text("#nav-questions") == "Questions"
        # the choice sticks (a cookie) over the browser's language
        assert (await russian.get("/admin/usage")).css_text("#nav-usage") == "Usage"
    finally:
        await russian.aclose()
