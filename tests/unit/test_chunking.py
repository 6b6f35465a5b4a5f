import hashlib
from pathlib import Path

from core.ingest.chunking import ChunkingConfig, chunk_document, split_sections
from core.models import Document
from core.text import estimate_tokens

DEMO = Path(__file__).resolve().parents[2] / "tests" / "data" / "docs"


def _doc(text: str, title: str = "Guide") -> Document:
    return Document(
        doc_id="d",
        source="/d.md",
        title=title,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def _paragraph(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}." if i % 12 == 11 else f"{word}{i}" for i in range(n))


def test_sections_carry_heading_paths():
    text = "# Title\nintro\n\n## Install\nsteps\n\n### On Linux\napt\n\n## Use\nrun it"
    sections = split_sections(text)
    assert [s.path for s in sections] == [
        ("Title",),
        ("Title", "Install"),
        ("Title", "Install", "On Linux"),
        ("Title", "Use"),
    ]


def test_heading_inside_code_fence_is_not_a_heading():
    text = "# Real\n\n```bash\n# not a heading\necho hi\n```\n"
    sections = split_sections(text)
    assert len(sections) == 1
    assert "# not a heading" in sections[0].blocks[1].text


def test_chunks_stay_within_limits_and_cover_the_text():
    cfg = ChunkingConfig(target_tokens=420, max_tokens=600, min_tokens=300, overlap_tokens=40)
    text = "\n\n".join(
        f"## Part {i}\n\n{_paragraph(120, f'p{i}w')}\n\n{_paragraph(90, f'q{i}w')}" for i in range(12)
    )
    chunks = chunk_document(_doc(text), "space", cfg)
    sizes = [c.n_tokens for c in chunks]
    assert max(sizes) <= 600
    assert all(s >= 300 for s in sizes[:-1]), sizes
    # every paragraph's first word survives somewhere
    joined = "\n".join(c.text for c in chunks)
    for i in range(12):
        assert f"p{i}w0" in joined and f"q{i}w0" in joined
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_oversized_paragraph_is_cut_with_overlap():
    cfg = ChunkingConfig(target_tokens=420, max_tokens=600, min_tokens=300, overlap_tokens=40)
    sentences = " ".join(f"Sentence number {i} says something about topic {i}." for i in range(200))
    chunks = chunk_document(_doc(sentences), "s", cfg)
    assert len(chunks) > 2
    assert all(c.n_tokens <= 600 for c in chunks)
    # each chunk after the first starts with the last sentence(s) of the one before (overlap)
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_sentence = after.text.split(". ")[0] + "."
        assert before.text.endswith(first_sentence) or f"{first_sentence} " in before.text


def test_short_sections_merge_until_min_tokens():
    cfg = ChunkingConfig(target_tokens=420, max_tokens=600, min_tokens=300, overlap_tokens=0)
    text = "\n\n".join(f"## Q{i}\n\n{_paragraph(40, f'a{i}w')}" for i in range(20))
    chunks = chunk_document(_doc(text), "s", cfg)
    assert len(chunks) < 20
    assert all(c.n_tokens >= 300 for c in chunks[:-1])
    assert chunks[0].heading_path == ("Q0",)


def test_chunk_keeps_document_identity():
    text = "# Admin guide\n\n" + _paragraph(50)
    doc = Document(
        doc_id="id-1",
        source="https://x/y",
        title="Admin",
        text=text,
        content_hash="abc123",
        lang="ru",
        doc_type="runbook",
    )
    (chunk,) = chunk_document(doc, "sp")
    assert (chunk.space_id, chunk.doc_id, chunk.version, chunk.source, chunk.doc_type, chunk.lang) == (
        "sp",
        "id-1",
        "abc123",
        "https://x/y",
        "runbook",
        "ru",
    )
    assert chunk.heading_path == ("Admin guide",)
    assert chunk.section == "Admin › Admin guide"
    assert chunk.n_tokens == estimate_tokens(chunk.text)


def test_the_embedded_passage_keeps_the_headings_and_leaves_out_the_document_title():
    text = "# Storage FAQ\n\n## How do I grow a volume?\n\n" + _paragraph(50)
    (chunk,) = chunk_document(_doc(text, title="Storage FAQ"), "sp")
    assert chunk.heading_path == ("Storage FAQ", "How do I grow a volume?")
    assert chunk.passage == f"How do I grow a volume?\n\n{chunk.text}"

    (untitled,) = chunk_document(_doc(_paragraph(50), title="Storage FAQ"), "sp")
    assert untitled.passage == untitled.text


def test_real_russian_document_chunks_sensibly():
    path = next(DEMO.rglob("*.ru.md"), None)
    assert path is not None, "fixture docs missing"
    text = path.read_text(encoding="utf-8")
    chunks = chunk_document(_doc(text, "RU"), "s")
    assert chunks
    assert all(c.n_tokens <= 600 for c in chunks)
