"""ragbot on Telegram (aiogram 3): see ``bot.telegram.adapter``."""

from bot.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
