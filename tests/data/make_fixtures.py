"""Regenerates the binary and legacy-encoding fixtures under tests/data/docs/generated/.

Run from the repository root:  python tests/data/make_fixtures.py
The outputs are committed, so tests do not depend on this script; it documents how they were
made. PDFs start as a hand-written PDF (content streams with the standard Helvetica font, so
the text layer is real PDF text operators), then pypdf adds metadata, an outline (bookmarks)
and encryption. The DOCX is built with python-docx."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import docx
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from pypdf import PdfReader, PdfWriter

OUT = Path(__file__).parent / "docs" / "generated"

# Each page: (lines of (font size, x, y, text)); y counts from the bottom of a Letter page.
_BODY = [
    "Nightly backups of the ragbot database start at 02:00 UTC and are written to the",
    "object store bucket named ragbot-backups. Each backup keeps the catalogue, the answer",
    "log and the feedback tables; the vector index is rebuilt from documents instead.",
]
_SCHEDULE = [
    "Backups are kept for thirty days. The retention job deletes older archives every",
    "Sunday and reports the number of deleted archives to the on-call channel.",
]
_RESTORE = [
    "To restore, stop the bot, download the newest archive and load it with pg_restore",
    "into an empty database. Then start the bot and run ragbot ingest again so that both",
    "indexes match the restored catalogue. A restore of a large space takes about an hour.",
]


def _page_1() -> list[tuple[int, int, int, str]]:
    lines = [(18, 72, 720, "Operations Handbook"), (14, 72, 680, "1 Backups")]
    lines += [(11, 72, 656 - 14 * i, t) for i, t in enumerate(_BODY)]
    lines += [(11, 72, 600, "What a backup contains:")]
    lines += [
        (11, 84, 584 - 14 * i, "\u2022 " + t) for i, t in enumerate(["the catalogue", "the answer log"])
    ]
    lines += [(12, 72, 530, "1.1 Schedule")]
    lines += [(11, 72, 508 - 14 * i, t) for i, t in enumerate(_SCHEDULE)]
    lines += [(9, 280, 40, "Page 1 of 2")]
    return lines


def _page_2() -> list[tuple[int, int, int, str]]:
    lines = [(14, 72, 720, "2 Restores")]
    lines += [(11, 72, 696 - 14 * i, t) for i, t in enumerate(_RESTORE)]
    lines += [(9, 280, 40, "Page 2 of 2")]
    return lines


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _text_stream(lines: list[tuple[int, int, int, str]]) -> bytes:
    ops = [b"BT"]
    for size, x, y, text in lines:
        ops.append(b"/F1 %d Tf 1 0 0 1 %d %d Tm (" % (size, x, y) + _escape(text) + b") Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def _image_stream() -> bytes:
    # A scanned page: one 2x2 grey image painted over the page, no text operators at all.
    return b"q 468 0 0 648 72 72 cm /Im1 Do Q"


def hand_written_pdf(contents: list[bytes], *, with_image: bool = False) -> bytes:
    """A minimal PDF 1.4 file: catalog, page tree, one page per content stream, xref table."""
    objects: list[bytes] = []
    n_pages = len(contents)
    first_page = 4
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    image_obj = first_page + 2 * n_pages
    for i, stream in enumerate(contents):
        resources = b"/Font << /F1 3 0 R >>"
        if with_image:
            resources += b" /XObject << /Im1 %d 0 R >>" % image_obj
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << "
            + resources
            + b" >> /Contents %d 0 R >>" % (first_page + 2 * i + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    if with_image:
        pixels = bytes([40, 200, 200, 40])
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length 4 >>\nstream\n" + pixels + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _with_pypdf(base: bytes, *, outline: bool, user_password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(base)))
    writer.add_metadata({"/Title": "Operations Handbook", "/Author": "Platform team", "/Subject": "Backups"})
    if outline:
        backups = writer.add_outline_item(title="1 Backups", page_number=0)
        writer.add_outline_item(title="Schedule", page_number=0, parent=backups)
        writer.add_outline_item(title="2 Restores", page_number=1)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.title = "Регламент дежурств"
    props.author = "Platform team"
    props.keywords = "on-call, escalation"
    props.language = "ru-RU"
    document.add_heading("Регламент дежурств", level=0)
    document.add_paragraph(
        "Дежурный инженер отвечает на алерты в течение 15 минут и ведёт журнал инцидента в канале #incidents."
    )
    # Word keeps generated tables of contents and form fields in content controls (w:sdt)
    document.element.body.insert(len(document.element.body) - 1, _content_control("Содержание 1", toc=True))
    document.element.body.insert(len(document.element.body) - 1, _content_control("Смена длится неделю."))
    document.add_heading("Эскалация", level=1)
    for item in ("Позвонить второму дежурному", "Написать тимлиду", "Открыть инцидент в трекере"):
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("Restore steps", level=2)
    for step in ("Stop the bot", "Restore the database", "Run ragbot ingest"):
        document.add_paragraph(step, style="List Number")
    document.add_heading("Checks", level=2)
    for text, level in (("Check the dashboard", 0), ("Error rate", 1), ("Latency", 1), ("Check the logs", 0)):
        paragraph = document.add_paragraph(text, style="List Paragraph")
        _number(paragraph, num_id=6, level=level)  # numId 6 of the default template: decimal, level 0 only
    linked = document.add_paragraph("Runbooks live in ")
    linked._p.append(
        parse_xml(
            f'<w:hyperlink {nsdecls("w", "r")} r:id="rId1"><w:r><w:t>the wiki</w:t></w:r></w:hyperlink>'
        )
    )
    linked.add_run(".")
    tracked = document.add_paragraph("Rotation starts ")  # an unaccepted tracked change
    tracked._p.append(
        parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="Anna"><w:r><w:t>on Monday</w:t></w:r></w:ins>')
    )
    tracked._p.append(
        parse_xml(
            f'<w:del {nsdecls("w")} w:id="2" w:author="Anna"><w:r><w:delText>on Sunday</w:delText></w:r></w:del>'
        )
    )
    tracked.add_run(".")
    document.add_heading("Контакты", level=1)
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(
        table.rows,
        [
            ("Роль", "Имя", "Телефон"),
            ("Дежурный", "Анна", "+7 900 000-00-01"),
            ("Тимлид", "Борис", "+7 900 000-00-02"),
        ],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Last reviewed in March.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _content_control(text: str, *, toc: bool = False):  # noqa: ANN202 - an lxml element
    properties = (
        '<w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/></w:docPartObj></w:sdtPr>'
        if toc
        else ""
    )
    return parse_xml(
        f"<w:sdt {nsdecls('w')}>{properties}<w:sdtContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        "</w:sdtContent></w:sdt>"
    )


def _number(paragraph, *, num_id: int, level: int) -> None:  # noqa: ANN001 - a docx Paragraph
    numbering = parse_xml(
        f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>'
    )
    paragraph._p.get_or_add_pPr().append(numbering)


def make_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


CP1251_TEXT = """Памятка дежурному

Если бот перестал отвечать в Slack, проверьте журнал контейнера ragbot и состояние LLM-сервера.
Перезапуск выполняется командой docker compose restart ragbot. После перезапуска бот заново
подключается к Qdrant и к базе данных; индексы при этом не теряются.
"""

LATIN1_TEXT = """Notes de déploiement

Le serveur redémarre chaque nuit. Vérifiez que la sauvegarde a réussi avant la mise à jour.
Größere Änderungen werden am Donnerstag ausgerollt.
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    handbook = hand_written_pdf([_text_stream(_page_1()), _text_stream(_page_2())])
    (OUT / "handbook.pdf").write_bytes(_with_pypdf(handbook, outline=True))
    (OUT / "handbook-owner-locked.pdf").write_bytes(_with_pypdf(handbook, outline=False, user_password=""))
    (OUT / "handbook-password.pdf").write_bytes(_with_pypdf(handbook, outline=False, user_password="s3cret"))
    (OUT / "scanned.pdf").write_bytes(hand_written_pdf([_image_stream()], with_image=True))
    (OUT / "on-call.docx").write_bytes(make_docx())
    (OUT / "памятка-cp1251.txt").write_bytes(CP1251_TEXT.encode("cp1251"))
    (OUT / "notes-latin1.txt").write_bytes(LATIN1_TEXT.encode("latin-1"))
    (OUT / "diagram.png").write_bytes(make_png())
    (OUT / "setup.exe").write_bytes(b"MZ" + b"\x90\x00" * 31)  # a DOS header stub: enough to be "an .exe"
    (OUT / "empty.md").write_bytes(b"")


if __name__ == "__main__":
    main()
