"""Cutting a chunk into the parts compression chooses from: sentences, items, rows, whole code
blocks, each under the headings it really sits under."""

from pathlib import Path

from core.answer.parts import split_parts, split_sentences
from core.ingest.chunking import chunk_document
from core.models import Chunk, Document

SPEC = Path(__file__).resolve().parents[1] / "data" / "spec" / "infra-recommendations.ru.md"


def make_chunk(text: str, path: tuple[str, ...] = ("Guide",), title: str = "Guide") -> Chunk:
    return Chunk("s", "doc", "v1", 0, title, path, text, "doc.md", n_tokens=len(text.split()))


def test_sentences_items_rows_and_code_blocks_are_parts():
    chunk = make_chunk(
        "# Guide\n\n"
        "The module stores volumes. It needs LVM on every node.\n\n"
        "There are two modes:\n"
        "- Thick: fast.\n"
        "  Suits databases.\n"
        "- Thin: snapshots.\n\n"
        "| mode | speed |\n|---|---|\n| thick | fast |\n| thin | slower |\n\n"
        "Enable it like this:\n\n"
        "```yaml\nkind: ModuleConfig\n\nspec:\n  enabled: true\n```\n"
    )
    parts = split_parts(chunk)
    kinds = [(p.kind, p.text.splitlines()[0]) for p in parts]
    assert kinds == [
        ("sentence", "The module stores volumes."),
        ("sentence", "It needs LVM on every node."),
        ("sentence", "There are two modes:"),
        ("item", "- Thick: fast."),
        ("item", "- Thin: snapshots."),
        ("table_head", "| mode | speed |"),
        ("row", "| thick | fast |"),
        ("row", "| thin | slower |"),
        ("sentence", "Enable it like this:"),
        ("code", "```yaml"),
    ]
    by_first = {p.text.splitlines()[0]: p for p in parts}
    assert "Suits databases." in by_first["- Thick: fast."].text  # continuation lines stay with their item
    assert by_first["```yaml"].text.endswith("```") and "enabled: true" in by_first["```yaml"].text
    # what each part needs to be read: the announcement of a list or code block, a row's header
    assert by_first["- Thick: fast."].needs == (by_first["There are two modes:"].index,)
    assert by_first["| thin | slower |"].needs == (by_first["| mode | speed |"].index,)
    assert by_first["```yaml"].needs == (by_first["Enable it like this:"].index,)


def test_a_step_keeps_its_indented_command_and_a_nested_item_needs_its_parent():
    chunk = make_chunk(
        "Do the following:\n\n"
        "1. Stop DVCR:\n\n   ```shell\n   d8 k scale deployment dvcr --replicas=0\n   ```\n\n"
        "1. Delete the PVC.\n"
        "- Resources:\n  - RAM: 64 GB.\n  - Disk: 200 GB.\n"
    )
    parts = split_parts(chunk)
    step = next(p for p in parts if p.text.startswith("1. Stop DVCR"))
    assert "--replicas=0" in step.text and step.text.rstrip().endswith("```")
    ram = next(p for p in parts if "RAM" in p.text)
    parent = next(p for p in parts if p.text.startswith("- Resources"))
    assert ram.needs == (parent.index,) and ram.indent == 2


def test_each_part_knows_the_heading_it_sits_under_not_only_the_chunks_first():
    """The spec file's last chunk starts at 'Классификация (doc_type)' and runs on through three
    more sections; the LLM_TIMEOUT line sits under 'Наблюдаемость и надёжность'."""
    doc = Document(
        "spec", "spec.md", "Рекомендации по инфраструктуре и производительности", SPEC.read_text(), "h"
    )
    chunk = next(c for c in chunk_document(doc, "s") if "LLM_TIMEOUT" in c.text)
    assert chunk.heading_path[-1] == "Классификация (doc_type)"
    timeout = next(p for p in split_parts(chunk) if "LLM_TIMEOUT" in p.text)
    assert timeout.path[-2:] == ("Практики оптимизации", "Наблюдаемость и надёжность")
    assert chunk.section_at(timeout.path).endswith("Практики оптимизации › Наблюдаемость и надёжность")
    ram = next(p for p in split_parts(chunk) if "Сколько RAM" in p.text)
    assert "64 GB" in ram.text  # the question line and its answer line are one item
    assert ram.path[-1] == "Быстрые ответы на типовые вопросы"


def test_a_chunk_that_starts_inside_a_code_block_keeps_that_code_together():
    chunk = make_chunk(
        "      <Order>1</Order>\n    </Disk>\n```\n\nCreate the secret:\n\n```bash\nd8 k create secret\n```\n"
    )
    parts = split_parts(chunk)
    assert [p.kind for p in parts] == ["code", "sentence", "code"]
    assert parts[0].text.startswith("```") and "<Order>1</Order>" in parts[0].text
    assert parts[2].needs == (1,)


def test_sentences_split_at_ends_not_at_abbreviations():
    assert split_sentences("Use LVM, e.g. thick volumes. Then enable it! Готово? Да.") == [
        "Use LVM, e.g. thick volumes.",
        "Then enable it!",
        "Готово?",
        "Да.",
    ]
