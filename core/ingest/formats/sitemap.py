"""Sitemaps (sitemaps.org protocol 0.9) read as they download: ``<urlset>`` entries and the
``<sitemap>`` entries of a sitemap index, as soon as each closes, so that a sitemap listing
10,000,000 URLs is read only as far as --max-pages needs. Gzipped sitemaps are inflated on the fly."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError, XMLPullParser

from core.errors import UnreadableDocument

__all__ = ["SitemapEntry", "SitemapReader"]


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: str | None
    index: bool  # a <sitemap> of a sitemap index (another sitemap to read), not a page


class SitemapReader:
    """Feed bytes as they arrive; take the entries completed so far with ``entries()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._parser = XMLPullParser(events=("start", "end"))
        self._inflate: zlib._Decompress | None = None
        self._first = True
        self._root: str | None = None
        self._ready: list[SitemapEntry] = []

    def feed(self, data: bytes) -> None:
        if self._first and data:
            self._first = False
            if data[:2] == b"\x1f\x8b":  # gzip, whatever the server said
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error as e:
                raise UnreadableDocument(f"{self.name}: the gzipped sitemap is damaged ({e}).") from e
        try:
            self._parser.feed(data)
            self._collect()
        except ParseError as e:
            raise UnreadableDocument(f"{self.name} is not a sitemap: the XML is malformed ({e}).") from e

    def close(self) -> None:
        try:
            self._parser.close()
            self._collect()
        except ParseError as e:
            raise UnreadableDocument(f"{self.name} is not a sitemap: the XML is malformed ({e}).") from e
        if self._root is None:
            raise UnreadableDocument(f"{self.name} is empty, not a sitemap.")

    def entries(self) -> list[SitemapEntry]:
        ready, self._ready = self._ready, []
        return ready

    def _collect(self) -> None:
        for event, element in self._parser.read_events():
            name = _local(element.tag)
            if event == "start":
                if self._root is None:
                    self._root = name
                    if name not in ("urlset", "sitemapindex"):
                        raise UnreadableDocument(
                            f"{self.name} is not a sitemap: it starts with <{name}>, not <urlset> or <sitemapindex>."
                        )
                continue
            if name not in ("url", "sitemap"):
                continue
            fields = {_local(child.tag): (child.text or "").strip() for child in element}
            element.clear()  # a long sitemap is not kept in memory
            if fields.get("loc"):
                self._ready.append(
                    SitemapEntry(fields["loc"], fields.get("lastmod") or None, name == "sitemap")
                )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
