"""A Word (.docx) document -> Markdown: heading styles become '#' levels, numbered and bulleted
paragraphs become list lines, tables become pipe tables. Headers, footers and comments are
page furniture and stay out."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as WordDocument
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from core.errors import UnreadableDocument
from core.ingest.formats import Parsed

__all__ = ["parse_docx"]

log = logging.getLogger(__name__)

# A .docx is a ZIP; refuse packages that unpack to more than this (a "zip bomb" is tiny packed).
_MAX_UNPACKED = 256 * 1024 * 1024
_HEADING_STYLE = re.compile(r"^(?:heading|заголовок)\s*(\d)$", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def parse_docx(content: bytes, *, name: str) -> Parsed:
    _check_package(content, name)
    try:
        document = docx.Document(io.BytesIO(content))
        metadata = _metadata(document)
        lines = _Body(document).render()
    except Exception as e:  # noqa: BLE001 - python-docx/lxml raise assorted errors on bad packages
        log.debug("docx parse failed name=%s error=%r", name, e)
        raise UnreadableDocument(f"{name} is damaged and cannot be read as a Word document.") from e
    title = metadata.pop("title", None)
    if not title:
        title = next((ln[2:] for ln in lines if ln.startswith("# ")), None)
    return Parsed(title, "\n\n".join(lines), metadata)


def _check_package(content: bytes, name: str) -> None:
    if content.startswith(_OLE_MAGIC):
        raise UnreadableDocument(
            f"{name} is either password-protected or an old Word 97-2003 file renamed to .docx; "
            "save it as .docx without a password."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            members = package.infolist()
            if "word/document.xml" not in {m.filename for m in members}:
                raise UnreadableDocument(
                    f"{name} is a ZIP package but not a Word document (no word/document.xml)."
                )
            if sum(m.file_size for m in members) > _MAX_UNPACKED:
                raise UnreadableDocument(f"{name} unpacks to more than 256 MB; it is not a normal document.")
    except zipfile.BadZipFile as e:
        raise UnreadableDocument(
            f"{name} is damaged or not a .docx file (it is not a valid ZIP package)."
        ) from e


def _metadata(document: WordDocument) -> dict[str, str]:
    props = document.core_properties
    out = {}
    for key, value in (
        ("title", props.title),
        ("author", props.author),
        ("description", props.subject),
        ("tags", props.keywords),
        ("category", props.category),
        ("lang", props.language),
    ):
        if value and value.strip():
            out[key] = " ".join(value.split())
    return out


class _Body:
    """Renders the body in order, keeping list numbering counters per list and level."""

    def __init__(self, document: WordDocument) -> None:
        self.document = document
        self.counters: dict[tuple[str, int], int] = {}
        self.formats: dict[tuple[str, int], str] = {}
        self.numbering = _numbering(document)

    def render(self) -> list[str]:
        out: list[str] = []
        for item in _body_items(self.document.element.body, self.document._body):
            if isinstance(item, Paragraph):
                line = self.paragraph(item)
            else:
                line = _table(item)
            if line:
                # Consecutive list items form one block so the chunker keeps the list together.
                if out and _is_item(line) and _is_item(out[-1].split("\n")[-1]):
                    out[-1] += "\n" + line
                else:
                    out.append(line)
        return out

    def paragraph(self, paragraph: Paragraph) -> str:
        text = _paragraph_text(paragraph)
        if not text:
            return ""
        style = paragraph.style.name if paragraph.style is not None else ""
        level = _heading_level(paragraph, style)
        if level:
            return "#" * level + " " + text.replace("\n", " ")
        num = self.list_level(paragraph, style)
        if num is not None:
            num_id, ilvl, ordered = num
            if ordered:
                key = (num_id, ilvl)
                self.counters[key] = self.counters.get(key, 0) + 1
                for deeper in [k for k in self.counters if k[0] == num_id and k[1] > ilvl]:
                    del self.counters[deeper]  # a new parent item restarts its sub-list
                marker = f"{self.counters[key]}. "
            else:
                marker = "- "
            return "   " * ilvl + marker + text.replace("\n", " ")
        return text

    def list_level(self, paragraph: Paragraph, style: str) -> tuple[str, int, bool] | None:
        for ppr in (paragraph._p.pPr, _style_ppr(paragraph)):  # the paragraph's own, then its style's
            num_pr = ppr.numPr if ppr is not None else None
            if num_pr is not None and num_pr.numId is not None:
                if num_pr.numId.val == 0:
                    return None  # numbering explicitly switched off
                num_id = str(num_pr.numId.val)
                ilvl = num_pr.ilvl.val if num_pr.ilvl is not None else 0
                return num_id, ilvl, self.number_format(num_id, ilvl) != "bullet"
        match = re.match(r"^List (Bullet|Number)(?: (\d))?$", style)
        if match:
            ilvl = int(match.group(2) or 1) - 1
            return f"style:{match.group(1)}", ilvl, match.group(1) == "Number"
        return None

    def number_format(self, num_id: str, ilvl: int) -> str:
        key = (num_id, ilvl)
        if key not in self.formats:
            self.formats[key] = "bullet"
            if self.numbering is not None:
                found = self.numbering.xpath(
                    f'w:abstractNum[@w:abstractNumId=//w:num[@w:numId="{num_id}"]/w:abstractNumId/@w:val]'
                    f'/w:lvl[@w:ilvl="{ilvl}"]/w:numFmt/@w:val'
                )
                if found:
                    self.formats[key] = str(found[0])
        return self.formats[key]


def _body_items(container, parent) -> Iterator[Paragraph | Table]:  # noqa: ANN001 - lxml element, docx parent
    """Paragraphs and tables in document order, including those inside content controls
    (``w:sdt``, common in corporate templates), but not a generated table of contents."""
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, parent)
        elif child.tag == qn("w:tbl"):
            yield Table(child, parent)
        elif child.tag == qn("w:sdt"):
            gallery = child.find(f"{qn('w:sdtPr')}/{qn('w:docPartObj')}/{qn('w:docPartGallery')}")
            is_toc = gallery is not None and "contents" in (gallery.get(qn("w:val")) or "").lower()
            content = child.find(qn("w:sdtContent"))
            if content is not None and not is_toc:
                yield from _body_items(content, parent)


def _numbering(document: WordDocument):  # noqa: ANN202 - the numbering part's lxml root, or None
    try:
        return document.part.part_related_by(RT.NUMBERING).element
    except KeyError:
        return None


_TEXT, _TAB, _BR, _CR = qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")


def _paragraph_text(paragraph: Paragraph) -> str:
    """All text runs of the paragraph, also those python-docx's ``Paragraph.text`` skips: tracked
    insertions (w:ins), smart tags, inline content controls. Deleted text (w:delText) and field
    codes (w:instrText) are not w:t, so they stay out."""
    parts = []
    for element in paragraph._p.iter(_TEXT, _TAB, _BR, _CR):
        if element.tag == _TEXT:
            parts.append(element.text or "")
        else:
            parts.append(" " if element.tag == _TAB else "\n")
    return "\n".join(" ".join(ln.split()) for ln in "".join(parts).split("\n")).strip()


def _heading_level(paragraph: Paragraph, style: str) -> int:
    if style == "Title":
        return 1
    match = _HEADING_STYLE.match(style.strip())
    if match:
        return min(max(int(match.group(1)), 1), 6)
    # Custom heading styles carry an outline level (0-based) on the paragraph or its style.
    for ppr in (paragraph._p.pPr, _style_ppr(paragraph)):
        if ppr is not None:
            outline = ppr.find(qn("w:outlineLvl"))
            if outline is not None:
                level = int(outline.get(qn("w:val"), "9"))
                if level < 9:
                    return min(level + 1, 6)
    return 0


def _style_ppr(paragraph: Paragraph):  # noqa: ANN202 - an lxml element or None
    style = paragraph.style
    return style.element.pPr if style is not None else None


def _is_item(line: str) -> bool:
    return bool(re.match(r"^\s*(?:- |\d+\. )", line))


def _table(table: Table) -> str:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[object] = []
        for cell in row.cells:
            if any(cell._tc is tc for tc in seen):
                continue  # a horizontally merged cell is returned once per grid column
            seen.append(cell._tc)
            text = " ".join(" ".join(_paragraph_text(p).split()) for p in cell.paragraphs)
            cells.append(text.replace("|", "\\|"))
        if any(cells):
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    if width == 1:
        return "\n\n".join(r[0] for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines.extend("| " + " | ".join(r) + " |" for r in rows[1:])
    return "\n".join(lines)
