"""Confluence (Cloud and Data Center), read through the ``ConfluenceClient`` port with the REST API
both serve (``{base}/rest/api``; Cloud's base is ``https://SITE.atlassian.net/wiki``):

- a space: ``GET /space/{key}`` (so a missing space is said in words), then its current pages,
  ``GET /content?spaceKey=&type=page&status=current&expand=version``, page by page along
  ``_links.next``;
- a page and its children: ``GET /content/{id}?expand=version`` (or by title for
  ``/display/KEY/Title``), then ``GET /content/{id}/child/page`` level by level;
- the body of each page whose version is not the one last ingested:
  ``GET /content/{id}?expand=body.storage,version``, converted from storage format to text.

A page is cited by its web URL (``_links.base`` + ``_links.webui``). Pages deleted, moved out of
the space or tree, or no longer readable with these credentials are pruned; a page that cannot
be read is skipped and counted (docs/sources.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from core.errors import CoreError, SourceDenied, SourceNotFound
from core.ingest.formats.confluence_storage import storage_to_html
from core.ingest.kinds import RawDocument, SyncContext, SyncRun
from core.ingest.locations import SourceSpec
from core.models import DocOutcome, OutcomeStatus
from core.ports import ConfluenceClient
from core.settings import CrawlSettings

__all__ = ["ConfluenceReader", "confluence_doc_id"]

log = logging.getLogger(__name__)

_PAGE_SIZE = "50"


def confluence_doc_id(base: str, page_id: str) -> str:
    return f"confluence+{base}/pages/{page_id}"


class ConfluenceReader:
    def __init__(self, client: ConfluenceClient, settings: CrawlSettings | None = None) -> None:
        self.client = client
        self.settings = settings or CrawlSettings()

    async def read(self, ctx: SyncContext) -> SyncRun:
        spec = ctx.spec
        run = SyncRun()
        api = f"{spec.url}/rest/api"
        limit = spec.max_pages or self.settings.max_pages
        host = urlsplit(spec.url).netloc
        if spec.page_id or spec.page_title:
            root = await self._root(api, spec, host, run)
            pages, truncated = await self._tree(api, root, limit, run)
        else:
            missing = (
                f"The Confluence space {spec.space_key} does not exist on {host} "
                "(or these credentials cannot see it)."
            )
            await self._get(run, f"{api}/space/{spec.space_key}", missing=missing)
            params = {
                "spaceKey": spec.space_key or "",
                "type": "page",
                "status": "current",
                "expand": "version",
                "limit": _PAGE_SIZE,
            }
            pages, truncated = await self._list(api, f"{api}/content", params, limit, run)
        if truncated:
            run.complete = False
            run.outcomes.append(
                DocOutcome(
                    spec.location,
                    OutcomeStatus.SKIPPED,
                    reason=f"there are more than {limit} pages: the rest were not read (raise max-pages or "
                    "CRAWL_MAX_PAGES), and nothing was pruned",
                )
            )
        todo = []
        for page in pages:
            page_id, version = str(page["id"]), _version(page)
            doc_id = confluence_doc_id(spec.url, page_id)
            item = ctx.items.get(page_id)
            if item and item.get("version") == version and item.get("doc") in ctx.live:
                run.unchanged.add(doc_id)
                run.items[page_id] = dict(item)
            else:
                todo.append(page)
        slots = asyncio.Semaphore(self.settings.concurrency)
        done = 0

        async def body(page: dict[str, Any]) -> None:
            nonlocal done
            async with slots:
                await self._body(api, spec, page, ctx, run)
            done += 1
            if ctx.progress:
                ctx.progress("read", done, len(todo))

        await asyncio.gather(*(body(p) for p in todo))
        log.info("confluence.read source=%s pages=%d changed=%d", spec.location, len(pages), len(todo))
        return run

    async def _get(
        self, run: SyncRun, url: str, params: dict[str, str] | None = None, *, missing: str | None = None
    ) -> dict[str, Any]:
        run.requests += 1
        try:
            return await self.client.get(url, params)
        except SourceNotFound as e:
            if missing:
                raise SourceNotFound(missing) from e
            raise

    async def _root(self, api: str, spec: SourceSpec, host: str, run: SyncRun) -> dict[str, Any]:
        if spec.page_id:
            return await self._get(
                run,
                f"{api}/content/{spec.page_id}",
                {"expand": "version"},
                missing=f"The Confluence page {spec.page_id} does not exist on {host} (or these credentials cannot see it).",
            )
        found = await self._get(
            run,
            f"{api}/content",
            {
                "spaceKey": spec.space_key or "",
                "title": spec.page_title or "",
                "type": "page",
                "expand": "version",
            },
            missing=f"The Confluence space {spec.space_key} does not exist on {host} (or these credentials cannot see it).",
        )
        results = found.get("results") or []
        if not results:
            raise SourceNotFound(
                f"There is no page titled '{spec.page_title}' in the Confluence space {spec.space_key} on {host}."
            )
        return results[0]

    async def _list(
        self, api: str, url: str, params: dict[str, str] | None, limit: int, run: SyncRun
    ) -> tuple[list[dict[str, Any]], bool]:
        """Every result along ``_links.next``, up to ``limit``; and whether there were more."""
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        next_url: str | None = url
        while next_url and next_url not in seen:
            seen.add(next_url)
            data = await self._get(run, next_url, params)
            params = None  # the next link carries its own query
            for page in data.get("results") or []:
                if len(results) >= limit:
                    return results, True
                results.append(page)
            links = data.get("_links") or {}
            following = links.get("next")
            next_url = (
                _absolute(links.get("base") or api.removesuffix("/rest/api"), following)
                if following
                else None
            )
        return results, False

    async def _tree(
        self, api: str, root: dict[str, Any], limit: int, run: SyncRun
    ) -> tuple[list[dict[str, Any]], bool]:
        """The root page and its descendants, level by level, up to ``limit``."""
        pages = [root]
        queue = [str(root["id"])]
        while queue:
            page_id = queue.pop(0)
            params = {"expand": "version", "limit": _PAGE_SIZE}
            children, more = await self._list(
                api, f"{api}/content/{page_id}/child/page", params, max(limit - len(pages), 0), run
            )
            pages += children
            queue += [str(c["id"]) for c in children]
            if more:
                return pages, True
        return pages, False

    async def _body(
        self, api: str, spec: SourceSpec, page: dict[str, Any], ctx: SyncContext, run: SyncRun
    ) -> None:
        page_id = str(page["id"])
        doc_id = confluence_doc_id(spec.url, page_id)
        title = page.get("title") or page_id
        try:
            full = await self._get(run, f"{api}/content/{page_id}", {"expand": "body.storage,version"})
        except (SourceDenied, SourceNotFound) as e:
            reason = (
                "these credentials cannot read it"
                if isinstance(e, SourceDenied)
                else "it was deleted while being read"
            )
            run.outcomes.append(
                DocOutcome(f"{title} ({page_id})", OutcomeStatus.SKIPPED, doc_id, reason=reason)
            )
            return
        except CoreError as e:
            run.outcomes.append(
                DocOutcome(f"{title} ({page_id})", OutcomeStatus.FAILED, doc_id, reason=e.message)
            )
            if doc_id in ctx.live:
                run.kept.add(doc_id)
            return
        storage = ((full.get("body") or {}).get("storage") or {}).get("value") or ""
        html = storage_to_html(storage, full.get("title") or title).encode()
        if len(html) > ctx.max_bytes:
            run.outcomes.append(
                DocOutcome(f"{title} ({page_id})", OutcomeStatus.FAILED, doc_id,
                           reason=f"the page '{title}' is over the INGEST_MAX_FILE_MB limit.")
            )  # fmt: skip
            if doc_id in ctx.live:
                run.kept.add(doc_id)
            return
        links = full.get("_links") or page.get("_links") or {}
        web = _absolute(
            links.get("base") or spec.url, links.get("webui") or f"/pages/viewpage.action?pageId={page_id}"
        )
        run.docs.append(
            RawDocument(
                doc_id=doc_id,
                source=web,
                name=f"{page_id}.html",
                content=html,
                media_type="text/html",
                title=full.get("title") or title,
                item=page_id,
            )
        )
        run.items[page_id] = {"doc": doc_id, "version": _version(full) or _version(page)}


def _version(page: dict[str, Any]) -> int:
    return int((page.get("version") or {}).get("number") or 0)


def _absolute(base: str, link: str) -> str:
    if link.startswith(("http://", "https://")):
        return link
    return base.rstrip("/") + "/" + link.lstrip("/")
