"""Admin commands, the same on every platform: `/ragbot bind ops` in Slack and `/bind ops` in
Telegram both end here. Parsing is strict and every outcome is a sentence for the person."""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, replace

from bot.chat.intervals import describe_interval, parse_interval
from bot.chat.messages import not_admin_text
from core.errors import CoreError, InvalidInput
from core.models import Binding, IngestReport, OutcomeStatus
from core.service import RagService

__all__ = ["Command", "CommandContext", "AdminCommands", "parse_command", "COMMANDS"]

log = logging.getLogger(__name__)

# name -> (arguments, what it does); the order is the order of the help text
COMMANDS: dict[str, tuple[str, str]] = {
    "bind": ("<space>", "answer in this channel from <space> (creates it on first ingest)"),
    "unbind": ("", "stop answering in this channel"),
    "pin": ("<url> [every 6h] [type <doc_type>]", "ingest a URL now and keep it fresh on a schedule"),
    "unpin": ("<url>", "stop refreshing a source and remove its documents"),
    "reindex": ("", "read every source of this channel's space again"),
    "status": ("", "documents, chunks, last sync and failing sources of this channel's space"),
    "stats": ("", "feedback: votes, thumbs-up rate, worst-rated answers"),
    "config": (
        "[mode mention|questions] [visibility thread|private] [type <doc_type>|none] [lang en|ru|auto] "
        '[prompts "<question>" ...|auto]',
        "how this channel answers (docs/chat.md); without arguments, the current settings",
    ),
    "help": ("", "this list"),
}


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class CommandContext:
    platform: str
    channel_id: str
    user_id: str
    is_admin: bool
    team_id: str = ""
    lang: str = "en"
    prefix: str = "/ragbot "  # how commands are typed on this platform, for the help text


def parse_command(text: str) -> Command:
    """'pin https://x every 6h' -> Command('pin', ('https://x', 'every', '6h'))."""
    try:
        words = shlex.split(text.strip())
    except ValueError:  # an unbalanced quote: fall back to plain words
        words = text.split()
    if not words:
        return Command("help", ())
    return Command(words[0].lower().lstrip("/"), tuple(words[1:]))


def _report_line(report: IngestReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in OutcomeStatus if report.count(s)]
    line = ", ".join(parts) or "nothing to do"
    failures = "".join(f"\n• {o.source}: {o.reason}" for o in report.failed[:10])
    return f"{line} ({report.chunks_written} chunks written){failures}"


class AdminCommands:
    def __init__(self, service: RagService) -> None:
        self.service = service

    def help_text(self, ctx: CommandContext) -> str:
        lines = ["*ragbot commands* (admins only, except help):"]
        for name, (args, what) in COMMANDS.items():
            lines.append(f"• `{ctx.prefix}{name}{' ' + args if args else ''}` — {what}")
        types = [t.name for t in self.service.doc_types]
        if types:
            lines.append(
                "To ask within one document type, start a question with it, "
                f"e.g. `{types[0]}: ...` ({', '.join(types)})."
            )
        return "\n".join(lines)

    async def run(self, command: Command, ctx: CommandContext) -> str:
        """Execute ``command`` for the person in ``ctx``; always returns a reply."""
        if command.name == "help":
            return self.help_text(ctx)
        if command.name not in COMMANDS:
            return f"Unknown command `{command.name}`.\n\n{self.help_text(ctx)}"
        if not ctx.is_admin:
            log.info(
                "command.refused platform=%s user=%s command=%s", ctx.platform, ctx.user_id, command.name
            )
            return not_admin_text(ctx.lang)
        log.info("command.run platform=%s user=%s command=%s", ctx.platform, ctx.user_id, command.name)
        try:
            return await getattr(self, f"_{command.name}")(command.args, ctx)
        except CoreError as e:
            return e.message

    async def _space(self, ctx: CommandContext) -> str:
        binding = await self.service.binding_for(ctx.platform, ctx.channel_id, ctx.team_id)
        if binding is None:
            raise InvalidInput(f"This channel is not bound to a space yet: `{ctx.prefix}bind <space>` first.")
        return binding.space_id

    async def _bind(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        if len(args) != 1:
            raise InvalidInput(f"Usage: `{ctx.prefix}bind <space>`, e.g. `{ctx.prefix}bind ops-docs`.")
        # binding again moves the channel to another space and keeps its settings (`config`)
        before = await self.service.binding_for(ctx.platform, ctx.channel_id, ctx.team_id)
        binding = Binding(ctx.platform, ctx.channel_id, args[0], team_id=ctx.team_id)
        if before is not None:
            binding = replace(before, space_id=args[0], team_id=ctx.team_id)
        await self.service.bind(binding)
        return f"This channel now answers from space `{args[0]}`."

    async def _unbind(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        removed = await self.service.unbind(ctx.platform, ctx.channel_id, ctx.team_id)
        return (
            "This channel is unbound: I will not answer here any more."
            if removed
            else "This channel was not bound."
        )

    async def _pin(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        if not args:
            raise InvalidInput(f"Usage: `{ctx.prefix}pin <url> [every 6h] [type runbook]`.")
        location, rest = args[0].strip("<>"), list(args[1:])
        if not location.startswith(("http://", "https://")):
            raise InvalidInput("Only http(s) URLs can be pinned from chat (or reply to a file to pin it).")
        return await self.pin_location(location, rest, ctx)

    async def pin_location(self, location: str, rest: list[str], ctx: CommandContext) -> str:
        """Pin a URL, or a file the adapter saved from the chat."""
        every_s, doc_type = None, None
        while rest:
            word = rest.pop(0).lower()
            if word == "every" and rest:
                every_s = parse_interval(rest.pop(0))
            elif word == "type" and rest:
                doc_type = rest.pop(0).lower()
            else:
                raise InvalidInput(f"I do not understand `{word}`: use `every 6h` and/or `type runbook`.")
        space = await self._space(ctx)
        pin, report = await self.service.pin(
            space, location, every_s=every_s, doc_type=doc_type, pinned_by=f"{ctx.platform}:{ctx.user_id}"
        )
        every = describe_interval(pin.every_s) if pin.every_s else f"on `{pin.cron}`"
        return f"Pinned {location} to `{space}`, refreshed {every}: {_report_line(report)}"

    async def _unpin(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        if len(args) != 1:
            raise InvalidInput(f"Usage: `{ctx.prefix}unpin <url>`.")
        space = await self._space(ctx)
        report = await self.service.unpin(space, args[0].strip("<>"))
        return f"Unpinned {args[0].strip('<>')}: {_report_line(report)}"

    async def _reindex(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        space = await self._space(ctx)
        report = await self.service.reindex(space)
        return f"Reindexed `{space}`: {_report_line(report)}"

    async def _status(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        space = await self._space(ctx)
        status = await self.service.status(space)
        when = status.last_ingested_at.strftime("%Y-%m-%d %H:%M UTC") if status.last_ingested_at else "never"
        lines = [f"*{space}*: {status.documents} documents, {status.chunks} chunks, last ingested {when}."]
        for pin in status.pins:
            state = (
                "ok"
                if not pin.consecutive_failures
                else f"failing ×{pin.consecutive_failures}: {pin.last_error}"
            )
            lines.append(f"• pinned {pin.location} — {state}")
        return "\n".join(lines)

    async def _stats(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        binding = await self.service.binding_for(ctx.platform, ctx.channel_id, ctx.team_id)
        stats = await self.service.feedback_stats(binding.space_id if binding else None)
        scope = f"`{stats.space_id}`" if stats.space_id else "all spaces"
        lines = [
            f"Feedback in {scope}: {stats.answers} answers, {stats.votes} votes, "
            f"{stats.up_rate:.0%} thumbs-up ({stats.up} 👍 / {stats.down} 👎)."
        ]
        for worst in stats.worst:
            reasons = f" — {'; '.join(worst.reasons)}" if worst.reasons else ""
            lines.append(f"• 👎{worst.down} 👍{worst.up}: {worst.question[:120]}{reasons}")
        return "\n".join(lines)

    async def _config(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        """`config mode questions visibility private type runbook lang ru prompts "..." "..."`:
        any of them, in any order; `prompts` takes the rest of the line."""
        changes: dict[str, str | None] = {}
        prompts: list[str] | None = None
        rest = list(args)
        usage = f"Usage: `{ctx.prefix}config {COMMANDS['config'][0]}`."
        while rest:
            word = rest.pop(0).lower()
            if word == "prompts":
                prompts = [] if [w.lower() for w in rest] == ["auto"] else rest
                rest = []
                continue
            if not rest:
                raise InvalidInput(f"`{word}` needs a value. {usage}")
            value = rest.pop(0)
            if word == "mode":
                changes["mode"] = value.lower()
            elif word == "visibility":
                changes["visibility"] = value.lower()
            elif word in ("type", "doc_type", "doc-type"):
                changes["doc_type"] = None if value.lower() in ("none", "any", "auto") else value.lower()
            elif word in ("lang", "language"):
                changes["lang"] = None if value.lower() == "auto" else value.lower()
            else:
                raise InvalidInput(f"I do not understand `{word}`. {usage}")
        binding = await self.service.binding_for(ctx.platform, ctx.channel_id, ctx.team_id)
        if binding is None:
            raise InvalidInput(f"This channel is not bound to a space yet: `{ctx.prefix}bind <space>` first.")
        if changes:
            binding = await self.service.configure_channel(
                ctx.platform, binding.channel_id, binding.team_id, **changes
            )
        if prompts is not None:
            await self.service.set_suggested_prompts(binding.space_id, prompts)
        return await self._describe_config(binding, changed=bool(changes or prompts is not None))

    async def _describe_config(self, binding: Binding, *, changed: bool) -> str:
        mode = (
            "answers every question asked in the channel"
            if binding.mode == "questions"
            else "answers when mentioned"
        )
        visibility = (
            "only the asker sees answers" if binding.visibility == "private" else "answers in the thread"
        )
        lines = [
            f"{'Saved. ' if changed else ''}This channel answers from `{binding.space_id}`:",
            f"• mode `{binding.mode}`: {mode}",
            f"• visibility `{binding.visibility}`: {visibility}",
            f"• document type: {f'`{binding.doc_type}`' if binding.doc_type else 'any'}",
            f"• language when a question does not tell: {binding.lang or 'the thread’s, else English'}",
        ]
        chosen = await self.service.suggested_prompts(binding.space_id)
        own = await self.service.admin_prompts(binding.space_id)
        source = "set by an admin" if own else "the most asked questions"
        listed = "; ".join(chosen) if chosen else "none yet"
        lines.append(f"• suggested prompts ({source}): {listed}")
        return "\n".join(lines)
