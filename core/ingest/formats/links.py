"""What a crawler needs from an HTML page besides its text: the links to follow, the canonical
URL, and the page's own robots directives (``<meta name="robots" content="noindex, nofollow">``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = ["PageLinks", "page_links"]


@dataclass(frozen=True)
class PageLinks:
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order, each once
    canonical: str | None  # <link rel="canonical">, absolute
    noindex: bool  # the page asks not to be indexed
    nofollow: bool  # ... or its links not to be followed


def page_links(markup: str, url: str) -> PageLinks:
    """Links of the page at ``url`` (relative ones resolved against ``<base href>`` when present)."""
    tree = LexborHTMLParser(markup)
    base = url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None:
        base = urljoin(url, (base_tag.attributes.get("href") or "").strip())
    robots = ",".join(
        (m.attributes.get("content") or "").lower()
        for m in tree.css("meta[name]")
        if (m.attributes.get("name") or "").strip().lower() in ("robots", "ragbot")
    )
    directives = {d.strip() for d in robots.split(",")}
    seen: set[str] = set()
    links: list[str] = []
    for anchor in tree.css("a[href]"):
        rel = (anchor.attributes.get("rel") or "").lower().split()
        if "nofollow" in rel:
            continue
        target = _absolute(base, anchor.attributes.get("href") or "")
        if target and target not in seen:
            seen.add(target)
            links.append(target)
    canonical = None
    for tag in tree.css("link[rel][href]"):
        if "canonical" in (tag.attributes.get("rel") or "").lower().split():
            canonical = _absolute(base, tag.attributes.get("href") or "")
            break
    return PageLinks(
        links=tuple(links),
        canonical=canonical,
        noindex="noindex" in directives or "none" in directives,
        nofollow="nofollow" in directives or "none" in directives,
    )


def _absolute(base: str, href: str) -> str | None:
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:  # a malformed URL (an unbalanced IPv6 bracket) is not a link to follow
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
