"""The review queue and verified answers in the console (docs/console.md): an admin turns a
thumbs-down into a verified answer, endorses a good answer, removes one; the bot then answers
the same question from it without calling the model. Over real HTTP against the serve runtime
with the SQL store; the browser journey is in tests/browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
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

from core.models import AnswerDone, Question

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
    assert (await client.login("alice")).status == 303
    try:
        yield client
    finally:
        await client.aclose()


async def ask(bench: ConsoleBench, text: str, space: str = "ops") -> AnswerDone:
    done = None
    async for event in bench.service.ask(Question(text=text, space_id=space)):
        if isinstance(event, AnswerDone):
            done = event
    assert done is not None
    return done


def form_fields(page) -> dict[str, list[str]]:  # noqa: ANN001 - a console_fixtures.Page
    """What the verify form would send as it stands: hidden and text fields, ticked boxes, text areas."""
    form = page.html.css_first("form#verify")
    assert form is not None, page.text
    fields: dict[str, list[str]] = {}
    for node in form.css("input"):
        kind = node.attributes.get("type", "text")
        if kind == "checkbox" and "checked" not in node.attributes:
            continue
        fields.setdefault(node.attributes["name"] or "", []).append(node.attributes.get("value") or "")
    for node in form.css("textarea"):
        fields.setdefault(node.attributes["name"] or "", []).append(node.text())
    return fields


def flat(fields: dict[str, list[str]], **changes: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in fields.items() if k not in changes for v in values] + list(
        changes.items()
    )


async def test_a_thumbs_down_becomes_a_verified_answer_the_bot_then_gives(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    queue = await admin.get("/admin/review")
    cards = queue.html.css("section.review")
    assert [c.attributes["id"] for c in cards] == [f"review-{seeded.asked}"]
    assert cards[0].css_first(".question").text() == "How do I deploy the billing service?"
    assert [li.text() for li in cards[0].css("ul.reasons li")] == [
        "it needs the release manager, not on-call"
    ]

    form = await admin.get(cards[0].css_first("a.write").attributes["href"] or "")
    assert form.css_text("#original") == "To deploy, run make deploy from the release branch [1]."
    fields = form_fields(form)
    assert fields["from_answer_id"] == [seeded.asked] and fields["space"] == ["ops"]
    assert fields["question"] == ["How do I deploy the billing service?"]
    cited = fields["source"]
    assert cited and all(doc.endswith("deploy.md") for doc in cited)

    # no text: refused with the reason, and nothing the person typed is lost
    refused = await admin.post("/admin/verified", flat(fields, question="How do I deploy billing?", text=""))
    assert refused.status == 400 and "needs its text" in refused.css_text("#error")
    assert form_fields(refused)["question"] == ["How do I deploy billing?"]

    corrected = "Deploys of billing need the release manager's approval; then run `make deploy`."
    saved = await admin.post("/admin/verified", flat(fields, text=corrected))
    assert saved.status == 303 and saved.headers["Location"] == "/admin/verified?space=ops&msg=verified"
    listing = await admin.get(saved.headers["Location"])
    assert listing.css_text("#notice") == "Saved. Matching questions are answered from it now."
    card = listing.html.css_first("section.verified")
    assert card.css_first(".author").text() == "console:alice"
    assert card.css_first(".text").text() == corrected
    assert [li.text(strip=True).startswith("Deploying") for li in card.css("ol.sources li")] == [True]
    assert (await admin.get("/admin/review")).html.css_first("#empty") is not None, "dealt with"

    calls = len(bench.chat.requests)
    again = await ask(bench, "How do I deploy the billing service?")
    assert len(bench.chat.requests) == calls, "answered from the verified answer: no model call"
    assert again.answer.text == corrected and again.answer.verified is not None
    assert again.answer.verified.author == "console:alice"
    log = await admin.get("/admin/questions")
    assert "answered from a verified answer" in log.css_text(f"#answer-{again.answer.answer_id}")
    detail = await admin.get(f"/admin/questions/{again.answer.answer_id}")
    assert "Answered from a verified answer by console:alice" in detail.css_text("#verified-note")


async def test_extra_sources_come_from_the_space_and_forged_ones_are_ignored(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    form = await admin.get(f"/admin/review/{seeded.asked}")
    fields = form_fields(form)
    eng_only = next(d.doc_id for d in await bench.service.documents("eng"))
    ops_docs = {d.doc_id: d for d in await bench.service.documents("ops")}
    rollback = next(doc for doc in ops_docs if doc.endswith("rollback.md"))

    # a document of another space is not a source here: refused, the text kept
    text = "Ask the release manager first."
    outside = await admin.post(
        "/admin/verified",
        flat(fields, text=text, source="eng/secret.md", more_sources=f"no-such-doc\n{eng_only}"),
    )
    assert outside.status == 400 and "is not a document of the space 'ops'" in outside.css_text("#error")
    assert form_fields(outside)["text"] == [text]

    saved = await admin.post(
        "/admin/verified", flat(fields, text=text, source="eng/secret.md", more_sources=rollback)
    )
    assert saved.status == 303
    (verified,) = await bench.service.verified_answers("ops")
    assert [s.doc_id for s in verified.sources] == [rollback], (
        "the forged id found nothing; the extra one is kept"
    )
    assert await bench.service.verified_answers("eng") == []


async def test_a_good_answer_is_endorsed_as_it_is(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    page = await admin.get(f"/admin/questions/{seeded.liked}")
    endorse = page.html.css_first("button#endorse").parent
    assert endorse is not None
    done = await admin.post(
        "/admin/verified",
        {"csrf": hidden_value(page, "csrf"), "from_answer_id": seeded.liked, "endorse": "1"},
    )
    assert done.status == 303
    (verified,) = await bench.service.verified_answers("ops")
    liked = await bench.service.logged_answer(seeded.liked)
    assert liked is not None
    assert (verified.question, verified.text) == (liked.answer.question, liked.answer.text)
    assert verified.from_answer_id == seeded.liked and verified.author == "console:alice"
    # a declined answer offers nothing to endorse, and a forged form is refused with the reason
    declined = await admin.get(f"/admin/questions/{seeded.declined}")
    assert declined.html.css_first("button#endorse") is None
    forged = await admin.post(
        "/admin/verified",
        {"csrf": hidden_value(page, "csrf"), "from_answer_id": seeded.declined, "endorse": "1"},
    )
    assert forged.status == 400 and "nothing to endorse" in forged.css_text("#error")
    assert len(await bench.service.verified_answers()) == 1


async def test_a_verified_answer_can_be_removed_and_is_flagged_when_its_source_changes(
    bench: ConsoleBench, seeded: Seeded, admin: ConsoleClient
) -> None:
    fields = form_fields(await admin.get(f"/admin/review/{seeded.asked}"))
    assert (await admin.post("/admin/verified", flat(fields, text="Ask the release manager."))).status == 303
    listing = await admin.get("/admin/verified?space=ops")
    assert "needs review" not in listing.text

    (bench.docs / "deploy.md").write_text(
        "# Deploying\n\nDeploys are frozen until March.\n", encoding="utf-8"
    )
    assert (await bench.service.ingest("ops", [str(bench.docs)])).ok
    flagged = await admin.get("/admin/verified?space=ops")
    assert flagged.css_text("section.verified .tag") == "needs review: a source changed"

    (verified,) = await bench.service.verified_answers("ops")
    remove = flagged.html.css_first(f"form[action='/admin/verified/{verified.verified_id}/remove']")
    assert remove is not None
    gone = await admin.post(
        f"/admin/verified/{verified.verified_id}/remove", {"csrf": hidden_value(flagged, "csrf")}
    )
    assert gone.headers["Location"] == "/admin/verified?msg=removed"
    assert await bench.service.verified_answers() == []
    twice = await admin.post(
        f"/admin/verified/{verified.verified_id}/remove", {"csrf": hidden_value(flagged, "csrf")}
    )
    assert twice.headers["Location"] == "/admin/verified?msg=not_removed"
    # the thumbs-down is back in the queue: its verified answer is gone
    assert (await admin.get("/admin/review")).html.css_first(f"#review-{seeded.asked}") is not None
