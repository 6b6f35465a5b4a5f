"""Admin commands, the same on every platform: `/ragbot bind ops` in Slack and `/bind ops` in
Telegram both end here. Parsing is strict and every outcome is a sentence for the person."""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass

from bot.chat.messages import not_admin_text
from bot.console import SignInLinks
from core.doctypes import DEFAULT_DOC_TYPES
from core.errors import CoreError, InvalidInput
from core.models import Binding, IngestReport, OutcomeStatus
from core.service import RagService

__all__ = [
    "Command",
    "CommandContext",
    "AdminCommands",
    "parse_command",
    "parse_interval",
    "COMMANDS",
    "VERIFY_SEPARATOR",
]

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
    "verify": (
        "<question> => <answer>",
        "from now on answer <question> (or the same in other words) with <answer>",
    ),
    "verified": ("", "the verified answers of this channel's space"),
    "unverify": ("<id>", "stop answering from a verified answer"),
    "console": ("", "a one-time sign-in link to the admin console (sent privately)"),
    "help": ("", "this list"),
}

# commands that read the text as written (line breaks, quotes), not as shell-like words
_RAW_TEXT = {"verify"}
VERIFY_SEPARATOR = "=>"


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    raw: str = ""  # the text after the command's name, as written


@dataclass(frozen=True)
class CommandContext:
    platform: str
    channel_id: str
    user_id: str
    is_admin: bool
    team_id: str = ""
    lang: str = "en"
    prefix: str = "/ragbot "  # how commands are typed on this platform, for the help text
    private: bool = False  # only the person sees the reply (Slack: ephemeral; Telegram: a private chat)


def parse_command(text: str) -> Command:
    """'pin https://x every 6h' -> Command('pin', ('https://x', 'every', '6h'))."""
    try:
        words = shlex.split(text.strip())
    except ValueError:  # an unbalanced quote: fall back to plain words
        words = text.split()
    if not words:
        return Command("help", ())
    raw = re.match(r"\s*\S+\s*(.*)", text, re.S)
    return Command(words[0].lower().lstrip("/"), tuple(words[1:]), raw.group(1).strip() if raw else "")


def parse_interval(text: str) -> int:
    """'30m', '6h', '1d', '90s' -> seconds (at least a minute)."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not number.isdigit():
        raise InvalidInput(f"'{text}' is not an interval: use e.g. 30m, 6h or 1d.")
    seconds = int(number) * units[unit]
    if seconds < 60:
        raise InvalidInput("The refresh interval must be at least a minute.")
    return seconds


def _report_line(report: IngestReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in OutcomeStatus if report.count(s)]
    line = ", ".join(parts) or "nothing to do"
    failures = "".join(f"\n• {o.source}: {o.reason}" for o in report.failed[:10])
    return f"{line} ({report.chunks_written} chunks written){failures}"


class AdminCommands:
    def __init__(self, service: RagService, console: SignInLinks | None = None) -> None:
        self.service = service
        self.console = console  # the admin console's sign-in links, when CONSOLE_PUBLIC_URL is set

    def help_text(self, ctx: CommandContext) -> str:
        lines = ["*ragbot commands* (admins only, except help):"]
        for name, (args, what) in COMMANDS.items():
            lines.append(f"• `{ctx.prefix}{name}{' ' + args if args else ''}` — {what}")
        types = ", ".join(t.name for t in DEFAULT_DOC_TYPES)
        lines.append(
            f"To ask within one document type, start a question with it, e.g. `runbook: ...` ({types})."
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
            handler = getattr(self, f"_{command.name}")
            return await handler(command.raw if command.name in _RAW_TEXT else command.args, ctx)
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
        await self.service.bind(Binding(ctx.platform, ctx.channel_id, args[0], team_id=ctx.team_id))
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
        every = (
            f"every {pin.every_s // 3600} h"
            if pin.every_s and pin.every_s % 3600 == 0
            else f"every {pin.every_s // 60} min"
        )
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

    # -- verified answers (docs/feedback.md) ----------------------------------------------------

    async def _verify(self, raw: str, ctx: CommandContext) -> str:
        question, sep, text = raw.partition(VERIFY_SEPARATOR)
        if not sep or not question.strip() or not text.strip():
            raise InvalidInput(
                f"Usage: `{ctx.prefix}verify <question> {VERIFY_SEPARATOR} <answer>`, e.g. "
                f"`{ctx.prefix}verify How do I reset the VPN? {VERIFY_SEPARATOR} Open vpn.example.com and ...`."
            )
        space = await self._space(ctx)
        verified = await self.service.verify_answer(
            space, question.strip(), text.strip(), author=f"{ctx.platform}:{ctx.user_id}"
        )
        return _verified_reply(verified.verified_id, verified.question, space, ctx)

    async def verify_answer(self, answer_id: str, text: str | None, ctx: CommandContext) -> str:
        """An admin's verdict on one answer the bot gave (Telegram: `/verify` replying to it):
        without text it is endorsed as it is, with text that text replaces it."""
        space = await self._space(ctx)
        answer = await self.service.get_answer(answer_id)
        if answer is None or answer.space_id != space:
            raise InvalidInput("That answer is no longer on record in this channel's space.")
        if answer.verified is not None and not text:
            return "That answer is already a verified one."
        verified = await self.service.verify_answer(
            space,
            answer.question,
            text or answer.text,
            author=f"{ctx.platform}:{ctx.user_id}",
            from_answer_id=answer.answer_id,
        )
        return _verified_reply(verified.verified_id, verified.question, space, ctx)

    async def _verified(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        space = await self._space(ctx)
        found = await self.service.verified_answers(space)
        if not found:
            return f"`{space}` has no verified answers yet: `{ctx.prefix}verify <question> {VERIFY_SEPARATOR} <answer>`."
        review = sum(v.needs_review for v in found)
        lines = [
            f"*{space}*: {len(found)} verified answers" + (f", {review} to review" if review else "") + "."
        ]
        for v in found[:20]:
            flag = " ⚠️ a source changed: not served until verified again" if v.needs_review else ""
            lines.append(
                f"• `{v.verified_id}` {v.question[:100]} ({v.author}, {v.created_at:%Y-%m-%d}){flag}"
            )
        if len(found) > 20:
            lines.append(f"… and {len(found) - 20} more (`ragbot verified list --space {space}`).")
        return "\n".join(lines)

    async def _unverify(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        if len(args) != 1:
            raise InvalidInput(f"Usage: `{ctx.prefix}unverify <id>` (the ids are in `{ctx.prefix}verified`).")
        space = await self._space(ctx)
        found = await self.service.get_verified(args[0])
        if found is None or found.space_id != space:  # another space's are not this channel's to remove
            return f"There is no verified answer `{args[0]}` in `{space}`."
        await self.service.remove_verified(found.verified_id)
        return f"Removed the verified answer to “{found.question[:100]}”; the model answers it again."

    async def _console(self, args: tuple[str, ...], ctx: CommandContext) -> str:
        """A link that signs this admin in to the console as their chat identity (docs/console.md):
        only where no one else sees it."""
        if self.console is None:
            return (
                "The admin console's sign-in links are off: set CONSOLE_ENABLED, CONSOLE_PASSWORD and "
                "CONSOLE_PUBLIC_URL (docs/console.md)."
            )
        if not ctx.private:
            return f"Ask me for a console link in a private chat: `{ctx.prefix}console` there."
        link = self.console.issue(f"{ctx.platform}:{ctx.user_id}")
        log.info("command.console_link platform=%s user=%s", ctx.platform, ctx.user_id)
        return f"Your sign-in link to the admin console (works once, for 5 minutes): {link}"


def _verified_reply(verified_id: str, question: str, space: str, ctx: CommandContext) -> str:
    return (
        f"Saved as the verified answer `{verified_id}` in `{space}`: questions like “{question[:100]}” "
        f"are answered with it from now on (`{ctx.prefix}unverify {verified_id}` to stop)."
    )
