"""Admin commands, the same on every platform: `/ragbot bind ops` in Slack and `/bind ops` in
Telegram both end here. Parsing is strict and every outcome is a sentence for the person."""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass, replace

from bot.chat.intervals import describe_interval, parse_interval
from bot.chat.messages import not_admin_text
from bot.console import SignInLinks
from core.errors import CoreError, InvalidInput
from core.ingest.locations import Kind, is_sitemap_url, with_options
from core.ingest.locations import parse as parse_location
from core.models import Binding, IngestReport, OutcomeStatus, SourceState
from core.service import RagService

__all__ = ["Command", "CommandContext", "AdminCommands", "parse_command", "COMMANDS", "VERIFY_SEPARATOR"]

log = logging.getLogger(__name__)

# name -> (arguments, what it does); the order is the order of the help text
COMMANDS: dict[str, tuple[str, str]] = {
    "bind": ("<space>", "answer in this channel from <space> (creates it on first ingest)"),
    "unbind": ("", "stop answering in this channel"),
    "pin": (
        "<url | git+url | confluence+url> [crawl] [max-pages N] [include GLOB] [exclude GLOB] [every 6h] "
        "[type <doc_type>]",
        "ingest a page, a whole site (crawl), a sitemap, a Git repository or Confluence now and keep it "
        "fresh on a schedule",
    ),
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
    "config": (
        "[mode mention|questions] [visibility thread|private] [type <doc_type>|none] [lang en|ru|auto] "
        '[prompts "<question>" ...|auto]',
        "how this channel answers (docs/chat.md); without arguments, the current settings",
    ),
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


def _report_line(report: IngestReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in OutcomeStatus if report.count(s)]
    line = ", ".join(parts) or "nothing to do"
    failures = "".join(f"\n• {o.source}: {o.reason}" for o in report.failed[:10])
    return f"{line} ({report.chunks_written} chunks written){failures}"


def _with_source_options(
    location: str, crawl: bool, max_pages: int | None, include: list[str], exclude: list[str]
) -> str:
    """`pin URL crawl max-pages 500 include /docs/*` -> the location that carries them."""
    if location.lower().startswith("confluence+"):
        if crawl or include or exclude:
            raise InvalidInput("For Confluence only `max-pages N` applies.")
        return f"{location.partition('#')[0]}#max-pages={max_pages}" if max_pages else location
    if not location.lower().startswith(("http://", "https://")):
        raise InvalidInput("`crawl`, `max-pages`, `include` and `exclude` apply to web sites and sitemaps.")
    if not crawl and not is_sitemap_url(location.partition("#")[0]):
        raise InvalidInput("`max-pages`, `include` and `exclude` need `crawl` (or a sitemap URL).")
    return with_options(location, crawl=crawl, max_pages=max_pages, include=include, exclude=exclude)


def _source_line(state: SourceState) -> str:
    when = state.last_run_at.strftime("%Y-%m-%d %H:%M UTC") if state.last_run_at else "never"
    skipped = f", {state.skipped} skipped" if state.skipped else ""
    verdict = f"failing: {state.last_error}" if state.last_error else "ok"
    return f"{state.kind} {state.location}: {state.documents} documents{skipped}, last run {when} — {verdict}"


class AdminCommands:
    def __init__(self, service: RagService, console: SignInLinks | None = None) -> None:
        self.service = service
        self.console = console  # the admin console's sign-in links, when CONSOLE_PUBLIC_URL is set

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
            raise InvalidInput(f"Usage: `{ctx.prefix}pin <url> [crawl] [every 6h] [type runbook]`.")
        # Slack writes links as <url> or <url|label>
        location, rest = args[0].strip("<>").split("|", 1)[0], list(args[1:])
        spec = parse_location(location)
        if spec.kind is Kind.PATH or location.lower().startswith("git+file:"):
            # a chat user must not make the server read its own files (docs/sources.md)
            raise InvalidInput(
                "From chat, pin an http(s) URL, a git+https:// or git+ssh:// repository or a confluence+https:// "
                "space (or reply to a file to pin it); local paths and repositories are pinned with the CLI."
            )
        return await self.pin_location(location, rest, ctx)

    async def pin_location(self, location: str, rest: list[str], ctx: CommandContext) -> str:
        """Pin a URL, a site, a sitemap, a repository, a Confluence space, or a file the adapter
        saved from the chat."""
        every_s, doc_type = None, None
        crawl, max_pages, include, exclude = False, None, [], []
        while rest:
            word = rest.pop(0).lower()
            if word == "every" and rest:
                every_s = parse_interval(rest.pop(0))
            elif word == "type" and rest:
                doc_type = rest.pop(0).lower()
            elif word == "crawl":
                crawl = True
            elif word == "max-pages" and rest and rest[0].isdigit() and int(rest[0]) > 0:
                max_pages = int(rest.pop(0))
            elif word in ("include", "exclude") and rest:
                (include if word == "include" else exclude).append(rest.pop(0))
            else:
                raise InvalidInput(
                    f"I do not understand `{word}`: use `crawl`, `max-pages 500`, `include /docs/*`, "
                    "`exclude */old/*`, `every 6h` and/or `type runbook`."
                )
        if crawl or max_pages is not None or include or exclude:
            location = _with_source_options(location, crawl, max_pages, include, exclude)
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
        for source in status.sources:
            lines.append(f"• {_source_line(source)}")
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


def _verified_reply(verified_id: str, question: str, space: str, ctx: CommandContext) -> str:
    return (
        f"Saved as the verified answer `{verified_id}` in `{space}`: questions like “{question[:100]}” "
        f"are answered with it from now on (`{ctx.prefix}unverify {verified_id}` to stop)."
    )
