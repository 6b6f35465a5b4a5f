"""core.ingest.sources: expanding paths, folders and URLs into documents, and reading them from
real files and a real local HTTP server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from core.backends.http_fetcher import HttpFetcher
from core.errors import CoreError, EmptyDocument, FileTooLarge, SourceUnreachable, UnreadableDocument
from core.ingest.extract import extract
from core.ingest.sources import SourceRef, expand, is_supported, normalise_url, read, root_of
from core.models import OutcomeStatus
from core.settings import IngestSettings

DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"
MB = 1024 * 1024


def write(path: Path, text: str = "# Doc\n\nText.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A docs folder with the things real folders hold besides documents."""
    docs = tmp_path / "docs"
    write(docs / "b.md")
    write(docs / "a.txt")
    write(docs / "Guide.MD")
    write(docs / "sub" / "c.html", "<p>c</p>")
    write(docs / "sub" / "deeper" / "d.rst")
    write(docs / ".git" / "notes.md")  # hidden folder
    write(docs / ".draft.md")  # hidden file
    write(docs / "node_modules" / "pkg" / "README.md")
    write(docs / "LICENSE", "Apache License")
    write(docs / "script.py", "print()")
    (docs / "sub" / "loop").symlink_to(docs, target_is_directory=True)  # a link back up
    (docs / "sub" / "same-as-b.md").symlink_to(docs / "b.md")  # the same file twice
    (docs / "broken.md").symlink_to(tmp_path / "gone.md")
    os.mkfifo(docs / "pipe.md")  # reading it would block forever
    return docs


def names(refs: list[SourceRef], root: Path) -> list[str]:
    return [Path(r.location).relative_to(root).as_posix() for r in refs]


def test_folder_walk_is_sorted_recursive_and_skips_noise(tree: Path) -> None:
    refs, failures = expand([str(tree)])
    assert names(refs, tree) == ["Guide.MD", "a.txt", "b.md", "sub/c.html", "sub/deeper/d.rst"]
    for ref in refs:
        assert ref.root == str(tree)
        assert ref.doc_id == ref.location and Path(ref.location).is_absolute()
    assert [(f.status, Path(f.source).name) for f in failures] == [(OutcomeStatus.FAILED, "broken.md")]
    assert "broken link" in failures[0].reason


def test_relative_arguments_become_absolute(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    refs, _ = expand(["docs", "./docs/sub/c.html"])
    assert refs[0].root == str(tree)
    assert len(refs) == 5  # sub/c.html came through the folder already
    assert all(Path(r.location).is_absolute() for r in refs)


def test_root_of_matches_expand_even_for_an_emptied_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.parent)
    refs, _ = expand(["docs"])
    assert root_of("docs") == refs[0].root == str(tree)
    empty = tree.parent / "empty"
    empty.mkdir()
    assert expand(["empty"]) == ([], [])
    assert root_of("empty") == str(empty)
    assert root_of("https://example.org/a#b") == "https://example.org/a#b"


def test_a_file_argument_is_its_own_root(tree: Path) -> None:
    refs, failures = expand([str(tree / "sub" / "c.html")])
    assert failures == []
    assert refs == [
        SourceRef(str(tree / "sub" / "c.html"), str(tree / "sub" / "c.html"), str(tree / "sub" / "c.html"))
    ]


def test_missing_and_unusable_arguments_fail_with_reasons(tree: Path) -> None:
    refs, failures = expand(
        [str(tree / "nope"), str(tree / "script.py"), str(tree / "pipe.md"), "ftp://example.org/a.md", "file:///etc/passwd", ""]
    )  # fmt: skip
    assert refs == []
    reasons = [f.reason for f in failures]
    assert reasons[0] == f"No such file or folder: {tree / 'nope'}"
    assert "'.py' files are not supported" in reasons[1] and ".md" in reasons[1]
    assert "not a regular file" in reasons[2]
    assert "only http:// and https://" in reasons[3] and "only http:// and https://" in reasons[4]
    assert reasons[5] == "An empty path was given."
    assert all(f.status is OutcomeStatus.FAILED for f in failures)


def test_urls_are_normalised_into_ids() -> None:
    refs, failures = expand(
        ["https://Docs.Example.ORG:443/Guide/Start.html?v=2#install", "http://example.org"]
    )
    assert failures == []
    assert refs[0] == SourceRef(
        location="https://Docs.Example.ORG:443/Guide/Start.html?v=2#install",
        doc_id="https://docs.example.org/Guide/Start.html?v=2",
        root="https://Docs.Example.ORG:443/Guide/Start.html?v=2#install",
    )
    assert refs[1].doc_id == "http://example.org/"


def test_duplicates_across_arguments_are_loaded_once(tree: Path) -> None:
    url = "https://example.org/page"
    refs, _ = expand([str(tree / "b.md"), str(tree), url, url + "#section", "HTTPS://EXAMPLE.ORG/page"])
    ids = [r.doc_id for r in refs]
    assert len(ids) == len(set(ids)) == 6
    assert ids.count(str(tree / "b.md")) == 1 and refs[0].root == str(tree / "b.md")


def test_normalise_url_keeps_what_selects_the_page() -> None:
    assert normalise_url("http://Example.org:8080/a/b/?q=1#x") == "http://example.org:8080/a/b/?q=1"
    assert normalise_url("https://example.org/a%20b") == "https://example.org/a%20b"


@pytest.mark.parametrize(
    ("path", "supported"),
    [("a.md", True), ("A.MARKDOWN", True), ("x.mdx", True), ("n.txt", True), ("n.text", True), ("r.rst", True),
     ("p.html", True), ("p.htm", True), ("d.pdf", True), ("w.docx", True), ("w.doc", False), ("i.png", False),
     ("LICENSE", False), ("archive.md.zip", False), (Path("/tmp/x.md"), True)],
)  # fmt: skip
def test_is_supported(path: str | Path, supported: bool) -> None:
    assert is_supported(path) is supported


async def test_the_fixture_folder_end_to_end() -> None:
    """expand -> read -> extract over tests/data/docs: what loads, and why the rest does not."""
    refs, failures = expand([str(DOCS)])
    assert failures == []
    results = {}
    for ref in refs:
        content, name, media_type = await read(ref, max_bytes=MB, fetcher=None)
        try:
            extract(content, name=name, media_type=media_type)
            results[Path(ref.location).relative_to(DOCS).as_posix()] = "ok"
        except CoreError as e:
            results[Path(ref.location).relative_to(DOCS).as_posix()] = e.code
    assert results == {
        "aws/aws-lambda-developer-guide/code-editor.md": "ok",
        "aws/aws-lambda-developer-guide/runtime-support-policy.md": "ok",
        "aws/aws-lambda-developer-guide/with-kinesis-create-package.md": "ok",
        "aws/elb-application-load-balancers-user-guide/create-listener.md": "ok",
        "deckhouse/sds-local-volume/CR.md": EmptyDocument.code,
        "deckhouse/sds-local-volume/FAQ.md": "ok",
        "deckhouse/sds-local-volume/README.md": "ok",
        "deckhouse/sds-local-volume/README.ru.md": "ok",
        "deckhouse/sds-node-configurator/LAYOUTS.md": "ok",
        "generated/empty.md": EmptyDocument.code,
        "generated/handbook-owner-locked.pdf": "ok",
        "generated/handbook-password.pdf": UnreadableDocument.code,
        "generated/handbook.pdf": "ok",
        "generated/notes-latin1.txt": "ok",
        "generated/on-call.docx": "ok",
        "generated/scanned.pdf": EmptyDocument.code,
        "generated/памятка-cp1251.txt": "ok",
        "web/runbook.html": "ok",
    }


# -- reading files --------------------------------------------------------------------------------


def ref_to(path: Path) -> SourceRef:
    return SourceRef(str(path), str(path), str(path))


async def test_read_a_file(tree: Path) -> None:
    content, name, media_type = await read(ref_to(tree / "sub" / "c.html"), max_bytes=MB, fetcher=None)
    assert (content, name, media_type) == (b"<p>c</p>", "c.html", None)


async def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"x" * 1000)
    content, _, _ = await read(ref_to(exact), max_bytes=1000, fetcher=None)
    assert len(content) == 1000


async def test_oversized_file_is_refused_from_its_size(tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    os.truncate(write(huge, ""), 64 * 1024 * MB)  # 64 GB, sparse: reading it is not an option
    huge.chmod(0)  # and, unless we run as root, unreadable: only its size can be looked at
    with pytest.raises(FileTooLarge) as raised:
        await read(ref_to(huge), max_bytes=20 * MB, fetcher=None)
    assert raised.value.message == "huge.pdf is 65536.0 MB, over the 20.0 MB limit (INGEST_MAX_FILE_MB)."


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
async def test_permission_denied(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.md")
    secret.chmod(0)
    with pytest.raises(UnreadableDocument, match="Permission denied"):
        await read(ref_to(secret), max_bytes=MB, fetcher=None)


async def test_vanished_file_and_non_regular_files(tree: Path) -> None:
    with pytest.raises(UnreadableDocument, match="no longer exists"):
        await read(ref_to(tree / "gone.md"), max_bytes=MB, fetcher=None)
    with pytest.raises(UnreadableDocument, match="not a regular file"):
        await read(ref_to(tree / "pipe.md"), max_bytes=MB, fetcher=None)
    with pytest.raises(UnreadableDocument, match="not a regular file"):
        await read(ref_to(tree / "sub"), max_bytes=MB, fetcher=None)


# -- reading URLs through the real fetcher and a local server ------------------------------------


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def guide(request: web.Request) -> web.Response:
        return web.Response(body=b"# Guide\n\nHello.", content_type="text/markdown", charset="utf-8")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/docs/guide%20v2.md")

    async def home(request: web.Request) -> web.Response:
        return web.Response(text="<h1>Home</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/docs/guide v2.md", guide)
    app.router.add_get("/old", moved)
    app.router.add_get("/", home)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpFetcher]:
    fetcher = HttpFetcher(IngestSettings(fetch_timeout=5))
    await fetcher.start()
    yield fetcher
    await fetcher.aclose()


async def test_read_a_url_names_it_after_the_final_path(site: str, fetcher: HttpFetcher) -> None:
    refs, _ = expand([f"{site}/old"])
    content, name, media_type = await read(refs[0], max_bytes=MB, fetcher=fetcher)
    assert (content, name, media_type) == (b"# Guide\n\nHello.", "guide v2.md", "text/markdown")
    assert extract(content, name=name, media_type=media_type).text == "# Guide\n\nHello."


async def test_read_a_site_root_is_named_after_the_host(site: str, fetcher: HttpFetcher) -> None:
    refs, _ = expand([site])
    content, name, media_type = await read(refs[0], max_bytes=MB, fetcher=fetcher)
    assert (name, media_type) == ("127.0.0.1", "text/html")
    assert extract(content, name=name, media_type=media_type).title == "Home"


async def test_read_a_url_without_a_fetcher() -> None:
    refs, _ = expand(["https://example.org/a.md"])
    with pytest.raises(SourceUnreachable, match="no HTTP fetcher"):
        await read(refs[0], max_bytes=MB, fetcher=None)
