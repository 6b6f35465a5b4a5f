"""The admin console served under /admin by ``ragbot serve`` (docs/console.md): server-rendered
pages over ``RagService`` for the people who own a space's knowledge, behind a sign-in."""

from bot.console.app import MIN_PASSWORD_CHARS, build_console, mount_console, settings_problems
from bot.console.context import CONSOLE_PATH
from bot.console.identities import console_admins
from bot.console.links import SignInLinks, sign_in_links

__all__ = [
    "CONSOLE_PATH",
    "MIN_PASSWORD_CHARS",
    "SignInLinks",
    "build_console",
    "console_admins",
    "mount_console",
    "settings_problems",
    "sign_in_links",
]
