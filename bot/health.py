"""What the process says about itself over HTTP: ``/healthz`` (alive), ``/readyz`` (ready to
answer, or why not) and ``/metrics`` (Prometheus text).

Liveness and readiness are different questions on purpose. ``/healthz`` answers 200 as long as
the event loop runs, also while the models load and while the language model server is down:
restarting the process would not help then. ``/readyz`` answers 200 only when everything a
question needs is up; otherwise 503 with the reasons, one line each, for a person to act on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

__all__ = ["Readiness", "Check", "health_routes", "HEALTHZ", "READYZ", "METRICS"]

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"

State = Literal["ok", "off", "starting", "down", "stopping"]


@dataclass(frozen=True)
class Check:
    state: State
    detail: str = ""

    @property
    def blocks(self) -> bool:
        """Whether this check keeps /readyz at 503. An adapter that is off (no token) does not:
        a bot without Telegram is ready."""
        return self.state not in ("ok", "off")


class Readiness:
    """Named checks in the order they were first set: service, llm, slack, telegram, scheduler..."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def set(self, name: str, state: State, detail: str = "") -> None:
        self._checks[name] = Check(state, detail)

    @property
    def ready(self) -> bool:
        return bool(self._checks) and not any(c.blocks for c in self._checks.values())

    def reasons(self) -> list[str]:
        return [
            f"{name}: {c.state}" + (f" ({c.detail})" if c.detail else "")
            for name, c in self._checks.items()
            if c.blocks
        ]

    def components(self) -> dict[str, bool]:
        """For ``ragbot_component_up``: every check that is not "off"."""
        return {name: not c.blocks for name, c in self._checks.items() if c.state != "off"}

    def as_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "reasons": self.reasons(),
            "checks": {name: {"state": c.state, "detail": c.detail} for name, c in self._checks.items()},
        }


def health_routes(
    readiness: Readiness, metrics: Callable[[], bytes], content_type: str
) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)

    async def metrics_text(request: web.Request) -> web.Response:
        # prometheus_client's content type carries its own charset and version parameters
        response = web.Response(body=metrics())
        response.headers["Content-Type"] = content_type
        return response

    return [web.get(HEALTHZ, healthz), web.get(READYZ, readyz), web.get(METRICS, metrics_text)]
