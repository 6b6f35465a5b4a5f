"""Benchmark: many people asking at once, through the whole service, with a bounded model.

``n`` questions are asked at the same moment through ``RagService.ask`` with
``LLM_CONCURRENCY=concurrency``. The model is a local OpenAI-compatible server
(``core.testing.fake_llm_servers``) that streams ``reply_words`` pieces, ``token_delay_s`` apart,
reached through the real ``OpenAIChatModel`` backend (HTTP, SSE, usage). With ``real_index`` the
service is the production wiring (``bot.bootstrap.build_service``: SQLite, qdrant-edge, Whoosh,
the e5 embedder) over the example documents (English and Russian); otherwise the deterministic
fakes stand in for the store, indexes and embedder.

It reports:

- that every question was answered and none was lost (answers, errors, requests the model got);
- the queue: the largest position any question was told, and how many questions waited;
- per answer: total time, time in the queue, model time (request to last token) and the service's
  own overhead = total - queue - model (retrieval, prompt, recording the answer, metrics), p50/p95.

The model's time is known by construction (``reply_words * token_delay_s``), so the overhead is
what the service adds on top of a model it has to wait for."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.bootstrap import build_service
from bot.metrics import PrometheusObserver
from bot.settings import Settings
from core.backends.llm_http import RetryPolicy
from core.backends.llm_openai import OpenAIChatModel
from core.errors import CoreError
from core.models import AnswerDone, Question, QueuePosition
from core.service import RagService
from core.settings import AnswerSettings, LLMSettings, SchedulerSettings
from core.testing.fake_llm_servers import FakeLLMServer, Reply
from core.testing.fake_service import make_service

__all__ = ["run", "QUESTIONS"]

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs" / "sds-local-volume"
_FALLBACK_DOC = """# sds-local-volume

The module manages local block storage based on LVM. Use LVM (thick) for the best performance and
LVM-thin when you need overprovisioning. Create a LocalStorageClass to provision volumes.
"""

QUESTIONS = [
    "When should I use LVM and when LVM-thin?",
    "Why can't I create a PVC on the selected node?",
    "How do I create a LocalStorageClass for thick volumes?",
    "How do I enable the sds-local-volume module?",
    "What happens when an LVM-thin pool runs out of space?",
    "How do I check that the csi-node pod is running?",
    "Which nodes get the module's service pods?",
    "How do I remove a LocalStorageClass?",
    "What is a LVMVolumeGroup?",
    "How do I expand a volume?",
    "Когда использовать LVM, а когда LVM-thin?",
    "Почему не создаётся PVC на выбранном узле?",
    "Как создать LocalStorageClass для толстых томов?",
    "Как включить модуль sds-local-volume?",
    "Что будет, если в пуле LVM-thin закончится место?",
    "Как проверить, что под csi-node запущен?",
    "На каких узлах создаются служебные поды модуля?",
    "Как удалить LocalStorageClass?",
    "Что такое LVMVolumeGroup?",
    "Как расширить том?",
]


@dataclass
class _Ask:
    total_s: float = 0.0
    queue_s: float = 0.0
    model_s: float = 0.0
    retrieval_s: float = 0.0
    positions: list[int] = field(default_factory=list)
    error: str | None = None
    answered: bool = False


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_pct(values, 0.5) * 1000, 1),
        "p95": round(_pct(values, 0.95) * 1000, 1),
        "max": round(max(values, default=0.0) * 1000, 1),
    }


async def _ask(service: RagService, text: str, space: str) -> _Ask:
    result = _Ask()
    started = time.perf_counter()
    try:
        async for event in service.ask(Question(text=text, space_id=space)):
            if isinstance(event, QueuePosition):
                result.positions.append(event.position)
            elif isinstance(event, AnswerDone):
                t = event.answer.timings
                result.queue_s, result.model_s = t.queue_s, t.prefill_s + t.decode_s
                result.retrieval_s = t.retrieval_s
                result.answered = bool(event.answer.text.strip())
    except CoreError as e:
        result.error = f"{e.code}: {e.message}"
    result.total_s = time.perf_counter() - started
    return result


async def _service(tmp: Path, llm: LLMSettings, *, real_index: bool) -> tuple[RagService, Path]:
    docs = _EXAMPLES / "docs"
    if not docs.is_dir():  # an installed package without the repository's examples
        docs = tmp / "docs"
        docs.mkdir()
        (docs / "README.md").write_text(_FALLBACK_DOC, encoding="utf-8")
    no_cache = AnswerSettings(cache_ttl_s=0)  # every question goes to the model
    if real_index:
        settings = Settings(
            data_dir=tmp / "data", llm=llm, answer=no_cache, scheduler=SchedulerSettings(enabled=False)
        )
        return build_service(settings, observer=PrometheusObserver()), docs
    chat = OpenAIChatModel(
        base_url=llm.base_url,
        model=llm.model,
        flavour="vllm",
        retry=RetryPolicy(retries=0),
        timeout=llm.timeout,
    )
    service = make_service(chat=chat, concurrency=llm.concurrency, cache_ttl_s=0, answer=no_cache)
    service.observer = PrometheusObserver()
    return service, docs


async def run(
    n: int = 20,
    concurrency: int = 2,
    *,
    token_delay_s: float = 0.02,
    reply_words: int = 25,
    real_index: bool = True,
) -> dict[str, Any]:
    """Ask ``n`` questions at once with ``concurrency`` generations allowed; returns the figures."""
    reply = " ".join(f"w{i}" for i in range(reply_words - 1)) + " [1]."
    async with FakeLLMServer("openai", reply=reply, model="fake-model") as server:
        server.script(*[Reply(delay_s=token_delay_s)] * n)
        llm = LLMSettings(
            mode="vllm", base_url=server.base_url, model="fake-model", concurrency=concurrency, retries=0
        )
        with tempfile.TemporaryDirectory(prefix="ragbot-bench-load-") as tmp:
            service, docs = await _service(Path(tmp), llm, real_index=real_index)
            try:
                started = time.perf_counter()
                await service.start()
                start_s = time.perf_counter() - started
                report = await service.ingest("bench", [str(docs)])
                questions = [
                    QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
                    for i in range(n)
                ]
                began = time.perf_counter()
                asks = await asyncio.gather(*(_ask(service, q, "bench") for q in questions))
                wall_s = time.perf_counter() - began
            finally:
                await service.aclose()
        model_requests = sum(1 for r in server.requests if r.path.endswith("/chat/completions"))

    answered = [a for a in asks if a.answered]
    waited = [a for a in asks if a.positions]
    overhead = [a.total_s - a.queue_s - a.model_s for a in answered]
    return {
        "n": n,
        "llm_concurrency": concurrency,
        "index": "real (SQLite, qdrant-edge, Whoosh, e5)" if real_index else "fakes",
        "documents": len(report.outcomes),
        "chunks": report.chunks_written,
        "service_start_s": round(start_s, 2),
        "model_time_per_answer_s": round(reply_words * token_delay_s, 3),
        "answered": len(answered),
        "lost": n - len(answered),
        "errors": [a.error for a in asks if a.error],
        "model_requests": model_requests,
        "questions_that_waited": len(waited),
        "max_queue_position": max((max(a.positions) for a in waited), default=0),
        "wall_s": round(wall_s, 2),
        "answers_per_s": round(len(answered) / wall_s, 2) if wall_s else 0.0,
        "total_ms": _ms([a.total_s for a in answered]),
        "queue_ms": _ms([a.queue_s for a in answered]),
        "model_ms": _ms([a.model_s for a in answered]),
        "retrieval_ms": _ms([a.retrieval_s for a in answered]),
        "overhead_ms": _ms(overhead),
        "overhead_mean_ms": round(statistics.fmean(overhead) * 1000, 1) if overhead else 0.0,
    }


if __name__ == "__main__":
    import json
    import sys

    real = "--fakes" not in sys.argv
    print(json.dumps(asyncio.run(run(real_index=real)), indent=2, ensure_ascii=False))
