"""Ingestion over the deterministic fakes: idempotence, updates, pruning, bad input, and what a
reader sees while an update fails half-way."""

import pytest

from core.errors import BackendError, IngestError
from core.models import OutcomeStatus, SearchFilters
from core.ports import DocTypeDecision
from core.settings import IngestSettings
from core.testing.fake_service import make_service


def _write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    _write(
        folder,
        "restart.md",
        "# Restarting the API\n\nTo restart the API server run `systemctl restart api`.\n",
    )
    _write(folder, "backup.md", "# Backups\n\nNightly backups are stored in the vault bucket for 30 days.\n")
    _write(folder, "ru/отпуск.md", "# Отпуск\n\nЗаявление на отпуск подают за две недели через портал.\n")
    return folder


async def test_ingest_then_reingest_unchanged_writes_nothing(docs):
    service = make_service()
    first = await service.ingest("team", [str(docs)])
    assert first.ok and first.count(OutcomeStatus.ADDED) == 3
    chunks = await service.vectors.count("team")
    assert chunks == await service.keywords.count("team") == first.chunks_written > 0
    calls_before = list(service.embedder.calls)
    generation_before = await service.store.generation("team")

    again = await service.ingest("team", [str(docs)])

    assert again.count(OutcomeStatus.UNCHANGED) == 3 and again.chunks_written == 0
    assert service.embedder.calls == calls_before  # not one text embedded again
    assert await service.store.generation("team") == generation_before
    assert await service.vectors.count("team") == chunks


async def test_a_new_passage_format_re_embeds_every_document(docs, monkeypatch):
    service = make_service()
    await service.ingest("team", [str(docs)])
    monkeypatch.setattr("core.ingest.pipeline.PASSAGE_FORMAT", "another format")

    again = await service.ingest("team", [str(docs)])

    assert again.count(OutcomeStatus.UPDATED) == 3 and again.chunks_written > 0


class CountingClassifier:
    """Calls faq everything and counts the documents it was asked about; fails on request."""

    def __init__(self, fail_on: str = "") -> None:
        self.asked: list[str] = []
        self.fail_on = fail_on

    async def classify(self, *, title, text, source, metadata):
        self.asked.append(source.rsplit("/", 1)[-1])
        if self.fail_on and source.endswith(self.fail_on):
            raise BackendError("the model file is unreadable")
        return DocTypeDecision("faq", "rules", 1.0)


async def test_unchanged_documents_are_recognised_before_any_classification(docs):
    classifier = CountingClassifier()
    service = make_service(classifier=classifier)
    await service.ingest("team", [str(docs)])
    assert sorted(classifier.asked) == ["backup.md", "restart.md", "отпуск.md"]
    hits = await service.search("vault bucket", "team", doc_type="faq")
    assert hits.hits and all(h.chunk.doc_type == "faq" for h in hits.hits)

    classifier.asked.clear()
    _write(docs, "backup.md", "# Backups\n\nNightly backups are kept for 45 days.\n")
    again = await service.ingest("team", [str(docs)])
    assert again.count(OutcomeStatus.UNCHANGED) == 2 and again.count(OutcomeStatus.UPDATED) == 1
    assert classifier.asked == ["backup.md"]  # only the document that is written again

    # a type asked for is part of the version: asking for another one rewrites, unclassified
    forced = await service.ingest("team", [str(docs)], doc_type="runbook")
    assert forced.count(OutcomeStatus.UPDATED) == 3 and classifier.asked == ["backup.md"]


async def test_a_classifier_failure_leaves_the_document_findable_as_unknown(docs):
    service = make_service(classifier=CountingClassifier(fail_on="backup.md"))
    report = await service.ingest("team", [str(docs)])
    assert report.ok and report.count(OutcomeStatus.ADDED) == 3
    hits = await service.search("vault bucket", "team", doc_type="unknown")
    assert [h.chunk.source.rsplit("/", 1)[-1] for h in hits.hits][:1] == ["backup.md"]


async def test_changed_document_replaces_its_chunks(docs):
    service = make_service()
    await service.ingest("team", [str(docs)])
    _write(docs, "backup.md", "# Backups\n\nBackups now go to the glacier archive and are kept for a year.\n")

    report = await service.ingest("team", [str(docs)])

    assert report.count(OutcomeStatus.UPDATED) == 1 and report.count(OutcomeStatus.UNCHANGED) == 2
    hits = (await service.search("where are backups kept", "team", top_k=10)).hits
    texts = " ".join(h.chunk.text for h in hits)
    assert "glacier" in texts and "vault" not in texts
    live = await service.store.live_documents("team")
    versions = {h.chunk.version for h in hits if h.chunk.doc_id.endswith("backup.md")}
    assert versions == {live[str(docs / "backup.md")].version}
    # the old version's chunks are gone from both indexes, not just hidden
    assert await service.vectors.count("team") == await service.keywords.count("team") == 3


async def test_prune_removes_documents_gone_from_the_source(docs):
    service = make_service()
    await service.ingest("team", [str(docs)])
    (docs / "restart.md").unlink()

    kept = await service.ingest("team", [str(docs)])
    assert kept.count(OutcomeStatus.REMOVED) == 0  # without --prune nothing is removed

    pruned = await service.ingest("team", [str(docs)], prune=True)
    assert pruned.count(OutcomeStatus.REMOVED) == 1
    assert str(docs / "restart.md") not in await service.store.live_documents("team")
    hits = (await service.search("restart the API server", "team", top_k=10)).hits
    assert all(not h.chunk.doc_id.endswith("restart.md") for h in hits)


async def test_bad_files_are_reported_and_the_rest_goes_on(docs):
    _write(docs, "broken.pdf", "%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer garbage")
    _write(docs, "empty.md", "   \n\n")
    (docs / "tool.exe").write_bytes(b"MZ\x90\x00binary")
    (docs / "huge.txt").write_text("x " * 700_000)
    service = make_service(ingest=IngestSettings(max_file_mb=1))

    # a folder walk passes over types it cannot read; named explicitly, they are reported
    report = await service.ingest("team", [str(docs), str(docs / "tool.exe"), str(docs / "missing.md")])

    assert report.count(OutcomeStatus.ADDED) == 3
    reasons = {o.source.rsplit("/", 1)[-1]: o.reason for o in report.failed}
    assert set(reasons) == {"broken.pdf", "empty.md", "tool.exe", "huge.txt", "missing.md"}, reasons
    assert all(reasons.values())  # every failure says why
    assert "MB" in reasons["huge.txt"]
    assert not report.ok


async def test_space_isolation_across_both_retrievers(docs, tmp_path):
    other = tmp_path / "other"
    # space B holds far better matches for the query than space A
    for i in range(5):
        _write(
            other, f"b{i}.md", "# Restart\n\nrestart the API server restart API server restart restart API\n"
        )
    service = make_service()
    await service.ingest("a", [str(docs)])
    await service.ingest("b", [str(other)])
    for mode in ("hybrid", "dense", "bm25"):
        hits = (await service.search("restart the API server", "a", top_k=20, mode=mode)).hits
        assert hits and all(h.chunk.space_id == "a" for h in hits), mode
    for found in (
        await service.vectors.search(
            await service.embedder.embed_query("restart API"), SearchFilters("a"), 50
        ),
        await service.keywords.search("restart API", SearchFilters("a"), 50),
    ):
        assert found and {s.chunk.space_id for s in found} == {"a"}


async def test_update_failing_half_way_keeps_serving_then_repairs(tmp_path):
    folder = tmp_path / "kb"
    for i in range(6):
        _write(folder, f"doc{i}.md", f"# Topic {i}\n\nFact {i}: the old value of setting{i} is alpha{i}.\n")
    service = make_service()
    await service.ingest("kb", [str(folder)])
    for i in range(6):
        _write(folder, f"doc{i}.md", f"# Topic {i}\n\nFact {i}: the new value of setting{i} is beta{i}.\n")
    docs = [await service.pipeline.load(ref) for ref in _refs(folder)]

    with pytest.raises(IngestError):
        await service.pipeline.ingest_documents("kb", docs, fail_after=2)

    # every document still answers, each from exactly one version: old or new, never both or none
    for i in range(6):
        hits = (await service.search(f"value of setting{i}", "kb", top_k=10)).hits
        mine = [h for h in hits if h.chunk.doc_id.endswith(f"doc{i}.md")]
        assert mine, f"doc{i} vanished"
        assert len({h.chunk.version for h in mine}) == 1
    repaired = await service.ingest("kb", [str(folder)])
    assert repaired.ok
    for i in range(6):
        hits = (await service.search(f"value of setting{i}", "kb", top_k=10)).hits
        text = " ".join(h.chunk.text for h in hits if h.chunk.doc_id.endswith(f"doc{i}.md"))
        assert f"beta{i}" in text and f"alpha{i}" not in text


def _refs(folder):
    from core.ingest.sources import expand

    refs, failures = expand([str(folder)])
    assert not failures
    return refs


async def test_doc_type_override_and_filter(docs):
    service = make_service()
    await service.ingest("team", [str(docs / "restart.md")], doc_type="runbook")
    await service.ingest("team", [str(docs / "backup.md")], doc_type="policy")
    hits = (await service.search("restart backups", "team", doc_type="runbook", top_k=10)).hits
    assert hits and {h.chunk.doc_type for h in hits} == {"runbook"}


async def test_forced_reindex_rebuilds_lost_indexes(docs):
    service = make_service()
    await service.ingest("team", [str(docs)])
    chunks = await service.vectors.count("team")
    # the indexes are lost (restored from an older backup) while the database survives
    await service.vectors.drop_space("team")
    await service.keywords.drop_space("team")

    plain = await service.reindex("team")
    assert plain.chunks_written == 0 and await service.vectors.count("team") == 0

    forced = await service.reindex("team", force=True)
    assert forced.count(OutcomeStatus.UPDATED) == 3
    assert await service.vectors.count("team") == await service.keywords.count("team") == chunks
    hits = (await service.search("restart the API server", "team")).hits
    assert hits and hits[0].chunk.doc_id.endswith("restart.md")
