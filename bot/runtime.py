"""One ragbot process: the HTTP server, the chat adapters, the pin scheduler and the service.

``Runtime`` owns the order of things, which is the whole point of it:

start
  1. the HTTP server, first, so ``/healthz`` answers (and ``/readyz`` says "starting") while the
     models load; the adapters' routes answer 503 until the adapters are up;
  2. the service: store (migrations), vector and keyword indexes, embedder, language model. Any
     failure here (Qdrant unreachable, a database behind its migrations, the embedded model's
     packages missing) stops the start with the component's own message;
  3. the language model server is probed (LLM_MODE=ollama|vllm|tgi|openai): when it does not answer,
     the process runs on in a *degraded mode*: ``/readyz`` is 503 with the reason, the probe is
     repeated every 15 s, and questions get the chat layer's "cannot reach the language model"
     message once the backend's retries are spent. Nothing else depends on the model, so
     ingestion, admin commands, feedback and the scheduler keep working;
  4. the adapters (a refused token stops the start), then the scheduler.

stop (``aclose``, on SIGTERM/SIGINT)
  1. ``/readyz`` turns 503 ("stopping") and the adapters' routes answer 503, so Slack and Telegram
     deliver new events again later (to this process after the restart, or to another replica);
  2. the adapters stop taking events and give the answers in flight ``grace_s`` to finish; the
     rest are cancelled, and each closes its message with a "restarting" note. The scheduler
     gets the same grace for a running re-ingestion (a cancelled one leaves the previous version
     serving: the catalogue flips a document's live version only once its new chunks are in);
  3. the HTTP server, then the service (indexes flushed, database closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot.adapter import ChatAdapter
from bot.bootstrap import build_service
from bot.console import CONSOLE_PATH, build_console, console_admins, mount_console, sign_in_links
from bot.health import Readiness, health_routes
from bot.llm_probe import LlmProbe
from bot.logs import redacted_url
from bot.metrics import CONTENT_TYPE_LATEST, PrometheusObserver
from bot.scheduler import PinScheduler
from bot.settings import Settings
from bot.settings_check import AdapterPlan, adapter_plan, check_settings
from core.errors import ConfigError
from core.service import RagService

__all__ = ["Runtime", "build_runtime", "build_adapters"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LLM_RECHECK_DOWN_S = 15.0
LLM_RECHECK_UP_S = 60.0
HTTP_SHUTDOWN_S = 5.0  # adapters' handlers only ack and hand off; none runs longer than this
ADAPTERS_WAIT_S = 2.0  # an early event may wait this long for the adapters: Slack wants an ack in 3 s


def build_adapters(settings: Settings, service: RagService, plan: Sequence[AdapterPlan]) -> list[ChatAdapter]:
    """The adapters whose token is set. Each import pulls its platform library, so only the ones
    that run are imported."""
    enabled = {p.name for p in plan if p.enabled}
    console = sign_in_links(settings.console)  # None unless the console is on with CONSOLE_PUBLIC_URL
    adapters: list[ChatAdapter] = []
    if "slack" in enabled:
        from bot.slack.adapter import SlackAdapter

        adapters.append(SlackAdapter(settings.slack, service, console=console))
    if "telegram" in enabled:
        from bot.telegram.adapter import TelegramAdapter

        adapters.append(
            TelegramAdapter(
                settings.telegram, service, max_file_mb=settings.ingest.max_file_mb, console=console
            )
        )
    return adapters


def build_runtime(settings: Settings) -> Runtime:
    """Check the settings (``ConfigError`` listing every problem) and wire everything; nothing
    is started and no network is touched."""
    warnings = check_settings(settings)
    observer = PrometheusObserver()
    service = build_service(settings, observer=observer)
    plan = adapter_plan(settings)
    adapters = build_adapters(settings, service, plan)
    return Runtime(
        settings,
        service,
        observer=observer,
        adapters=adapters,
        plan=plan,
        probe=LlmProbe(settings.llm),
        warnings=warnings,
    )


class Runtime:
    def __init__(
        self,
        settings: Settings,
        service: RagService,
        *,
        observer: PrometheusObserver,
        adapters: Sequence[ChatAdapter] = (),
        plan: Sequence[AdapterPlan] = (),
        probe: LlmProbe | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.service = service
        self.observer = observer
        self.adapters = list(adapters)
        self.plan = list(plan)
        self.probe = probe
        self.warnings = list(warnings)
        self.readiness = Readiness()
        self.scheduler: PinScheduler | None = None
        self._running: list[ChatAdapter] = []
        self._runner: web.AppRunner | None = None
        self._accepting = False
        self._accepting_now = asyncio.Event()
        self._stopping = False
        self._closed = False
        self._llm_task: asyncio.Task[None] | None = None
        self._llm_down: str | None = None
        self._service_up = False

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (PORT=0 picks a free one)."""
        assert self._runner is not None, "not started"
        return int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        host = self.settings.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.port}"

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._log_plan()
        self.readiness.set("service", "starting", "store, indexes, embedder, language model")
        self.readiness.set("llm", "starting", self._llm_where())
        for p in self.plan:
            self.readiness.set(p.name, "starting" if p.enabled else "off", p.why)
        scheduler_on = self.settings.scheduler.enabled
        self.readiness.set(
            "scheduler",
            "starting" if scheduler_on else "off",
            "" if scheduler_on else "SCHEDULER_ENABLED=false",
        )
        self.observer.watch_queue(lambda: self.service.queue_length)
        self.observer.watch_components(self.readiness.components)

        await self._start_http()
        # The adapters need only the store (event claims, bindings): they take events from here,
        # and questions asked while the models load wait for them instead of being refused.
        await self.service.open()
        self._service_up = True  # the console needs only the store
        modes = {p.name: p.why for p in self.plan}
        for adapter in self.adapters:
            await adapter.start()  # a refused token raises ConfigError: the start stops here
            self._running.append(adapter)
            self.readiness.set(adapter.name, "ok", modes.get(adapter.name, ""))
        self._accepting = True
        self._accepting_now.set()

        await self.service.warm_up()
        self.readiness.set("service", "ok")
        log.info("serve.service_started")

        await self.check_llm()
        if self.probe is not None and self.probe.remote:
            self._llm_task = asyncio.create_task(self._watch_llm(), name="llm-probe")

        if scheduler_on:
            self.scheduler = PinScheduler(self.service, self.settings.scheduler, alert=self.alert)
            await self.scheduler.start()
            self.observer.watch_scheduler(lambda: self.scheduler is not None and self.scheduler.is_leader)
            self.readiness.set("scheduler", "ok", "pins refreshed by the replica holding the lease")
        ready = self.readiness.ready
        log.info(
            "serve.%s url=%s adapters=%s%s",
            "ready" if ready else "degraded",
            self.url,
            ",".join(a.name for a in self._running) or "none",
            "" if ready else " reasons=" + "; ".join(self.readiness.reasons()),
        )

    def _log_plan(self) -> None:
        s = self.settings
        store = redacted_url(s.database_url) if s.database_url else f"sqlite {s.data_dir / 'ragbot.db'}"
        vectors = (
            f"qdrant-server {redacted_url(s.qdrant.url)}"
            if s.qdrant.url
            else f"qdrant-edge {s.data_dir / 'qdrant'}"
        )
        log.info(
            "serve.config data_dir=%s store=%s vectors=%s keywords=%s embedding=%s llm=%s llm_concurrency=%d",
            s.data_dir,
            store,
            vectors,
            s.keyword_backend,
            s.embedding.model,
            self._llm_where(),
            s.llm.concurrency,
        )
        for p in self.plan:
            log.info("serve.adapter %s", p.describe())
        log.info("serve.scheduler %s", "on" if s.scheduler.enabled else "off (SCHEDULER_ENABLED=false)")
        for warning in self.warnings:
            log.warning("serve.config_warning %s", warning)

    def _llm_where(self) -> str:
        llm = self.settings.llm
        model = llm.model or "default model"
        if llm.mode == "embedded":
            return f"embedded {model}"
        return f"{llm.mode} {redacted_url(llm.base_url or '')} {model}"

    async def _start_http(self) -> None:
        app = web.Application()
        app.add_routes(health_routes(self.readiness, self.observer.exposition, CONTENT_TYPE_LATEST))
        for adapter in self.adapters:
            for route in adapter.routes():
                app.router.add_route(route.method, route.path, self._gated(route.handler), **route.kwargs)
                log.info("serve.route adapter=%s %s %s", adapter.name, route.method, route.path)
        if self.settings.console.enabled:
            # the console answers "starting" until the service (its store) is up (docs/console.md)
            console = build_console(
                self.settings.console,
                self.service,
                admins=console_admins(self.settings, self.service),
                available=lambda: self._service_up,
            )
            mount_console(app, console)
            log.info("serve.route console %s/", CONSOLE_PATH)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_S)
        await runner.setup()
        host, port = self.settings.server.host, self.settings.server.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as e:
            await runner.cleanup()
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({e.strerror or e}): another process holds the port, "
                "or the address is not this machine's. Set HOST and PORT."
            ) from e
        self._runner = runner
        log.info("serve.listening url=%s health=/healthz ready=/readyz metrics=/metrics", self.url)

    def _gated(self, handler: Handler) -> Handler:
        """An event that arrives before the adapters are up (the store is opening: a second or
        two) waits for them within the platform's patience; one after shutdown began, or still
        too early, gets 503 and Slack and Telegram deliver it again later."""

        async def gated(request: web.Request) -> web.StreamResponse:
            if not self._accepting and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._accepting_now.wait(), ADAPTERS_WAIT_S)
            if not self._accepting:
                state = "shutting down" if self._stopping else "starting"
                return web.json_response(
                    {"error": f"ragbot is {state}"}, status=503, headers={"Retry-After": "30"}
                )
            return await handler(request)

        return gated

    # -- the language model server ----------------------------------------------------------

    async def check_llm(self) -> None:
        """Probe the language model server now and update ``/readyz`` (done at start, then every
        15 s while the server is down and every 60 s while it is up)."""
        if self.probe is None or not self.probe.remote:
            self.readiness.set("llm", "ok", self._llm_where())
            return
        reason = await self.probe.check()
        if reason is None:
            if self._llm_down is not None:
                log.info("llm.up %s", self.probe.where)
            self._llm_down = None
            self.readiness.set("llm", "ok", self._llm_where())
            return
        if self._llm_down != reason:
            log.warning(
                "llm.down reason=%s; degraded mode: ragbot keeps running (ingestion, admin commands, feedback), "
                "questions get 'cannot reach the language model' until it is back; checking every %.0f s",
                reason,
                LLM_RECHECK_DOWN_S,
            )
        self._llm_down = reason
        self.readiness.set("llm", "down", reason)

    async def _watch_llm(self) -> None:
        while True:
            await asyncio.sleep(LLM_RECHECK_DOWN_S if self._llm_down else LLM_RECHECK_UP_S)
            try:
                await self.check_llm()
            except Exception:  # the watch must outlive any surprise from the probe
                log.exception("llm.probe_failed")

    # -- alerts (the scheduler's failing pins) --------------------------------------------------

    async def alert(self, text: str) -> None:
        """Deliver an admin alert through every running adapter."""
        if not self._running:
            log.warning("alert.undelivered: no chat adapter is running; alert=%s", text[:300])
            return
        results = await asyncio.gather(*(a.alert(text) for a in self._running), return_exceptions=True)
        for adapter, result in zip(self._running, results, strict=True):
            if isinstance(result, BaseException):
                log.error("alert.failed adapter=%s error=%s", adapter.name, result)

    # -- stop -----------------------------------------------------------------------------------

    async def aclose(self, grace_s: float | None = None) -> None:
        """Stop taking events, let answers in flight finish for up to ``grace_s`` (default
        SHUTDOWN_GRACE_S), close the rest with a note, then close everything. Safe to call after
        a failed or partial start, and more than once."""
        if self._closed:
            return
        self._closed = True
        grace = self.settings.server.shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        self._accepting = False
        self.readiness.set("process", "stopping", "shutting down")
        log.info("serve.stopping grace_s=%.0f", grace)
        if self._llm_task is not None:
            self._llm_task.cancel()
            await asyncio.gather(self._llm_task, return_exceptions=True)
        closing = [self._close_adapter(a, grace) for a in self.adapters]
        if self.scheduler is not None:
            closing.append(self._close_scheduler(self.scheduler, grace))
        await asyncio.gather(*closing)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.service.aclose()
        log.info("serve.stopped")

    async def _close_adapter(self, adapter: ChatAdapter, grace_s: float) -> None:
        try:
            await adapter.aclose(grace_s)
        except Exception:  # one adapter failing to close must not keep the others open
            log.exception("serve.adapter_close_failed adapter=%s", adapter.name)

    async def _close_scheduler(self, scheduler: PinScheduler, grace_s: float) -> None:
        try:
            await asyncio.wait_for(scheduler.aclose(), timeout=max(grace_s, 1.0))
        except TimeoutError:
            log.warning("scheduler.cancelled: a re-ingestion was still running after %.0f s", grace_s)
        except Exception:
            log.exception("scheduler.close_failed")
