"""What the Telegram bot says besides answers, in English and Russian. Platform-neutral texts
(errors, refusals, vote acknowledgements, "working…") come from ``bot.chat.messages``; these are
the ones that talk about Telegram itself: /space, documents, mentions, file limits."""

from __future__ import annotations

__all__ = ["tg_text", "MENU_USER", "MENU_ADMIN"]

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "start": (
            "Hi! Ask me a question and I will answer from the team's documents, with sources.\n{space_line}"
        ),
        "space_line_current": "You are asking in space <code>{space}</code>. Change it with /space NAME.",
        "space_line_none": "Choose a document space first: /space NAME.",
        "user_help": (
            "<b>How to ask</b>\n"
            "• In this chat every message is a question; reply to my answer to follow up.\n"
            "• In groups, mention me (@{bot}) or reply to my message.\n"
            "• Start with a document type to narrow the search, e.g. <code>{example}: restart the queue</code> ({types}).\n"
            "• /space — see or choose the document space of this chat."
        ),
        "dm_no_space": (
            "I do not know which documents to answer from yet. Choose a space with /space NAME{choices}."
        ),
        "dm_no_space_at_all": (
            "No document space is open for direct questions yet. Ask an admin to set one up."
        ),
        "choices": ": {spaces}",
        "space_current": "This chat answers from <code>{space}</code>.",
        "space_unset": "This chat has no space chosen yet.",
        "space_choices": "You can choose: {spaces}. Use /space NAME.",
        "space_choices_admin": "As an admin you may choose any space. Known spaces: {spaces}.",
        "space_none_known": "No spaces exist yet.",
        "space_set": "Done: from now on I answer here from <code>{space}</code>.",
        "space_set_empty": "Done: I answer here from <code>{space}</code> (it has no documents yet).",
        "space_not_allowed": "The space <code>{space}</code> is not open for direct questions. You can choose: {spaces}.",
        "space_group": "In a group the space is chosen by an admin with /bind &lt;space&gt;. {current}",
        "mention_empty": "Yes? Ask your question after the mention, e.g. @{bot} how do I restart the queue?",
        "not_text": "I answer text questions: please type yours (a sticker, photo or voice message I cannot read).",
        "not_text_admin": (
            "I answer text questions. To add a document, send it as a file "
            "(PDF, DOCX, Markdown, text or HTML)."
        ),
        "upload_not_admin": "Only ragbot admins can add documents. Ask an admin to add this one.",
        "upload_no_space": "This chat has no document space yet, so I do not know where to add the file. {hint}",
        "upload_too_large": "{name} is {size}; the limit is {limit}. Please send a smaller file or pin it by URL.",
        "upload_too_large_tg": (
            "{name} is {size}; Telegram lets bots download files of up to 20 MB. "
            "Please send a smaller file, or pin it by URL with /pin."
        ),
        "upload_working": "Reading {name}…",
        "upload_done": "Added {name} to <code>{space}</code>: {what}.",
        "upload_unchanged": "{name} is already in <code>{space}</code> unchanged.",
        "upload_failed": "Could not add {name}: {reason}",
        "upload_download_failed": "Could not download {name} from Telegram. Please send it again.",
        "chunks": "{n} passages",
        "pin_reply_hint": "Reply /pin to a document or a message to pin it, or give a URL: /pin https://…",
        "verify_reply_hint": "Reply /verify to one of my answers to verify it (add text to correct it), or write /verify &lt;question&gt; =&gt; &lt;answer&gt;.",
        "reason_prompt": "{who}, what was wrong with the answer? Reply to this message (optional).",
        "reason_prompt_dm": "What was wrong with the answer? Reply to this message (optional).",
        "reason_placeholder": "What was wrong?",
        "unknown_command": "I do not know /{name}. Try /help.",
        "restarting": "The assistant is restarting. Please send that again in a minute.",
        "private_opener": "Your question in <b>{chat}</b>:\n<i>{question}</i>",
        "private_sent": "{who}, I sent you the answer in a private message.",
        "private_blocked": (
            "{who}, answers in this chat are private, and Telegram does not let me write to you first. "
            'Open <a href="https://t.me/{bot}">@{bot}</a>, press Start, then ask again.'
        ),
    },
    "ru": {
        "start": ("Привет! Задайте вопрос — я отвечу по документам команды и укажу источники.\n{space_line}"),
        "space_line_current": "Сейчас вопросы идут в пространство <code>{space}</code>. Сменить: /space ИМЯ.",
        "space_line_none": "Сначала выберите пространство документов: /space ИМЯ.",
        "user_help": (
            "<b>Как спрашивать</b>\n"
            "• В этом чате каждое сообщение — вопрос; чтобы уточнить, ответьте на мой ответ.\n"
            "• В группах упомяните меня (@{bot}) или ответьте на моё сообщение.\n"
            "• Начните с типа документа, чтобы сузить поиск, например <code>{example}: перезапуск очереди</code> ({types}).\n"
            "• /space — посмотреть или выбрать пространство документов этого чата."
        ),
        "dm_no_space": "Пока непонятно, по каким документам отвечать. Выберите пространство: /space ИМЯ{choices}.",
        "dm_no_space_at_all": (
            "Для личных вопросов пока не открыто ни одного пространства. Попросите администратора настроить."
        ),
        "choices": ": {spaces}",
        "space_current": "Этот чат отвечает из <code>{space}</code>.",
        "space_unset": "Пространство для этого чата ещё не выбрано.",
        "space_choices": "Можно выбрать: {spaces}. Команда: /space ИМЯ.",
        "space_choices_admin": "Как администратор, вы можете выбрать любое пространство. Известные: {spaces}.",
        "space_none_known": "Пространств пока нет.",
        "space_set": "Готово: теперь отвечаю здесь из <code>{space}</code>.",
        "space_set_empty": "Готово: отвечаю здесь из <code>{space}</code> (документов в нём пока нет).",
        "space_not_allowed": "Пространство <code>{space}</code> недоступно для личных вопросов. Можно выбрать: {spaces}.",
        "space_group": "В группе пространство выбирает администратор командой /bind &lt;space&gt;. {current}",
        "mention_empty": "Да? Напишите вопрос после упоминания, например: @{bot} как перезапустить очередь?",
        "not_text": "Я отвечаю на текстовые вопросы: напишите вопрос текстом (стикеры, фото и голосовые я не читаю).",
        "not_text_admin": (
            "Я отвечаю на текстовые вопросы. Чтобы добавить документ, пришлите его файлом "
            "(PDF, DOCX, Markdown, текст или HTML)."
        ),
        "upload_not_admin": "Добавлять документы могут только администраторы ragbot.",
        "upload_no_space": "У этого чата нет пространства документов, поэтому некуда добавить файл. {hint}",
        "upload_too_large": "{name} весит {size}; предел — {limit}. Пришлите файл поменьше или закрепите его по ссылке.",
        "upload_too_large_tg": (
            "{name} весит {size}; Telegram даёт ботам скачивать файлы только до 20 МБ. "
            "Пришлите файл поменьше или закрепите его по ссылке командой /pin."
        ),
        "upload_working": "Читаю {name}…",
        "upload_done": "{name} добавлен в <code>{space}</code>: {what}.",
        "upload_unchanged": "{name} уже есть в <code>{space}</code> без изменений.",
        "upload_failed": "Не удалось добавить {name}: {reason}",
        "upload_download_failed": "Не удалось скачать {name} из Telegram. Пришлите файл ещё раз.",
        "chunks": "фрагментов: {n}",
        "pin_reply_hint": "Ответьте /pin на документ или сообщение, чтобы закрепить его, или дайте ссылку: /pin https://…",
        "verify_reply_hint": "Ответьте /verify на один из моих ответов, чтобы подтвердить его (с текстом — чтобы исправить), или напишите /verify &lt;вопрос&gt; =&gt; &lt;ответ&gt;.",
        "reason_prompt": "{who}, что было не так с ответом? Ответьте на это сообщение (по желанию).",
        "reason_prompt_dm": "Что было не так с ответом? Ответьте на это сообщение (по желанию).",
        "reason_placeholder": "Что было не так?",
        "unknown_command": "Команда /{name} мне неизвестна. Попробуйте /help.",
        "restarting": "Ассистент перезапускается. Пришлите это ещё раз через минуту.",
        "private_opener": "Ваш вопрос в <b>{chat}</b>:\n<i>{question}</i>",
        "private_sent": "{who}, ответ отправил вам в личные сообщения.",
        "private_blocked": (
            "{who}, в этом чате ответы приходят лично, а Telegram не даёт мне написать вам первым. "
            'Откройте <a href="https://t.me/{bot}">@{bot}</a>, нажмите «Старт» и спросите ещё раз.'
        ),
    },
}

# Command menus (setMyCommands): name -> description per language
MENU_USER: dict[str, dict[str, str]] = {
    "en": {"help": "how to ask", "space": "see or choose the document space"},
    "ru": {"help": "как задавать вопросы", "space": "посмотреть или выбрать пространство документов"},
}
MENU_ADMIN: dict[str, dict[str, str]] = {
    "en": {
        "bind": "answer in this chat from a space",
        "unbind": "stop answering in this chat",
        "pin": "pin a URL, or reply to a file or message",
        "unpin": "unpin a source",
        "reindex": "read every source of the space again",
        "status": "documents, last sync, failing sources",
        "stats": "feedback: votes and worst answers",
        "verify": "reply to an answer to verify (or correct) it",
        "verified": "the verified answers of this chat's space",
        "config": "how this chat answers: mode, visibility, type",
        "help": "commands and how to ask",
    },
    "ru": {
        "bind": "отвечать в этом чате из пространства",
        "unbind": "перестать отвечать в этом чате",
        "pin": "закрепить ссылку, файл или сообщение",
        "unpin": "открепить источник",
        "reindex": "перечитать все источники пространства",
        "status": "документы, синхронизация, ошибки источников",
        "stats": "отзывы: голоса и худшие ответы",
        "verify": "ответьте на ответ, чтобы подтвердить (или исправить) его",
        "verified": "проверенные ответы пространства этого чата",
        "config": "как отвечать в этом чате: режим, видимость, тип",
        "help": "команды и как задавать вопросы",
    },
}


def tg_text(lang: str, key: str, **values: object) -> str:
    """A text as Telegram HTML; ``values`` are inserted as given (escape them first)."""
    template = _TEXTS.get(lang, _TEXTS["en"])[key]
    return template.format(**values) if values else template
