"""What a person passes to ``ragbot ingest`` (files, folders, http(s) URLs) -> the documents to
load, and reading one document's bytes.

``doc_id`` is what keeps a document the same document across runs: the absolute path of a file
(a folder's files are named by the folder's resolved path plus their path inside it, so that
``--prune`` can tell which live documents lie under a folder), or the URL without its fragment
and with scheme and host lower-cased."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

from core.errors import FileTooLarge, SourceUnreachable, UnreadableDocument, UnsupportedType
from core.ingest.extract import SUPPORTED_EXTENSIONS, format_for
from core.models import DocOutcome, OutcomeStatus
from core.ports import Fetcher
from core.text import describe_size

__all__ = ["SourceRef", "expand", "read", "is_supported", "is_url", "normalise_url", "root_of"]

log = logging.getLogger(__name__)

# Folders that hold tooling, not documents. Hidden ones (.git, .venv, .github) are skipped too.
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class SourceRef:
    location: str  # absolute file path, or the URL as given
    doc_id: str  # stable id inside a space: the absolute path, or the normalised URL
    root: str  # the argument it came from (resolved folder or file path, or the URL): --prune scope


def is_url(location: str) -> bool:
    return urlsplit(location.strip()).scheme.lower() in ("http", "https")


def is_supported(path: str | os.PathLike[str]) -> bool:
    """A file ``ingest`` can read, judged by its extension."""
    return PurePosixPath(os.fspath(path)).suffix.lower() in SUPPORTED_EXTENSIONS


def normalise_url(url: str) -> str:
    """The URL as a document id: no fragment, lower-case scheme and host, no default port,
    "/" for an empty path. The query stays: it often selects the page."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def root_of(location: str) -> str:
    """The ``root`` that ``expand`` gives the documents of one argument, also when the argument
    yields none (a folder whose files were all deleted is still a --prune scope)."""
    location = location.strip()
    if "://" in location:
        return location
    try:
        return str(Path(location).expanduser().resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(os.path.expanduser(location))


def expand(locations: Sequence[str]) -> tuple[list[SourceRef], list[DocOutcome]]:
    """Files, folders (walked recursively for supported files, in sorted order) and URLs ->
    documents to load, plus a FAILED outcome for each location that cannot be used."""
    refs: list[SourceRef] = []
    failures: list[DocOutcome] = []
    seen_ids: set[str] = set()
    seen_files: set[str] = set()

    def add(ref: SourceRef, real: str | None = None) -> None:
        if ref.doc_id in seen_ids or (real is not None and real in seen_files):
            return  # the same document through two arguments or two links
        seen_ids.add(ref.doc_id)
        if real is not None:
            seen_files.add(real)
        refs.append(ref)

    def fail(source: str, reason: str, doc_id: str = "") -> None:
        failures.append(DocOutcome(source, OutcomeStatus.FAILED, doc_id, reason=reason))

    for given in locations:
        location = given.strip()
        scheme = urlsplit(location).scheme.lower() if "://" in location else ""
        if scheme:
            if scheme not in ("http", "https"):
                fail(given, f"Cannot ingest {location}: only http:// and https:// URLs are supported.")
            elif not urlsplit(location).hostname:
                fail(given, f"Cannot ingest {location}: the URL has no host name.")
            else:
                add(SourceRef(location=location, doc_id=normalise_url(location), root=location))
            continue
        if not location:
            fail(given, "An empty path was given.")
            continue
        path = Path(location).expanduser()
        try:
            resolved = path.resolve()
            st = resolved.stat()
        except FileNotFoundError:
            fail(given, f"No such file or folder: {location}")
            continue
        except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop on older Pythons
            fail(given, f"Cannot open {location}: {_reason(e)}")
            continue
        if stat.S_ISDIR(st.st_mode):
            for found in _walk(resolved):
                if isinstance(found, DocOutcome):
                    failures.append(found)
                else:
                    add(SourceRef(str(found), str(found), str(resolved)), os.path.realpath(found))
        elif stat.S_ISREG(st.st_mode):
            if is_supported(resolved):
                add(SourceRef(str(resolved), str(resolved), str(resolved)), os.path.realpath(resolved))
            else:
                try:
                    format_for(resolved.name)
                except UnsupportedType as e:
                    fail(given, e.message, str(resolved))
        else:
            fail(given, f"Cannot ingest {location}: it is not a regular file or folder.", str(resolved))
    return refs, failures


def _walk(root: Path) -> Iterator[Path | DocOutcome]:
    """Supported files under ``root`` in sorted order, following links to folders but visiting
    each real folder once (a link back to a parent would otherwise loop forever)."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    found: list[Path] = []
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue
            visited.add(key)
            with os.scandir(folder) as scan:
                entries = list(scan)
        except OSError as e:
            yield DocOutcome(
                str(folder), OutcomeStatus.FAILED, reason=f"Cannot list folder {folder}: {_reason(e)}"
            )
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIPPED_DIRS:
                continue
            path = folder / entry.name
            try:
                if entry.is_dir():
                    stack.append(path)
                elif entry.is_file():
                    if is_supported(entry.name):
                        found.append(path)
                elif entry.is_symlink() and is_supported(entry.name):
                    yield DocOutcome(
                        str(path), OutcomeStatus.FAILED, str(path), reason=f"{path} is a broken link."
                    )
            except OSError as e:
                yield DocOutcome(
                    str(path), OutcomeStatus.FAILED, str(path), reason=f"Cannot open {path}: {_reason(e)}"
                )
    yield from sorted(found, key=lambda p: p.relative_to(root).parts)


async def read(ref: SourceRef, *, max_bytes: int, fetcher: Fetcher | None) -> tuple[bytes, str, str | None]:
    """(content, name, media type) of one document. Files: media type None, the name decides.
    Raises ``FileTooLarge`` (checked before reading), ``UnreadableDocument`` or
    ``SourceUnreachable``."""
    if is_url(ref.location):
        if fetcher is None:
            raise SourceUnreachable(f"Cannot fetch {ref.location}: no HTTP fetcher is configured.")
        fetched = await fetcher.fetch(ref.location, max_bytes=max_bytes)
        return fetched.content, _name_from_url(fetched.url or ref.location), fetched.content_type or None
    content = await asyncio.to_thread(_read_file, ref.location, max_bytes)
    return content, os.path.basename(ref.location), None


def _name_from_url(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return unquote(segments[-1]) if segments else (parts.hostname or "index")


def _read_file(path: str, max_bytes: int) -> bytes:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableDocument(f"Cannot read {path}: it is not a regular file.")
        if st.st_size > max_bytes:
            raise FileTooLarge(
                f"{os.path.basename(path)} is {describe_size(st.st_size)}, over the "
                f"{describe_size(max_bytes)} limit (INGEST_MAX_FILE_MB)."
            )
        with open(path, "rb") as f:
            content = f.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise UnreadableDocument(f"{path} no longer exists.") from e
    except PermissionError as e:
        raise UnreadableDocument(f"Permission denied: ragbot may not read {path}.") from e
    except OSError as e:
        raise UnreadableDocument(f"Cannot read {path}: {_reason(e)}") from e
    if len(content) > max_bytes:  # it grew after the size check
        raise FileTooLarge(f"{os.path.basename(path)} is over the {describe_size(max_bytes)} limit.")
    return content


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
