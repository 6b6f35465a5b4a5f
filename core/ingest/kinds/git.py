"""Git repositories (``git+https://host/org/repo.git@branch#path=docs/``), read through the
``GitClient`` port: fetch the branch, list its files with their blob ids, read only the files
whose blob differs from the one last ingested (the cursor keeps them), so a re-sync re-reads
exactly what changed between the last ingested commit and the new one.

Documents are the Markdown, reStructuredText, AsciiDoc, text and HTML files (hidden folders and
``node_modules`` are left out, as for folders on disk). A citation links to the file on its forge
at the commit it was read from, when the remote is GitHub, GitLab or Gitea (Forgejo, Codeberg);
otherwise it names the repository and the path (docs/sources.md)."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

from core.errors import SourceNotFound
from core.ingest.kinds import RawDocument, SyncContext, SyncRun
from core.ingest.locations import SourceSpec
from core.models import DocOutcome, OutcomeStatus
from core.ports import GitClient, GitEntry
from core.text import describe_size

__all__ = ["GitReader", "DOC_EXTENSIONS", "forge_url", "git_doc_id"]

log = logging.getLogger(__name__)

DOC_EXTENSIONS = frozenset(
    {".md", ".markdown", ".mdx", ".rst", ".txt", ".text", ".adoc", ".asciidoc", ".html", ".htm"}
)
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


def git_doc_id(spec: SourceSpec, path: str) -> str:
    """``git+REMOTE[@REF]:PATH``, as ``git show REF:PATH`` names a file."""
    return f"{spec.location.partition('#')[0]}:{path}"


def forge_url(remote: str, commit: str, path: str) -> str | None:
    """The page of ``path`` at ``commit`` on the forge ``remote`` lives on, if it is one ragbot knows."""
    parts = urlsplit(remote)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http", "ssh") or not host:
        return None
    repo = parts.path.strip("/").removesuffix(".git")
    web = f"{'http' if parts.scheme == 'http' else 'https'}://{host}/{repo}"
    file = quote(path)
    if host == "github.com" or host.startswith("github.") or ".github." in host:
        return f"{web}/blob/{commit}/{file}"
    if "gitlab" in host:
        return f"{web}/-/blob/{commit}/{file}"
    if any(name in host for name in ("gitea", "forgejo", "codeberg")):
        return f"{web}/src/commit/{commit}/{file}"
    return None


class GitReader:
    def __init__(self, git: GitClient) -> None:
        self.git = git

    async def read(self, ctx: SyncContext) -> SyncRun:
        spec = ctx.spec
        run = SyncRun()
        commit = await self.git.fetch(spec.url, spec.ref)
        run.requests += 1
        run.state = {"commit": commit}
        entries = await self.git.list_files(spec.url, commit, spec.path)
        if spec.path and not entries:
            raise SourceNotFound(
                f"{spec.path} does not exist in {spec.location.partition('#')[0]} at {commit[:12]}."
            )
        todo: list[GitEntry] = []
        for entry in entries:
            if not _is_document(entry.path):
                continue
            doc_id = git_doc_id(spec, entry.path)
            item = ctx.items.get(entry.path)
            if item and item.get("blob") == entry.blob and item.get("doc") in ctx.live:
                run.unchanged.add(doc_id)
                run.items[entry.path] = dict(item)
                continue
            if entry.size > ctx.max_bytes:
                run.outcomes.append(
                    DocOutcome(
                        entry.path,
                        OutcomeStatus.FAILED,
                        doc_id,
                        reason=f"{entry.path} is {describe_size(entry.size)}, over the "
                        f"{describe_size(ctx.max_bytes)} limit (INGEST_MAX_FILE_MB).",
                    )
                )
                if doc_id in ctx.live:
                    run.kept.add(doc_id)
                continue
            todo.append(entry)
        blobs = await self.git.read_blobs(spec.url, sorted({e.blob for e in todo})) if todo else {}
        for n, entry in enumerate(todo, start=1):
            doc_id = git_doc_id(spec, entry.path)
            run.docs.append(
                RawDocument(
                    doc_id=doc_id,
                    source=forge_url(spec.url, commit, entry.path) or doc_id,
                    name=PurePosixPath(entry.path).name,
                    content=blobs[entry.blob],
                    item=entry.path,
                )
            )
            run.items[entry.path] = {"doc": doc_id, "blob": entry.blob}
            if ctx.progress:
                ctx.progress("read", n, len(todo))
        log.info(
            "git.read remote=%s commit=%s files=%d changed=%d",
            spec.location,
            commit[:12],
            len(entries),
            len(todo),
        )
        return run


def _is_document(path: str) -> bool:
    parts = PurePosixPath(path).parts
    if any(p.startswith(".") or p in _SKIPPED_DIRS for p in parts):
        return False
    return PurePosixPath(path).suffix.lower() in DOC_EXTENSIONS
