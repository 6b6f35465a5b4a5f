"""Prometheus metrics: the spec's figures (retrieval time, prefill, decode, tokens/s, context
size, hit-rate) and the service's health (queue, errors, ingestion, feedback).

``PrometheusObserver`` is the ``core.ports.ServiceObserver`` the service reports to; it owns its
own registry so tests and several services in one process do not collide."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from core.models import Answer, IngestReport, OutcomeStatus, Vote

__all__ = ["PrometheusObserver", "CONTENT_TYPE_LATEST"]

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_MODEL_TIME = (0.25, 0.5, 1, 2, 5, 10, 20, 40, 60, 120, 240)


class PrometheusObserver:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.questions = Counter(
            "ragbot_questions_total", "Answers delivered", ["space", "cache"], registry=r
        )
        self.retrieval = Histogram(
            "ragbot_retrieval_seconds", "Hybrid retrieval time per question", buckets=_LATENCY, registry=r
        )
        self.prefill = Histogram(
            "ragbot_time_to_first_token_seconds",
            "Model prefill: request to first token",
            buckets=_MODEL_TIME,
            registry=r,
        )
        self.decode = Histogram("ragbot_decode_seconds", "Model decode time", buckets=_MODEL_TIME, registry=r)
        self.tokens_per_s = Histogram(
            "ragbot_decode_tokens_per_second",
            "Decode speed",
            buckets=(1, 2, 5, 10, 15, 20, 30, 50, 100),
            registry=r,
        )
        self.context_tokens = Histogram(
            "ragbot_context_tokens",
            "Tokens of context put in the prompt",
            buckets=(250, 500, 1000, 1500, 2000, 3000, 4000, 6000),
            registry=r,
        )
        self.queue_wait = Histogram(
            "ragbot_queue_wait_seconds", "Wait for a generation slot", buckets=_MODEL_TIME, registry=r
        )
        self.cited = Counter("ragbot_answers_citing_total", "Answers citing at least one source", registry=r)
        self.declined = Counter(
            "ragbot_answers_declined_total", "Answers saying the documents lack it", registry=r
        )
        self.errors = Counter(
            "ragbot_errors_total", "Questions that failed, by error code", ["code"], registry=r
        )
        self.ingest_runs = Counter("ragbot_ingest_runs_total", "Ingestion runs", ["result"], registry=r)
        self.ingest_docs = Counter(
            "ragbot_ingest_documents_total", "Documents per outcome", ["status"], registry=r
        )
        self.votes = Counter("ragbot_feedback_votes_total", "Feedback votes", ["value"], registry=r)
        self.verified = Counter(
            "ragbot_answers_verified_total",
            "Answers given from a verified answer (no model call; docs/feedback.md)",
            ["space"],
            registry=r,
        )
        self.queue_length = Gauge(
            "ragbot_generation_queue_length", "Questions waiting for the model", registry=r
        )
        self.answer_time = Histogram(
            "ragbot_answer_seconds",
            "Question to finished answer (cache misses)",
            buckets=_MODEL_TIME,
            registry=r,
        )
        self.interrupted = Counter(
            "ragbot_answers_interrupted_total",
            "Answers cut off after text was streamed",
            ["reason"],
            registry=r,
        )
        self.scheduler_leader = Gauge(
            "ragbot_scheduler_leader", "1 while this process holds the scheduler lease", registry=r
        )
        self.build = Info("ragbot_build", "ragbot version", registry=r)
        self.build.info({"version": _version()})

    def watch_queue(self, length: Callable[[], int]) -> None:
        """Read the queue length at scrape time (no updates to forget)."""
        self.queue_length.set_function(length)

    def watch_scheduler(self, is_leader: Callable[[], bool]) -> None:
        self.scheduler_leader.set_function(lambda: 1.0 if is_leader() else 0.0)

    def watch_components(self, snapshot: Callable[[], Mapping[str, bool]]) -> None:
        """``ragbot_component_up{component}`` and ``ragbot_ready``, read at scrape time from
        ``snapshot()`` (component -> up; the runtime's readiness checks)."""
        self.registry.register(_ComponentsCollector(snapshot))

    # core.ports.ServiceObserver
    def answered(self, answer: Answer) -> None:
        t = answer.timings
        self.questions.labels(answer.space_id, "hit" if answer.cache_hit else "miss").inc()
        if answer.verified is not None:  # no retrieval, no model: its timings would skew theirs
            self.verified.labels(answer.space_id).inc()
            return
        if answer.cache_hit:
            return
        self.answer_time.observe(t.total_s)
        if answer.interrupted:
            self.interrupted.labels(answer.interrupted).inc()
        self.retrieval.observe(t.retrieval_s)
        if t.prefill_s > 0:
            self.prefill.observe(t.prefill_s)
            self.decode.observe(t.decode_s)
            self.queue_wait.observe(t.queue_s)
        if t.tokens_per_s > 0:
            self.tokens_per_s.observe(t.tokens_per_s)
        if t.context_tokens:
            self.context_tokens.observe(t.context_tokens)
        if answer.cites_any:
            self.cited.inc()
        if answer.declined:
            self.declined.inc()

    def failed(self, code: str) -> None:
        self.errors.labels(code).inc()

    def ingested(self, report: IngestReport) -> None:
        self.ingest_runs.labels("ok" if report.ok else "failures").inc()
        for status in OutcomeStatus:
            n = report.count(status)
            if n:
                self.ingest_docs.labels(status.value).inc(n)

    def voted(self, vote: Vote, changed: bool) -> None:
        self.votes.labels("up" if vote.value > 0 else "down").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ComponentsCollector(Collector):
    def __init__(self, snapshot: Callable[[], Mapping[str, bool]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = dict(self._snapshot())
        up = GaugeMetricFamily(
            "ragbot_component_up", "1 when a component is up (service, llm, adapters)", labels=["component"]
        )
        for name, ok in sorted(states.items()):
            up.add_metric([name], 1.0 if ok else 0.0)
        yield up
        yield GaugeMetricFamily(
            "ragbot_ready",
            "1 when /readyz answers 200",
            value=1.0 if states and all(states.values()) else 0.0,
        )


def _version() -> str:
    try:
        return importlib.metadata.version("ragbot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
