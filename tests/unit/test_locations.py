"""core.ingest.locations: what a location string names, and its one canonical spelling (the key of
its pin and its state); plus the formats only sources use (links, sitemaps, Confluence storage,
AsciiDoc) on real-shaped input."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from core.errors import InvalidInput, UnreadableDocument
from core.ingest.extract import extract
from core.ingest.formats.confluence_storage import storage_to_html
from core.ingest.formats.links import page_links
from core.ingest.formats.sitemap import SitemapReader
from core.ingest.kinds.web import prefix_of
from core.ingest.locations import Kind, parse, with_options


@pytest.mark.parametrize(
    ("given", "kind", "canonical"),
    [
        ("/srv/handbook", Kind.PATH, "/srv/handbook"),
        ("https://wiki.example/runbook.html#install", Kind.URL, "https://wiki.example/runbook.html#install"),
        ("https://Docs.Example.com:443/guide/#crawl", Kind.SITE, "https://docs.example.com/guide/#crawl"),
        (
            "https://docs.example.com/guide/#crawl&max-pages=500&include=/guide/api/*&exclude=*/old/*",
            Kind.SITE,
            "https://docs.example.com/guide/#crawl&max-pages=500&include=/guide/api/*&exclude=*/old/*",
        ),
        ("https://docs.example.com/sitemap.xml", Kind.SITEMAP, "https://docs.example.com/sitemap.xml"),
        ("https://docs.example.com/sitemap_index.xml.gz#max-pages=9", Kind.SITEMAP,
         "https://docs.example.com/sitemap_index.xml.gz#max-pages=9"),
        ("https://docs.example.com/pages.xml#sitemap", Kind.SITEMAP, "https://docs.example.com/pages.xml#sitemap"),
        ("git+https://GitHub.com/org/repo.git@main#path=docs/", Kind.GIT,
         "git+https://github.com/org/repo.git@main#path=docs/"),
        ("git+ssh://git@gitlab.example.com/group/repo.git", Kind.GIT, "git+ssh://git@gitlab.example.com/group/repo.git"),
        ("git+file:///srv/repos/handbook.git@release/2.0", Kind.GIT, "git+file:///srv/repos/handbook.git@release/2.0"),
        ("confluence+https://wiki.example.com/spaces/OPS/overview", Kind.CONFLUENCE,
         "confluence+https://wiki.example.com/spaces/OPS"),
        ("confluence+https://acme.atlassian.net/wiki/spaces/OPS/pages/123456/Runbooks", Kind.CONFLUENCE,
         "confluence+https://acme.atlassian.net/wiki/spaces/OPS/pages/123456"),
        ("confluence+https://wiki.example.com/confluence/pages/viewpage.action?pageId=42", Kind.CONFLUENCE,
         "confluence+https://wiki.example.com/confluence/pages/viewpage.action?pageId=42"),
        ("confluence+https://wiki.example.com/display/OPS/Run+Book", Kind.CONFLUENCE,
         "confluence+https://wiki.example.com/display/OPS/Run+Book"),
    ],
)  # fmt: skip
def test_kinds_and_canonical_spellings(given: str, kind: Kind, canonical: str) -> None:
    spec = parse(given)
    assert (spec.kind, spec.location) == (kind, canonical)
    assert parse(spec.location).location == canonical  # canonical spellings are fixed points


def test_the_parts_of_a_git_and_a_confluence_location() -> None:
    git = parse("git+ssh://git@host:2222/org/repo.git@feature/x#path=/docs")
    assert (git.url, git.ref, git.path) == ("ssh://git@host:2222/org/repo.git", "feature/x", "docs")
    page = parse("confluence+https://acme.atlassian.net/wiki/spaces/OPS/pages/77/Title#max-pages=5")
    assert (page.url, page.space_key, page.page_id, page.max_pages) == (
        "https://acme.atlassian.net/wiki", "OPS", "77", 5,
    )  # fmt: skip


def test_options_are_written_by_the_cli_helper() -> None:
    location = with_options("https://docs.example.com/guide/", crawl=True, max_pages=50, include=["*.html"])
    assert location == "https://docs.example.com/guide/#crawl&max-pages=50&include=*.html"
    assert (
        with_options(location, crawl=True, max_pages=60)
        == "https://docs.example.com/guide/#crawl&max-pages=60&include=*.html"
    )
    assert with_options("https://docs.example.com/guide/") == "https://docs.example.com/guide/"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("ftp://files.example/a.md", "'ftp://' is not a source ragbot knows"),
        ("https://x.example/#max-pages=3", "apply to a crawled site (--crawl) or a sitemap"),
        ("https://x.example/#crawl&max-pages=0", "max-pages must be a positive whole number"),
        ("https://x.example/sitemap.xml#crawl", "a sitemap is read as it is"),
        ("git+ftp://host/repo.git", "use git+https://, git+ssh:// or git+file://"),
        ("git+https://host/repo.git#subdirectory=docs", "only path=FOLDER is understood"),
        ("git+https://host/", "names no repository"),
        ("confluence+https://wiki.example.com/", "Cannot tell which Confluence space or page"),
        ("confluence+https://wiki.example.com/pages/viewpage.action", "needs ?pageId=NUMBER"),
        ("confluence+https://wiki.example.com/spaces/OPS#crawl", "only max-pages=N is understood"),
    ],
)
def test_bad_locations_say_what_to_write(given: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=None) as raised:
        parse(given)
    assert words in raised.value.message


def test_a_crawl_stays_in_the_folder_of_its_start_url() -> None:
    assert prefix_of("https://d.example/guide/") == "https://d.example/guide/"
    assert prefix_of("https://d.example/guide/index.html") == "https://d.example/guide/"
    assert prefix_of("https://d.example/guide") == "https://d.example/guide/"
    assert prefix_of("https://d.example") == "https://d.example/"


def test_links_canonical_and_robots_meta_of_a_page() -> None:
    page = """<html><head><base href="/docs/v2/"><link rel="canonical" href="intro.html">
    <meta name="robots" content="noindex"></head><body>
    <a href="a.html#part">A</a> <a href="a.html">A again</a> <a href="../v1/b.html?x=1">B</a>
    <a href="mailto:x@y">mail</a> <a href="javascript:void(0)">js</a> <a rel="nofollow" href="c.html">C</a>
    <a href="https://other.example/d">D</a></body></html>"""
    links = page_links(page, "https://d.example/docs/v2/start.html")
    assert links.links == (
        "https://d.example/docs/v2/a.html", "https://d.example/docs/v1/b.html?x=1", "https://other.example/d",
    )  # fmt: skip
    assert links.canonical == "https://d.example/docs/v2/intro.html"
    assert links.noindex and not links.nofollow


def test_sitemaps_are_read_as_they_arrive_gzipped_or_not() -> None:
    xml = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://d.example/a</loc><lastmod>2026-01-02</lastmod></url>"
        b"<url><loc> https://d.example/b </loc></url></urlset>"
    )
    for data in (xml, gzip.compress(xml)):
        reader = SitemapReader("sitemap.xml")
        got = []
        for i in range(0, len(data), 7):  # in small pieces, as a network delivers them
            reader.feed(data[i : i + 7])
            got += reader.entries()
        reader.close()
        got += reader.entries()
        assert [(e.loc, e.lastmod, e.index) for e in got] == [
            ("https://d.example/a", "2026-01-02", False), ("https://d.example/b", None, False),
        ]  # fmt: skip
    with pytest.raises(UnreadableDocument, match="not a sitemap: it starts with <html>"):
        SitemapReader("x.xml").feed(b"<html><body>hi</body></html>")


def test_confluence_storage_format_becomes_clean_text() -> None:
    storage = (
        '<h2>Ports</h2><p>See <ac:link><ri:page ri:content-title="Firewall rules" /></ac:link>.</p>'
        '<ac:structured-macro ac:name="note"><ac:parameter ac:name="title">Careful</ac:parameter>'
        "<ac:rich-text-body><p>Never open 22 to the world.</p>"
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">shell</ac:parameter>'
        "<ac:plain-text-body><![CDATA[ufw allow from 10.0.0.0/8 to any port 22 && echo '<ok>']]>"
        "</ac:plain-text-body></ac:structured-macro></ac:rich-text-body></ac:structured-macro>"
        '<ac:structured-macro ac:name="toc" />'
        "<table><tbody><tr><th>Port</th><th>Service</th></tr><tr><td>22</td><td>SSH</td></tr></tbody></table>"
        '<p><ac:image><ri:attachment ri:filename="diagram.png" /></ac:image>&nbsp;</p>'
    )
    text = extract(storage_to_html(storage, "Network").encode(), name="p.html", media_type="text/html").text
    assert "## Ports" in text and "See Firewall rules." in text
    assert "Careful" in text and "Never open 22 to the world." in text
    assert "```shell\nufw allow from 10.0.0.0/8 to any port 22 && echo '<ok>'\n```" in text
    assert "| 22 | SSH |" in text
    assert "ac:" not in text and "ri:" not in text and "diagram.png" not in text


def test_asciidoc_sections_and_listings() -> None:
    adoc = b"= Deploy guide\n:toc:\n\nIntro.\n\n== Steps\n\n[source,bash]\n----\nmake deploy\n----\n\n// note to self\n"
    doc = extract(adoc, name="guide.adoc")
    assert doc.title == "Deploy guide"
    assert doc.text == "# Deploy guide\n\nIntro.\n\n## Steps\n\n```bash\nmake deploy\n```"


def test_the_source_kinds_import_no_engine() -> None:
    """core/ stays free of engines: the network clients live in core/backends (HOUSE_STYLE.md)."""
    code = (
        "import sys, core.service, core.ingest.sync\n"
        "print(sorted(m for m in ('httpx', 'qdrant_client', 'whoosh', 'sqlalchemy', 'torch', 'aiohttp') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
