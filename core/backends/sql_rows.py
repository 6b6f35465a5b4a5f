"""Rows of the store's tables as ragbot's models."""

from __future__ import annotations

from typing import Any

from core.models import Binding, DocumentRecord, PinnedSource, SourceState

__all__ = ["document_record", "binding", "pinned_source", "source_state"]


def document_record(row: Any) -> DocumentRecord:
    return DocumentRecord(
        space_id=row["space_id"],
        doc_id=row["doc_id"],
        source=row["source"],
        title=row["title"],
        version=row["version"],
        doc_type=row["doc_type"],
        lang=row["lang"],
        chunks=row["chunks"],
        ingested_at=row["ingested_at"],
    )


def binding(row: Any) -> Binding:
    return Binding(
        platform=row["platform"],
        channel_id=row["channel_id"],
        space_id=row["space_id"],
        team_id=row["team_id"],
        thread_followups=bool(row["thread_followups"]),
        mode=row["mode"],
        visibility=row["visibility"],
        doc_type=row["doc_type"],
        lang=row["lang"],
    )


def pinned_source(row: Any) -> PinnedSource:
    return PinnedSource(
        pin_id=row["pin_id"],
        space_id=row["space_id"],
        location=row["location"],
        every_s=row["every_s"],
        cron=row["cron"],
        doc_type=row["doc_type"],
        pinned_by=row["pinned_by"],
        last_success_at=row["last_success_at"],
        last_failure_at=row["last_failure_at"],
        last_error=row["last_error"],
        consecutive_failures=row["consecutive_failures"],
    )


def source_state(row: Any) -> SourceState:
    return SourceState(
        space_id=row["space_id"],
        location=row["location"],
        kind=row["kind"],
        last_run_at=row["last_run_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        documents=row["documents"],
        skipped=row["skipped"],
        cursor=dict(row["cursor"] or {}),
    )
