"""One error tree for the core. Each error has a stable ``code`` (for metrics and logs) and a
message written for the person who asked: the adapters show it as it is."""

from __future__ import annotations

__all__ = [
    "CoreError",
    "InvalidQuestion",
    "EmptyQuestion",
    "QuestionTooLong",
    "UnknownSpace",
    "NotBound",
    "NotFound",
    "PermissionDenied",
    "InvalidInput",
    "IngestError",
    "UnsupportedType",
    "FileTooLarge",
    "EmptyDocument",
    "UnreadableDocument",
    "SourceUnreachable",
    "SourceDenied",
    "SourceNotFound",
    "BackendError",
    "IndexUnavailable",
    "ServiceUnavailable",
    "EmbedderError",
    "LLMError",
    "LLMUnavailable",
    "LLMTimeout",
    "LLMRateLimited",
    "LLMBadResponse",
    "LLMEmptyAnswer",
    "ConfigError",
    "Busy",
]


class CoreError(Exception):
    code = "core_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


# Questions
class InvalidQuestion(CoreError):
    code = "invalid_question"


class EmptyQuestion(InvalidQuestion):
    code = "empty_question"


class QuestionTooLong(InvalidQuestion):
    code = "question_too_long"


# Spaces, bindings, admin operations
class UnknownSpace(CoreError):
    code = "unknown_space"


class NotBound(CoreError):
    code = "not_bound"


class NotFound(CoreError):
    code = "not_found"


class PermissionDenied(CoreError):
    code = "permission_denied"


class InvalidInput(CoreError):
    code = "invalid_input"


class Busy(CoreError):
    code = "busy"


# Ingestion: raised per document, reported in the IngestReport, never fatal to a run
class IngestError(CoreError):
    code = "ingest_error"


class UnsupportedType(IngestError):
    code = "unsupported_type"


class FileTooLarge(IngestError):
    code = "file_too_large"


class EmptyDocument(IngestError):
    code = "empty_document"


class UnreadableDocument(IngestError):
    code = "unreadable_document"


class SourceUnreachable(IngestError):
    code = "source_unreachable"


class SourceDenied(SourceUnreachable):
    """The server refused these credentials, or their owner may not read it (HTTP 401/403)."""

    code = "source_denied"


class SourceNotFound(SourceUnreachable):
    """It is not there (HTTP 404/410, no such repository, branch or Confluence space)."""

    code = "source_not_found"


# Backends translate their library's exceptions into these at the boundary
class BackendError(CoreError):
    code = "backend_error"


class IndexUnavailable(BackendError):
    code = "index_unavailable"


class ServiceUnavailable(BackendError):
    """The service failed to start: questions that waited for it get this."""

    code = "service_unavailable"


class EmbedderError(BackendError):
    code = "embedder_error"


class LLMError(BackendError):
    code = "llm_error"


class LLMUnavailable(LLMError):
    code = "llm_unavailable"


class LLMTimeout(LLMError):
    code = "llm_timeout"


class LLMRateLimited(LLMError):
    code = "llm_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMBadResponse(LLMError):
    code = "llm_bad_response"


class LLMEmptyAnswer(LLMError):
    code = "llm_empty_answer"


class ConfigError(CoreError):
    code = "config_error"
