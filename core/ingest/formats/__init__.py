"""One module per document format. Each turns bytes (or decoded text) into a ``Parsed``:
Markdown-flavoured text plus a title and scalar metadata. ``core.ingest.extract`` picks the
format and does the clean-up every format shares (``layout.normalise``)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Parsed"]


class Parsed(NamedTuple):
    title: str | None
    text: str
    metadata: dict[str, str]
