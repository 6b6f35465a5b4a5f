"""Chat over Text Generation Inference's native ``/generate_stream`` (LLM_MODE=tgi,
``LLM_BASE_URL=http://tgi:80``).

The native API takes one prompt string, so the messages are rendered here with a chat template
(LLM_TGI_TEMPLATE): ``chatml`` (the default: Qwen, Yi, Hermes and many other instruct models),
``llama3`` or ``mistral``. The template must match the served model; the wrong one gives
rambling answers, not errors. Control tokens found inside message text are removed, so a
document cannot open a new turn.

TGI also speaks the OpenAI Messages API (``/v1/chat/completions``, applying the model's own
chat template from its tokenizer config). To use that instead, set ``LLM_MODE=openai``,
``LLM_BASE_URL=http://tgi:80/v1`` and ``LLM_MODEL=tgi``.

The body is SSE (``data:{json}``): one event per token ``{"token": {"id", "text", "special"},
"generated_text": null}``, the last one with ``generated_text`` and ``details: {finish_reason,
generated_tokens, input_length}`` (``input_length`` only in newer TGI versions). Special tokens
(the end-of-turn token) are not text and are skipped. Errors are ``{"error", "error_type"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import httpx

from core.backends.llm_http import (
    HttpChatModel,
    RetryPolicy,
    ServerReportedError,
    SseStreamReader,
    as_int,
    error_detail,
    loads_object,
)
from core.errors import ConfigError
from core.models import ChatDelta, ChatMessage, ChatUsage

__all__ = [
    "TgiChatModel",
    "TgiStreamReader",
    "PromptTemplate",
    "PROMPT_TEMPLATES",
    "render_chatml",
    "render_llama3",
    "render_mistral",
    "DEFAULT_TGI_URL",
]

DEFAULT_TGI_URL = "http://tgi:80"  # the service name in the spec's docker-compose example

PromptTemplate = Literal["chatml", "llama3", "mistral"]

# TGI's finish reasons, in the words the OpenAI API uses for the same thing.
_FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}


def _clean(text: str, control: Sequence[str]) -> str:
    for token in control:
        text = text.replace(token, "")
    return text


_CHATML_CONTROL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


def render_chatml(messages: Sequence[ChatMessage]) -> str:
    """``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, then an open assistant turn."""
    turns = [f"<|im_start|>{m.role}\n{_clean(m.content, _CHATML_CONTROL)}<|im_end|>\n" for m in messages]
    return "".join(turns) + "<|im_start|>assistant\n"


_LLAMA3_CONTROL = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def render_llama3(messages: Sequence[ChatMessage]) -> str:
    """Llama 3 headers. No ``<|begin_of_text|>``: TGI's tokenizer adds the BOS token itself."""
    turns = [
        f"<|start_header_id|>{m.role}<|end_header_id|>\n\n{_clean(m.content, _LLAMA3_CONTROL).strip()}<|eot_id|>"
        for m in messages
    ]
    return "".join(turns) + "<|start_header_id|>assistant<|end_header_id|>\n\n"


_MISTRAL_CONTROL = ("[INST]", "[/INST]", "<s>", "</s>")


def render_mistral(messages: Sequence[ChatMessage]) -> str:
    """``[INST] ... [/INST]answer</s>``. Mistral has no system role: the system text opens the
    first user turn. No ``<s>``: TGI's tokenizer adds the BOS token itself."""
    system = "\n\n".join(_clean(m.content, _MISTRAL_CONTROL).strip() for m in messages if m.role == "system")
    out: list[str] = []
    pending_system = system
    for m in messages:
        content = _clean(m.content, _MISTRAL_CONTROL).strip()
        if m.role == "user":
            if pending_system:
                content = f"{pending_system}\n\n{content}"
                pending_system = ""
            out.append(f"[INST] {content} [/INST]")
        elif m.role == "assistant":
            out.append(f"{content}</s>")
    if pending_system:  # a system message and no user turn at all
        out.append(f"[INST] {pending_system} [/INST]")
    return "".join(out)


PROMPT_TEMPLATES: dict[str, Callable[[Sequence[ChatMessage]], str]] = {
    "chatml": render_chatml,
    "llama3": render_llama3,
    "mistral": render_mistral,
}


class TgiStreamReader(SseStreamReader):
    """Reads ``/generate_stream`` events: a token each, the last one with ``generated_text`` and
    the details (finish reason, token counts)."""

    def on_data(self, data: str) -> list[ChatDelta]:
        obj = loads_object(data, self.bad)
        if obj is None:
            return []
        if "error" in obj:
            raise ServerReportedError(
                error_detail(obj) or "unknown error", overloaded=obj.get("error_type") == "overloaded"
            )
        token = obj.get("token")
        final = obj.get("generated_text") is not None
        if not isinstance(token, dict) and not final:
            self.bad.add(data)
            return []
        deltas: list[ChatDelta] = []
        if isinstance(token, dict) and not token.get("special"):
            text = token.get("text")
            if isinstance(text, str) and text:
                deltas.append(ChatDelta(text=text))
        if final:
            self.done = True
            details = obj.get("details")
            if isinstance(details, dict):
                reason = details.get("finish_reason")
                usage = ChatUsage(
                    as_int(details.get("input_length")), as_int(details.get("generated_tokens"))
                )
                deltas.append(ChatDelta(usage=usage, finish_reason=_FINISH.get(str(reason), str(reason))))
            else:
                deltas.append(ChatDelta(finish_reason="stop"))
        return deltas


class TgiChatModel(HttpChatModel):
    backend: ClassVar[str] = "tgi"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        template: str = "chatml",
        model: str | None = None,  # only a label: TGI serves one model
        timeout: float = 240.0,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if template not in PROMPT_TEMPLATES:
            raise ConfigError(
                f"LLM_TGI_TEMPLATE={template!r} is not one of {', '.join(sorted(PROMPT_TEMPLATES))}."
            )
        super().__init__(
            base_url=base_url or DEFAULT_TGI_URL,
            model=model,
            timeout=timeout,
            retry=retry,
            api_key=api_key,
            transport=transport,
        )
        self.template = template
        self._render = PROMPT_TEMPLATES[template]

    def _reader(self) -> TgiStreamReader:
        return TgiStreamReader()

    def _request(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, Any]]:
        parameters: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "details": True,
            "return_full_text": False,
        }
        # TGI wants temperature > 0; zero means greedy decoding, which is do_sample=false.
        if temperature > 0:
            parameters.update(do_sample=True, temperature=temperature)
        else:
            parameters["do_sample"] = False
        return "generate_stream", {"inputs": self._render(messages), "parameters": parameters}
