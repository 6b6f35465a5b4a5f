"""Is the language model server there? A cheap GET against the server the chat backend talks to,
for ``/readyz`` and the start-up log of ``ragbot serve``.

The chat backends never probe: they try when asked and fail with a readable ``LLMError``. The
runtime wants to know sooner, so that an Ollama that is down, or up without the model pulled,
shows on ``/readyz`` and in the log before the first person asks. Each server has an endpoint
that answers without generating anything:

- Ollama: ``GET /api/tags`` (also tells whether ``LLM_MODEL`` has been pulled);
- vLLM and OpenAI: ``GET {base}/models`` (vLLM: whether it serves ``LLM_MODEL``);
- TGI: ``GET /health`` (503 while the model is still loading).

The embedded model runs inside ragbot: it is up once the service has started it.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from yarl import URL

from bot.logs import redacted_url
from core.settings import LLMSettings

__all__ = ["LlmProbe"]

log = logging.getLogger(__name__)


def _ollama_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class LlmProbe:
    """``await probe.check()`` returns None when the server answers as it should, else the reason,
    written for the person reading ``/readyz``."""

    def __init__(self, settings: LLMSettings, *, timeout_s: float = 5.0) -> None:
        self.mode = settings.mode
        self.base_url = (settings.base_url or "").rstrip("/")
        self.model = settings.model
        self.api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self.timeout_s = timeout_s

    @property
    def remote(self) -> bool:
        return self.mode != "embedded"

    @property
    def where(self) -> str:
        return f"{self.mode} at {redacted_url(self.base_url)}"

    def _endpoint(self) -> str:
        if self.mode == "ollama":
            return f"{self.base_url}/api/tags"
        if self.mode == "tgi":
            return f"{self.base_url}/health"
        return f"{self.base_url}/models"  # vllm, openai: the base URL ends in /v1

    async def check(self) -> str | None:
        if not self.remote:
            return None
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            # trust_env: the chat backend honours HTTP(S)_PROXY for remote servers, so the probe does too
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=True) as session,
                session.get(self._endpoint(), headers=headers) as response,
            ):
                status = response.status
                body: Any = None
                if status == 200 and self.mode != "tgi":
                    body = await response.json(content_type=None)
        except TimeoutError:
            return f"no answer from {self.where} within {self.timeout_s:.0f} s"
        except aiohttp.ClientConnectorDNSError:
            return f"cannot reach {self.where} (host name not found: is the {self.mode} service running?)"
        except aiohttp.ClientConnectorError as e:
            return f"cannot reach {self.where} ({_why(e.os_error)})"
        except (aiohttp.ClientError, ValueError) as e:
            return f"{self.where} answered, but not as expected ({type(e).__name__}: {e})"
        return self._judge(status, body)

    def _judge(self, status: int, body: Any) -> str | None:
        if status in (401, 403):
            return f"{self.where} refused the API key (LLM_API_KEY): HTTP {status}"
        if status == 503 and self.mode == "tgi":
            return f"{self.where} is still loading the model (HTTP 503 on /health)"
        if status != 200:
            return f"{self.where} answered HTTP {status} on {URL(self._endpoint()).path}"
        if self.mode == "ollama" and self.model:
            names = {_ollama_name(str(m.get("name", ""))) for m in _items(body, "models")}
            if _ollama_name(self.model) not in names:
                return (
                    f"{self.where} is up, but the model {self.model} is not pulled yet "
                    f"(pull it: docker compose exec ollama ollama pull {self.model})"
                )
        if self.mode == "vllm" and self.model:
            served = sorted(str(m.get("id", "")) for m in _items(body, "data"))
            if served and self.model not in served:
                return f"{self.where} serves {', '.join(served)}, not LLM_MODEL={self.model}"
        return None


def _why(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    return error.strerror or str(error)


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    return [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []
