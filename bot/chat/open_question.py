"""Is a channel message a question for the bot, in a channel set to ``questions`` mode
(docs/chat.md)? A question addressed to no one else: it asks (a question mark, or the way
questions begin in English and Russian), it is not thanks or an acknowledgement, and it does not
mention or reply to another person. Pure and cheap: it runs on every message of such channels,
before anything touches the database.

It errs on the side of silence: a bot that answers "thanks, all good" is worse than one that
misses a question, which can still be asked with a mention."""

from __future__ import annotations

import re

__all__ = ["is_open_question"]

_MIN_WORDS = 3  # "why?" or "any news?" say too little to search for

# How questions begin when they have no question mark ("how do I rotate the keys", "подскажите,
# где логи"). Words that also begin statements ("when I deploy, it fails", "как всегда, упало")
# count only with the words that make them ask.
_OPENERS = (
    r"how (?:do|does|did|can|could|should|would|to|is|are|much|many|long|often|come)",
    r"what (?:is|are|was|does|do|did|should|would|happens|about|if)",
    r"what's",
    r"why",
    r"where (?:is|are|do|does|can|should|would)",
    r"where's",
    r"which",
    r"who (?:is|knows|can|owns|has|should)",
    r"is there",
    r"are there",
    r"(?:can|could|should|do|does) (?:i|we|you|someone|somebody|anyone|anybody)",
    r"(?:does )?(?:anyone|anybody|someone) know",
    r"any (?:idea|ideas|clue|hints?)",
    r"как (?:мне|нам|можно|бы|\w+(?:ть|ти|чь)(?:ся)?)",
    r"почему",
    r"зачем",
    r"где",
    r"что (?:такое|значит|означает|делать|нужно|надо|будет|с|за)",
    r"как(?:ой|ая|ое|ие|им|ую|ого)",
    r"кто (?:знает|может|отвечает|нибудь|в курсе)",
    r"кто-(?:нибудь|то) (?:знает|может|в курсе)",
    r"сколько",
    r"(?:можно|есть|нужно|надо) ли",
    r"(?:не )?подскаж(?:и|ите|ешь|ете)",
    r"помоги(?:те)?",
    r"объясни(?:те)?",
)
_OPENER = re.compile(
    r"^(?:(?:hi|hey|hello|привет|коллеги|ребят|ребята|всем привет)[\s,!.:—-]+)?(?:"
    + "|".join(_OPENERS)
    + r")(?![\w-])",
    re.IGNORECASE,
)

# messages that close a topic rather than open one
_ACKNOWLEDGEMENTS = re.compile(
    r"^(?:\W*(?:thanks?|thank you|thx|ty|cheers|great|cool|nice|perfect|awesome|ok|okay|got it|"
    r"all good|works( now)?|it works|fixed|solved|never ?mind|nvm|lgtm|\+1|same here|agreed|done|"
    r"спасибо|спс|благодарю|понял|поняла|понятно|ок|окей|ага|отлично|супер|класс|работает|"
    r"заработало|всё ок|все ок|всё хорошо|все хорошо|решилось|починил|починили|неважно|забей|"
    r"согласен|плюс)\b[\s\W]*)+",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)


def is_open_question(text: str, *, addressed_elsewhere: bool = False) -> bool:
    """``addressed_elsewhere``: the message mentions, or replies to, another person (the adapter
    knows its platform's mentions and replies)."""
    if addressed_elsewhere:
        return False
    text = text.strip()
    words = _WORD.findall(text)
    if len(words) < _MIN_WORDS:
        return False
    ack = _ACKNOWLEDGEMENTS.match(text)
    rest = text[ack.end() :].strip() if ack else text
    if ack and len(_WORD.findall(rest)) < _MIN_WORDS:
        return False  # "thanks, all good", "спасибо, заработало!"
    # a question mark ends one of its sentences, or the message begins the way questions do
    if re.search(r"\?(?:\s|$)", rest):
        return True
    first_sentence = re.split(r"[.!\n]", rest, maxsplit=1)[0]
    return bool(_OPENER.match(first_sentence.strip()))
