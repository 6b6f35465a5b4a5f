"""What a location names: a file or folder, one web page, a whole site, a sitemap, a Git repository
or Confluence. One string carries the kind and its options, so that a pin, the scheduler, a
reindex and `ragbot status` hold the same source without a second column (docs/sources.md):

    /srv/handbook                                     files and folders
    https://wiki.example/runbook.html                 one page
    https://docs.example.com/guide/#crawl             a site under that prefix (`ingest --crawl`)
    https://docs.example.com/guide/#crawl&max-pages=500&include=/guide/api/*&exclude=*/old/*
    https://docs.example.com/sitemap.xml              every page a sitemap (or sitemap index) lists
    git+https://host/org/repo.git@main#path=docs/     a Git repository (also git+ssh://, git+file://)
    confluence+https://wiki.example.com/spaces/OPS    a Confluence space, or a page and its children

Options ride in the URL fragment, as pip writes ``git+https://...@v1#subdirectory=docs``. ``parse``
gives each location one canonical spelling: that string is the key of its pin and its state."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit, urlunsplit

from core.errors import InvalidInput
from core.ingest.sources import normalise_url

__all__ = ["Kind", "SourceSpec", "parse", "with_options", "is_sitemap_url"]


class Kind(enum.StrEnum):
    PATH = "path"
    URL = "url"
    SITE = "site"
    SITEMAP = "sitemap"
    GIT = "git"
    CONFLUENCE = "confluence"


SYNCED = frozenset({Kind.SITE, Kind.SITEMAP, Kind.GIT, Kind.CONFLUENCE})

_WEB_OPTIONS = ("crawl", "sitemap", "max-pages", "include", "exclude")
_SITEMAP_NAME = re.compile(r"sitemap[\w.-]*\.xml(\.gz)?$", re.IGNORECASE)
# where a Confluence web URL's path stops being the wiki's own prefix (Cloud: "/wiki", Data Center:
# "" or a context path such as "/confluence")
_CONFLUENCE_MARKERS = ("/spaces/", "/display/", "/pages/")
_GLOB_SAFE = "/*?[]!:@-_.~"


@dataclass(frozen=True)
class SourceSpec:
    kind: Kind
    location: str  # the canonical spelling
    url: str = ""  # site: the start URL; sitemap: its URL; git: the remote; confluence: the wiki's base URL
    max_pages: int | None = None  # None: CRAWL_MAX_PAGES
    include: tuple[str, ...] = ()  # globs over a page's path (or whole URL, when they contain "://")
    exclude: tuple[str, ...] = ()
    ref: str | None = None  # git: branch or tag; None: the remote's default branch
    path: str | None = None  # git: only files under this folder (or this one file)
    space_key: str | None = None  # confluence
    page_id: str | None = None  # confluence: a page and its children instead of a whole space
    page_title: str | None = None  # confluence: /display/KEY/Title names a page by its title

    @property
    def synced(self) -> bool:
        """Read by a source kind that keeps state between runs (not plain files or one URL)."""
        return self.kind in SYNCED


def is_sitemap_url(url: str) -> bool:
    return bool(_SITEMAP_NAME.search(urlsplit(url).path.rsplit("/", 1)[-1]))


def parse(text: str) -> SourceSpec:
    """The kind and options of a location; raises ``InvalidInput`` with what to write instead."""
    location = text.strip()
    lowered = location.lower()
    if lowered.startswith("git+"):
        return _git(location)
    if lowered.startswith("confluence+"):
        return _confluence(location)
    if lowered.startswith(("http://", "https://")):
        return _web(location)
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise InvalidInput(
            f"Cannot read {location}: '{scheme}://' is not a source ragbot knows. Use a path, an "
            "http(s):// URL, git+https:// (or git+ssh://, git+file://) or confluence+https://."
        )
    return SourceSpec(Kind.PATH, location)


def with_options(
    url: str,
    *,
    crawl: bool = False,
    max_pages: int | None = None,
    include: tuple[str, ...] | list[str] = (),
    exclude: tuple[str, ...] | list[str] = (),
) -> str:
    """The location for ``ragbot ingest URL --crawl --max-pages N --include G --exclude G`` (and
    the chat's ``pin URL crawl max-pages N``): the options written into the fragment, canonical."""
    base, _, fragment = url.strip().partition("#")
    given = dict(_fragment_options(fragment)) if fragment and _has_web_options(fragment) else {}
    options: list[tuple[str, str]] = [(k, v) for k, vs in given.items() for v in vs]
    if crawl and "crawl" not in given:
        options.insert(0, ("crawl", ""))
    if max_pages is not None:
        options = [(k, v) for k, v in options if k != "max-pages"] + [("max-pages", str(max_pages))]
    options += [("include", g) for g in include] + [("exclude", g) for g in exclude]
    if not options:
        return base
    return parse(f"{base}#{_render(options)}").location


# -- kinds ------------------------------------------------------------------------------------------


def _web(location: str) -> SourceSpec:
    base, _, fragment = location.partition("#")
    if not urlsplit(base).hostname:
        raise InvalidInput(f"Cannot read {location}: the URL has no host name.")
    options = _fragment_options(fragment) if fragment and _has_web_options(fragment) else {}
    crawl = "crawl" in options
    sitemap = "sitemap" in options or is_sitemap_url(base)
    if crawl and sitemap:
        raise InvalidInput(f"{location}: a sitemap is read as it is; --crawl is for a site's start page.")
    if not crawl and not sitemap:
        if options:
            raise InvalidInput(
                f"{location}: max-pages, include and exclude apply to a crawled site (--crawl) or a sitemap."
            )
        return SourceSpec(Kind.URL, location, url=location)
    url = normalise_url(base)
    max_pages = _max_pages(options, location)
    include, exclude = tuple(options.get("include", ())), tuple(options.get("exclude", ()))
    rendered: list[tuple[str, str]] = [("crawl", "")] if crawl else []
    if "sitemap" in options and not is_sitemap_url(base):
        rendered.append(("sitemap", ""))
    if max_pages is not None:
        rendered.append(("max-pages", str(max_pages)))
    rendered += [("include", g) for g in include] + [("exclude", g) for g in exclude]
    canonical = f"{url}#{_render(rendered)}" if rendered else url
    kind = Kind.SITE if crawl else Kind.SITEMAP
    return SourceSpec(kind, canonical, url=url, max_pages=max_pages, include=include, exclude=exclude)


def _git(location: str) -> SourceSpec:
    remote_text, _, fragment = location[len("git+") :].partition("#")
    parts = urlsplit(remote_text)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http", "ssh", "file"):
        raise InvalidInput(
            f"Cannot read {location}: use git+https://, git+ssh:// or git+file:// followed by the repository URL."
        )
    if parts.password is not None:
        raise InvalidInput(
            "A Git URL must not carry a password or token (it would show in pins, logs and status). "
            "Give ragbot's user an SSH key (git+ssh://) or a Git credential helper instead."
        )
    path, ref = parts.path, None
    if "@" in path:
        path, _, ref = path.rpartition("@")
        if not ref or not path:
            raise InvalidInput(
                f"{location}: write the branch after '@', e.g. git+https://host/org/repo.git@main."
            )
    if scheme != "file" and not parts.hostname:
        raise InvalidInput(f"Cannot read {location}: the repository URL has no host name.")
    if not path.strip("/"):
        raise InvalidInput(f"Cannot read {location}: the URL names no repository.")
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    remote = urlunsplit((scheme, host, path.rstrip("/"), "", ""))
    sub = None
    if fragment:
        options = parse_qs(fragment, keep_blank_values=True)
        unknown = set(options) - {"path"}
        if unknown or len(options.get("path", [])) != 1:
            raise InvalidInput(f"{location}: after '#' only path=FOLDER is understood, e.g. #path=docs/.")
        sub = options["path"][0].strip().lstrip("./").lstrip("/") or None
    canonical = (
        f"git+{remote}" + (f"@{ref}" if ref else "") + (f"#path={quote(sub, safe=_GLOB_SAFE)}" if sub else "")
    )
    return SourceSpec(Kind.GIT, canonical, url=remote, ref=ref, path=sub)


def _confluence(location: str) -> SourceSpec:
    web, _, fragment = location[len("confluence+") :].partition("#")
    parts = urlsplit(web)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"Cannot read {location}: write confluence+ before the wiki's https:// address, e.g. "
            "confluence+https://wiki.example.com/spaces/OPS."
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "A Confluence URL must not carry credentials: set CONFLUENCE_USER and CONFLUENCE_API_TOKEN "
            "(Cloud) or CONFLUENCE_TOKEN (Data Center) instead."
        )
    path = unquote(parts.path)
    cut = min((path.find(m) for m in _CONFLUENCE_MARKERS if m in path), default=-1)
    if cut < 0:
        raise InvalidInput(
            f"Cannot tell which Confluence space or page {location} names: use the address of a space "
            "(.../spaces/KEY or .../display/KEY) or of a page (.../spaces/KEY/pages/ID or "
            ".../pages/viewpage.action?pageId=ID)."
        )
    base = normalise_url(urlunsplit((parts.scheme, parts.netloc, path[:cut], "", ""))).rstrip("/")
    rest = [unquote(p) for p in path[cut:].split("/") if p]
    space_key = page_id = page_title = None
    if rest[0] == "spaces" and len(rest) >= 2:
        space_key = rest[1]
        if len(rest) >= 4 and rest[2] == "pages" and rest[3].isdigit():
            page_id = rest[3]
    elif rest[0] == "display" and len(rest) >= 2:
        space_key = rest[1]
        if len(rest) >= 3:
            page_title = rest[2].replace("+", " ")
    elif rest[0] == "pages":
        page_id = (parse_qs(parts.query).get("pageId") or [""])[0]
        if not page_id.isdigit():
            raise InvalidInput(f"{location}: a Data Center page address needs ?pageId=NUMBER.")
    else:
        raise InvalidInput(f"{location}: name a space (.../spaces/KEY) or a page (.../pages/ID).")
    options = _fragment_options(fragment) if fragment else {}
    if set(options) - {"max-pages"}:
        raise InvalidInput(f"{location}: after '#' only max-pages=N is understood for Confluence.")
    max_pages = _max_pages(options, location)
    if page_id:
        canonical = (
            f"{base}/spaces/{space_key}/pages/{page_id}"
            if space_key
            else f"{base}/pages/viewpage.action?pageId={page_id}"
        )
    elif page_title:
        canonical = f"{base}/display/{space_key}/{quote(page_title.replace(' ', '+'), safe='+')}"
    else:
        canonical = f"{base}/spaces/{space_key}"
    canonical = "confluence+" + canonical + (f"#max-pages={max_pages}" if max_pages is not None else "")
    return SourceSpec(
        Kind.CONFLUENCE,
        canonical,
        url=base,
        max_pages=max_pages,
        space_key=space_key,
        page_id=page_id,
        page_title=page_title,
    )


# -- fragments --------------------------------------------------------------------------------------


def _has_web_options(fragment: str) -> bool:
    """A fragment of ours ('crawl&max-pages=5'), not a page anchor ('#installation')."""
    keys = {k for k, _ in parse_qsl(fragment, keep_blank_values=True)}
    return bool(keys) and keys <= set(_WEB_OPTIONS)


def _fragment_options(fragment: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for key, value in parse_qsl(fragment, keep_blank_values=True):
        options.setdefault(key, []).append(value)
    return options


def _max_pages(options: dict[str, list[str]], location: str) -> int | None:
    values = options.get("max-pages")
    if not values:
        return None
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
        raise InvalidInput(f"{location}: max-pages must be a positive whole number.")
    return int(values[0])


def _render(options: list[tuple[str, str]]) -> str:
    return "&".join(
        k if k in ("crawl", "sitemap") and not v else f"{k}={quote(v, safe=_GLOB_SAFE)}" for k, v in options
    )
