"""Classification at ingestion, and questions filtered by doc_type: the classifier wired into
the pipeline of a service over the deterministic fakes."""

from core.classify.stages import StagedClassifier
from core.classify.taxonomy import default_taxonomy
from core.models import Question
from core.testing.fake_service import make_service


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


DOCS = {
    # every document talks about restarting the payments API, so only the filter separates them
    "ops/runbook-payments.md": "# Runbook: payments API down\n\n1. Restart the payments API: `kubectl rollout restart deploy/payments`.\n",
    "ops/2024-05-postmortem.md": "# Postmortem: payments API outage\n\n## Timeline\n\nWe restarted the payments API at 10:05.\n",
    "help/FAQ.md": "# Payments FAQ\n\n### Why restart the payments API?\n\nYou should not need to restart the payments API.\n",
    "notes/sync.md": "# Протокол встречи\n\n## Участники\n\nРешили перезапускать payments API реже. Restart the payments API only on Fridays.\n",
    "misc/payments.md": "# Payments\n\nThe payments API can be restarted by the platform team.\n",
    "misc/typed.md": "---\ntype: policy\n---\n# Payments restarts\n\nRestart the payments API only with approval.\n",
}


async def ingest(tmp_path):
    for name, text in DOCS.items():
        write(tmp_path / "docs", name, text)
    service = make_service(classifier=StagedClassifier(default_taxonomy()))
    report = await service.ingest("team", [str(tmp_path / "docs")])
    assert report.ok
    return service


async def test_documents_get_their_type_at_ingestion(tmp_path):
    service = await ingest(tmp_path)
    live = await service.store.live_documents("team")
    types = {record.source.split("/docs/", 1)[1]: record.doc_type for record in live.values()}
    assert types == {
        "ops/runbook-payments.md": "runbook",
        "ops/2024-05-postmortem.md": "postmortem",
        "help/FAQ.md": "faq",
        "notes/sync.md": "meeting_notes",
        "misc/payments.md": "unknown",  # no cue, no model in this service: nobody decides
        "misc/typed.md": "policy",  # front matter wins over the classifier
    }


async def test_a_question_filtered_by_doc_type_only_retrieves_that_type(tmp_path):
    service = await ingest(tmp_path)
    unfiltered = await service.search("restart the payments API", "team", top_k=10)
    assert len({h.chunk.doc_type for h in unfiltered.hits}) >= 4  # the question matches every type

    for doc_type in ("runbook", "postmortem", "faq", "meeting_notes", "policy", "unknown"):
        hits = (await service.search("restart the payments API", "team", doc_type=doc_type, top_k=10)).hits
        assert hits, doc_type
        assert {h.chunk.doc_type for h in hits} == {doc_type}

    assert (
        await service.search("restart the payments API", "team", doc_type="release_notes", top_k=10)
    ).hits == []


async def test_the_chat_prefix_filters_an_answer(tmp_path):
    service = await ingest(tmp_path)
    events = [e async for e in service.ask(Question("restart the payments API?", "team", doc_type="faq"))]
    answer = events[-1].answer
    assert answer.sources and {s.doc_type for s in answer.sources} == {"faq"}
