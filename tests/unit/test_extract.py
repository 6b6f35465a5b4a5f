"""core.ingest.extract over real documents: Deckhouse and AWS Markdown as published, a noisy
HTML page, PDFs and a DOCX made by tests/data/make_fixtures.py, legacy encodings, broken files."""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path

import pytest

from core.errors import EmptyDocument, UnreadableDocument, UnsupportedType
from core.ingest.extract import Extracted, extract

DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"
GENERATED = DOCS / "generated"
DECKHOUSE = DOCS / "deckhouse"
AWS = DOCS / "aws"


def load(path: Path, media_type: str | None = None) -> Extracted:
    return extract(path.read_bytes(), name=path.name, media_type=media_type)


def md(text: str, name: str = "page.md") -> Extracted:
    return extract(text.encode(), name=name)


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"^(`{3,}).*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)


def lines(text: str) -> list[str]:
    return text.split("\n")


# -- invariants over every real Markdown page ---------------------------------------------------

REAL_MARKDOWN = sorted(p for p in DOCS.rglob("*.md") if "generated" not in p.parts and p.name != "CR.md")


@pytest.mark.parametrize("path", REAL_MARKDOWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_markdown_comes_out_clean(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    doc = load(path)
    outside_code = prose(doc.text)
    assert "{{<" not in outside_code and "{{%" not in outside_code and "{%" not in outside_code
    assert not re.search(r"</?(a|span|ul|li|br|div)\b", outside_code), "HTML tags left in prose"
    assert not re.search(r"\]\([^)]*\)", outside_code), "Markdown link targets left in prose"
    assert not outside_code.lstrip().startswith("---"), "front matter left"
    assert "\n\n\n" not in doc.text
    assert all(ln == ln.rstrip() for ln in lines(doc.text)), "trailing spaces"
    # every fenced block of the source survives, fences balanced
    assert len(re.findall(r"^```", doc.text, re.MULTILINE)) % 2 == 0
    assert len(re.findall(r"^\s*```", doc.text, re.MULTILINE)) == len(
        re.findall(r"^\s*```", raw, re.MULTILINE)
    )


# -- Deckhouse: front matter, Hugo shortcodes, relative links ----------------------------------


def test_deckhouse_front_matter_becomes_title_and_metadata() -> None:
    doc = load(DECKHOUSE / "sds-local-volume" / "FAQ.md")
    assert doc.title == "The sds-local-volume module: FAQ"
    assert doc.metadata["description"] == "The sds-local-volume module FAQ"
    assert doc.metadata["weight"] == "6"
    assert "title:" not in doc.text and "weight:" not in doc.text
    assert lines(doc.text)[0] == "## When to use LVM and when to use LVM-thin?"


def test_deckhouse_alert_shortcode_goes_and_its_text_stays() -> None:
    text = load(DECKHOUSE / "sds-local-volume" / "FAQ.md").text
    assert "level=" not in text and "{{" not in text
    assert (
        "Use LVM-thin if you need to use overprovisioning. LVM-thin performance is lower than LVM.\n\n"
        "Use overprovisioning in LVM-thin with caution." in text
    )
    assert "If there is no free space in the pool, module degradation and data loss may occur." in text


def test_deckhouse_links_keep_their_text_only() -> None:
    text = load(DECKHOUSE / "sds-local-volume" / "FAQ.md").text
    assert (
        "The node likely has LVMVolumeGroup resources that are used in LocalStorageClass resources." in text
    )
    assert "cr.html" not in text and "/modules/sds-node-configurator" not in text


def test_deckhouse_code_blocks_stay_fenced_with_their_placeholders() -> None:
    text = load(DECKHOUSE / "sds-local-volume" / "FAQ.md").text
    # the fence was indented inside a numbered list item; it now starts its line
    assert "```shell\nd8 k get node <node-name> --show-labels\n```" in text
    assert "```console\nnodeSelector:\n  my-custom-label-key: my-custom-label-value\n```" in text


def test_deckhouse_russian_page() -> None:
    doc = load(DECKHOUSE / "sds-local-volume" / "README.ru.md")
    assert doc.title == "Модуль sds-local-volume"
    assert "## Как работает модуль" in lines(doc.text)
    assert "Доступные режимы работы для модуля: RWO." in doc.text
    assert "- **Быстрый старт** — пример настройки модуля" in doc.text  # a list of links, links gone


def test_html_lists_inside_a_table_row_stay_on_the_row() -> None:
    doc = load(DECKHOUSE / "sds-node-configurator" / "LAYOUTS.md")
    row = next(ln for ln in lines(doc.text) if ln.startswith('| "Full mirror"'))
    assert row.startswith(
        '| "Full mirror" | Disks are not divided into partitions, mirror is made from entire disks; '
        "One Volume Group is used for root system and for data | Reliable; Simple to configure and use;"
    )
    assert row.endswith("|")
    # the image keeps its alt text, loses its file
    assert "Differences depending on selected configuration scenario" in lines(doc.text)
    assert "scenaries.png" not in doc.text


def test_front_matter_only_page_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="CR.md"):
        load(DECKHOUSE / "sds-local-volume" / "CR.md")


# -- AWS: anchors, escapes, + bullets, Note boxes, missing images --------------------------------


def test_aws_page_anchors_escapes_and_bullets() -> None:
    doc = load(AWS / "elb-application-load-balancers-user-guide" / "create-listener.md")
    assert doc.title == "Create an HTTP listener for your Application Load Balancer"
    assert lines(doc.text)[0] == "# Create an HTTP listener for your Application Load Balancer"
    assert "## Prerequisites" in lines(doc.text)
    assert "<a" not in doc.text and "\\" not in doc.text
    assert (
        "- To add a forward action to the default listener rule, you must specify an available target group."
        in (doc.text)
    )
    assert "   - Choose **Add action**, **Forward to** and choose a target group." in lines(doc.text)
    # an absolute link whose text is the URL keeps it as text
    assert "1. Open the Amazon EC2 console at https://console.aws.amazon.com/ec2/." in lines(doc.text)
    assert "create-target-group.md" not in doc.text


def test_aws_note_box_joins_its_text() -> None:
    text = load(AWS / "aws-lambda-developer-guide" / "with-kinesis-create-package.md").text
    assert "**Note:** The code on this page does not support aggregated records." in text


def test_aws_missing_images_leave_nothing() -> None:
    text = load(AWS / "aws-lambda-developer-guide" / "code-editor.md").text
    assert "Image NOT FOUND" not in text and ".png" not in text and "![" not in text


def test_aws_table_rows_survive() -> None:
    text = load(AWS / "aws-lambda-developer-guide" / "runtime-support-policy.md").text
    assert (
        "| Name | Identifier | Operating system | Deprecation completed date |\n| --- | --- | --- | --- |"
        in text
    )
    assert "| .NET Core 1.0 | `dotnetcore1.0` | Amazon Linux | July 30, 2019 |" in lines(text)


# -- Markdown rules, one at a time ---------------------------------------------------------------


def test_template_tags_comments_and_inline_html() -> None:
    doc = md(
        "---\ntitle: Deploy\ntags: [ops, deploy]\ndraft: false\nlang: ru-RU\n---\n"
        "{% raw %}Run <span class='x'>the job</span>{% endraw %} now.<!-- hidden -->\n\n"
        "{{% notice tip %}}Use <b>dry-run</b> first.{{% /notice %}}\n\n"
        "<details><summary>More</summary>Extra &amp; detail</details>\n\n"
        "<script>alert('x')</script>Pick a <vg> name.\n"
    )
    assert doc.title == "Deploy"
    assert dict(doc.metadata) == {"title": "Deploy", "tags": "ops, deploy", "draft": "false", "lang": "ru"}
    assert doc.text == "Run the job now.\n\nUse dry-run first.\n\nMore\n\nExtra & detail\n\nPick a <vg> name."


def test_code_spans_and_blocks_are_never_cleaned() -> None:
    text = md(
        "Set `{{ .Values.image }}` and `[x](y)` here.\n\n"
        "~~~yaml\nimage: {{ .Values.image }}\n<!-- kept -->\n~~~\n"
    ).text
    assert text == (
        "Set `{{ .Values.image }}` and `[x](y)` here.\n\n```yaml\nimage: {{ .Values.image }}\n<!-- kept -->\n```"
    )


def test_setext_headings_bullets_rules_and_reference_links() -> None:
    text = md(
        "Guide\n=====\n\nIntro with [a link][ref] and <https://example.org/x>.\n\n"
        "Part\n----\n\n* one\n+ two\n\n***\n\n[ref]: https://example.org/ref\n"
    ).text
    assert text == "# Guide\n\nIntro with a link and https://example.org/x.\n\n## Part\n\n- one\n- two"


def test_headings_left_empty_by_clean_up_go() -> None:
    assert md("## {{< include-header >}}\n\nText.\n\n### <a name='x'></a>\n\nMore.").text == "Text.\n\nMore."


def test_first_h1_is_the_title_without_front_matter() -> None:
    doc = md("Some intro.\n\n# The `ragbot` guide #\n\nText.")
    assert doc.title == "The ragbot guide"
    assert "# The `ragbot` guide" in lines(doc.text)


def test_mdx_imports_and_components() -> None:
    doc = md(
        "import Tabs from '@theme/Tabs';\n\n# Install\n\n<Tabs>\n<TabItem value=\"apt\">\nRun apt.\n</TabItem>\n</Tabs>\n",
        name="install.mdx",
    )
    assert doc.text == "# Install\n\nRun apt."


@pytest.mark.parametrize(
    ("source", "metadata"),
    [
        ("---\n---\nBody.", {}),
        ('+++\ntitle = "Hugo"\ndate = 2024-05-01\n+++\nBody.', {"title": "Hugo", "date": "2024-05-01"}),
        (
            "---\ntitle: Jekyll\nlayout: post\nparams: {a: 1}\n...\nBody.",
            {"title": "Jekyll", "layout": "post"},
        ),
    ],
    ids=["empty-yaml", "toml", "yaml-dots"],
)
def test_front_matter_variants(source: str, metadata: dict[str, str]) -> None:
    doc = md(source)
    assert doc.text == "Body." and dict(doc.metadata) == metadata


def test_broken_front_matter_is_left_as_text() -> None:
    doc = md("---\nnot: [closed\n---\nBody.")
    assert "Body." in doc.text and doc.metadata == {}


# -- plain text and encodings ------------------------------------------------------------------


def test_cp1251_russian_text() -> None:
    doc = load(GENERATED / "памятка-cp1251.txt")
    assert doc.title is None
    assert lines(doc.text)[0] == "Памятка дежурному"
    assert "Перезапуск выполняется командой docker compose restart ragbot." in doc.text


def test_latin1_text_is_not_mistaken_for_cp1251() -> None:
    text = load(GENERATED / "notes-latin1.txt").text
    assert "Le serveur redémarre chaque nuit." in text and "Größere Änderungen" in text


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf# Title\n\nBody \xd1\x82\xd0\xb5\xd0\xba\xd1\x81\xd1\x82.",
        "# Title\n\nBody текст.".encode("utf-16"),
    ],
    ids=["utf-8-bom", "utf-16-bom"],
)
def test_byte_order_marks(raw: bytes) -> None:
    doc = extract(raw, name="bom.md")
    assert doc.title == "Title"
    assert doc.text == "# Title\n\nBody текст."


def test_rst_is_read_as_plain_text() -> None:
    doc = extract(b"Title\n=====\n\nSome *text*.\n", name="notes.rst")
    assert doc.text == "Title\n=====\n\nSome *text*."


@pytest.mark.parametrize("with_nul", [True, False])
def test_binary_garbage_in_a_text_file(with_nul: bool) -> None:
    rng = random.Random(7)
    garbage = bytes(rng.randrange(0 if with_nul else 1, 256) for _ in range(4096))
    with pytest.raises(UnreadableDocument, match="binary"):
        extract(garbage, name="notes.txt")


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_files(content: bytes) -> None:
    with pytest.raises(EmptyDocument, match="notes.txt is empty"):
        extract(content, name="notes.txt")


def test_committed_empty_markdown_file() -> None:
    with pytest.raises(EmptyDocument, match="empty.md"):
        load(GENERATED / "empty.md")


def test_markup_only_markdown_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="no text left"):
        md("---\ntitle: x\n---\n{{< alert >}}\n<!-- nothing -->\n{{< /alert >}}\n")


# -- HTML ---------------------------------------------------------------------------------------


def test_html_page_without_its_chrome() -> None:
    doc = load(DOCS / "web" / "runbook.html")
    assert doc.title == "Restarting the bot"
    assert dict(doc.metadata) == {
        "lang": "en",
        "description": "How to restart ragbot safely.",
        "tags": "ragbot, restart, runbook",
        "canonical_url": "https://wiki.example.org/runbooks/restart",
    }
    assert doc.text == (
        "# Restarting the bot\n\n"
        "Restart ragbot when it stops answering in Slack or Telegram. A restart takes about 30 seconds; "
        "answers in progress are lost.\n\n"
        "## Before you restart\n\n"
        "1. Check the ragbot dashboard for errors.\n"
        "2. Tell the team in `#ops`:\n"
        "   - what you restart,\n"
        "   - and why.\n\n"
        "## Restart\n\n"
        "Run the command on the host:\n\n"
        "```shell\ndocker compose restart ragbot\ndocker compose logs --tail=50 ragbot\n```\n\n"
        "| Symptom | Action |\n| --- | --- |\n| No answers | Restart the bot |\n"
        "| Slow answers | Check the LLM server \\| GPU load |\n\n"
        "Questions? Ask in #ops.\nOn-call phone: 555-0100."
    )


@pytest.mark.parametrize(
    "noise",
    ["Skip to content", "cookies", "Runbooks", "Search the wiki", "In this section", "Home", "Share on Twitter",
     "Privacy policy", "analytics", "font-family", "Internal note", "TODO"],
)  # fmt: skip
def test_html_noise_is_gone(noise: str) -> None:
    assert noise not in load(DOCS / "web" / "runbook.html").text


def test_html_declared_charset() -> None:
    page = (
        '<html><head><meta charset="windows-1251"><title>Памятка</title></head><body><p>Перезапуск бота.</p>'
    )
    doc = extract(page.encode("cp1251"), name="memo.htm")
    assert doc.title == "Памятка"
    assert doc.text == "Перезапуск бота."


def test_charset_from_the_media_type() -> None:
    text = "Перезапуск бота.".encode("koi8-r")
    assert extract(text, name="memo.txt", media_type="text/plain; charset=KOI8-R").text == "Перезапуск бота."
    page = '<meta charset="utf-8"><p>Перезапуск бота.</p>'.encode(
        "cp1251"
    )  # the header is right, the page wrong
    assert (
        extract(page, name="memo.html", media_type="text/html; charset=windows-1251").text
        == "Перезапуск бота."
    )


def test_html_without_main_drops_page_header_and_footer() -> None:
    page = (
        "<body><header><h1>Company intranet</h1><a href='/'>Home</a></header>"
        "<h2>Holidays</h2><p>The office is closed on <i>May 1</i>.</p><footer>Contact HR</footer></body>"
    )
    doc = extract(page.encode(), name="holidays.html")
    assert doc.text == "## Holidays\n\nThe office is closed on May 1."


def test_html_deep_nesting_does_not_crash() -> None:
    page = "<div>" * 3000 + "deep text" + "</div>" * 3000
    assert extract(page.encode(), name="deep.html").text == "deep text"


# -- PDF ----------------------------------------------------------------------------------------

HANDBOOK_TEXT = (
    "Operations Handbook\n\n"
    "# 1 Backups\n\n"
    "Nightly backups of the ragbot database start at 02:00 UTC and are written to the object store "
    "bucket named ragbot-backups. Each backup keeps the catalogue, the answer log and the feedback tables; "
    "the vector index is rebuilt from documents instead. What a backup contains:\n\n"
    "- the catalogue\n- the answer log\n\n"
    "## 1.1 Schedule\n\n"
    "Backups are kept for thirty days. The retention job deletes older archives every Sunday and reports "
    "the number of deleted archives to the on-call channel.\n\n"
    "# 2 Restores\n\n"
    "To restore, stop the bot, download the newest archive and load it with pg_restore into an empty "
    "database. Then start the bot and run ragbot ingest again so that both indexes match the restored "
    "catalogue. A restore of a large space takes about an hour."
)


def test_pdf_text_layer_with_outline_headings() -> None:
    doc = load(GENERATED / "handbook.pdf")
    assert doc.title == "Operations Handbook"
    assert dict(doc.metadata) == {"author": "Platform team", "description": "Backups"}
    assert doc.text == HANDBOOK_TEXT  # wrapped lines joined, "Page N of 2" footers dropped


def test_pdf_with_only_an_owner_password_opens() -> None:
    doc = load(GENERATED / "handbook-owner-locked.pdf")
    assert "Backups are kept for thirty days." in doc.text
    assert "# 1 Backups" not in doc.text  # this copy has no outline: no headings to mark


def test_pdf_with_a_user_password_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument, match="password-protected"):
        load(GENERATED / "handbook-password.pdf")


def test_scanned_pdf_has_no_text_layer() -> None:
    with pytest.raises(EmptyDocument, match="no text layer"):
        load(GENERATED / "scanned.pdf")


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9])
def test_truncated_pdf(keep: float) -> None:
    content = (GENERATED / "handbook.pdf").read_bytes()
    with pytest.raises(UnreadableDocument, match="incomplete"):
        extract(content[: int(len(content) * keep)], name="handbook.pdf")


def test_pdf_with_a_damaged_body() -> None:
    content = bytearray((GENERATED / "handbook.pdf").read_bytes())
    start = content.index(b"obj") + 3
    content[start : start + 600] = b"\x00" * 600  # the ending is intact, the objects are not
    with pytest.raises(UnreadableDocument, match="damaged"):
        extract(bytes(content), name="handbook.pdf")


def test_not_a_pdf_at_all() -> None:
    with pytest.raises(UnreadableDocument, match="not a PDF"):
        extract(b"<html>an error page saved as a PDF</html>", name="report.pdf")


# -- DOCX ---------------------------------------------------------------------------------------


def test_docx_headings_lists_and_table() -> None:
    doc = load(GENERATED / "on-call.docx")
    assert doc.title == "Регламент дежурств"
    assert dict(doc.metadata) == {"author": "Platform team", "tags": "on-call, escalation", "lang": "ru"}
    assert doc.text == (
        "# Регламент дежурств\n\n"
        "Дежурный инженер отвечает на алерты в течение 15 минут и ведёт журнал инцидента в канале #incidents.\n\n"
        "Смена длится неделю.\n\n"  # from a content control; the table of contents control is left out
        "# Эскалация\n\n"
        "- Позвонить второму дежурному\n- Написать тимлиду\n- Открыть инцидент в трекере\n\n"
        "## Restore steps\n\n"
        "1. Stop the bot\n2. Restore the database\n3. Run ragbot ingest\n\n"
        "## Checks\n\n"
        "1. Check the dashboard\n   - Error rate\n   - Latency\n2. Check the logs\n\n"
        "Runbooks live in the wiki.\n\n"
        "Rotation starts on Monday.\n\n"  # a tracked insertion counts, a tracked deletion does not
        "# Контакты\n\n"
        "| Роль | Имя | Телефон |\n| --- | --- | --- |\n"
        "| Дежурный | Анна | +7 900 000-00-01 |\n| Тимлид | Борис | +7 900 000-00-02 |\n\n"
        "Last reviewed in March."
    )


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_truncated_docx(keep: float) -> None:
    content = (GENERATED / "on-call.docx").read_bytes()
    with pytest.raises(UnreadableDocument, match="damaged or not a .docx"):
        extract(content[: int(len(content) * keep)], name="on-call.docx")


def test_zip_that_is_not_a_word_document() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as package:
        package.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(UnreadableDocument, match="not a Word document"):
        extract(buf.getvalue(), name="budget.docx")


def test_docx_with_broken_xml_inside() -> None:
    good = zipfile.ZipFile(GENERATED / "on-call.docx")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as package:
        for item in good.infolist():
            data = good.read(item)
            package.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    with pytest.raises(UnreadableDocument, match="damaged"):
        extract(buf.getvalue(), name="on-call.docx")


def test_encrypted_or_legacy_word_file() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    with pytest.raises(UnreadableDocument, match="password-protected or an old Word"):
        extract(ole, name="contract.docx")


# -- choosing the format ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["setup.exe", "diagram.png"])
def test_unsupported_files_name_the_supported_types(name: str) -> None:
    with pytest.raises(UnsupportedType) as raised:
        load(GENERATED / name)
    message = raised.value.message
    assert name in message
    for ext in (".md", ".txt", ".html", ".pdf", ".docx"):
        assert ext in message


def test_old_word_format_gets_a_hint() -> None:
    with pytest.raises(UnsupportedType, match="save"):
        extract(b"\xd0\xcf\x11\xe0", name="old.doc")


def test_html_media_type_wins_over_a_markdown_name() -> None:
    # github.com/.../README.md is an HTML page
    doc = extract(b"<html><body><main><h1>Readme</h1><p>Hi</p></main></body></html>", name="README.md",
                  media_type="text/html; charset=utf-8")  # fmt: skip
    assert doc.text == "# Readme\n\nHi"


def test_vague_media_types_leave_the_decision_to_the_name() -> None:
    markdown = b"---\ntitle: T\n---\n[Hi](x.md)"
    assert extract(markdown, name="page.md", media_type="text/plain").text == "Hi"
    pdf = (GENERATED / "handbook.pdf").read_bytes()
    assert extract(pdf, name="handbook.pdf", media_type="application/octet-stream").text == HANDBOOK_TEXT
    assert extract(pdf, name="download", media_type="application/pdf").text == HANDBOOK_TEXT


def test_binary_media_type_is_unsupported_whatever_the_name() -> None:
    with pytest.raises(UnsupportedType, match="image/png"):
        extract((GENERATED / "diagram.png").read_bytes(), name="page.md", media_type="image/png")


def test_markdown_media_type_without_extension() -> None:
    assert extract(b"# A\n\n[b](c)", name="page", media_type="text/markdown").text == "# A\n\nb"
