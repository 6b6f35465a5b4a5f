"""The search query for a question asked inside a conversation. Pure functions.

"How do we fix this?" under a stack trace about a PVC stuck in Pending has nothing to search
for by itself: what it is about is in the messages above it. Without another model call on the
critical path, the question keeps its words and gains the salient terms of the conversation,
newest messages first: identifiers (``PersistentVolumeClaim``, ``sds-local-volume``,
``FailedScheduling``) and the content words that the messages share. A question that is complete
by itself (enough words of its own, and nothing like "this" or "it" pointing back) is searched as
written, so a new topic raised in an old thread is not dragged back to the old one.

Measured on follow-ups built from the shared eval sets (docs/retrieval.md, `ragbot eval
followups`): nDCG@10 of the follow-up with the rewrite against the follow-up alone and against
the whole thread pasted before it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["content_terms", "points_back", "standalone_query", "MAX_TERMS"]

# The four numbers below were chosen on the deckhouse dev follow-ups and checked on xquad's
# (docs/retrieval.md lists what was tried). Terms taken from the conversation: enough to name a
# topic, few enough not to drown the question.
MAX_TERMS = 8
_PER_OWN = 2  # two fewer for each content term of the question's own
_DECAY = 0.6  # weight of each older message relative to the next newer one
_SELF_CONTAINED = 3  # content terms of its own that make a question complete by itself

# words and runs joined by - . _ / : (kube-scheduler, sds-local-volume, v1.2.3, pvc/data-0)
_TERM = re.compile(r"\w+(?:[-._/:]\w+)*", re.UNICODE)
_NUMBER = re.compile(r"^[\d._:/-]+$")
_HEXLIKE = re.compile(r"^(?=.*\d)[0-9a-f]{7,}$")  # commit ids, pod hashes: unique, never searchable
# keys and tokens pasted in a thread: never searchable, and better not sent anywhere
_SECRETLIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9+=]{20,}$")

_STOP_EN = frozenset(
    """a about above after again against all also am an and any anyone anything are aren as at be because
    been before being below between both but by can cannot could did didn do does doesn doing don down
    during each either else ever every few for from further get gets getting got had has have having
    he her here hers him his how however i if in into is isn it its itself just know let like ll
    me might more most much must my need needs no nor not now of off ok okay on once one only or other
    our ours out over own please re really same says see seems she should so some someone something
    still such than thank thanks that the their them then there these they thing things this those
    though through thx to too try trying tried under until up us use used using ve very via want
    wants was wasn way we well were what whatever when where whether which while who whom whose why nothing nobody anyone
    will with without won would yes yet you your yours hi hello hey guys folks team idea ideas
    help anybody somebody sure check checking look looking same here hmm hm oh yeah yep nope
    fix fixed fixing solve problem issue error works work working broken doc docs documentation
    described describe explain happen happens happened do done going""".split()
)
_STOP_RU = frozenset(
    """а без более бы был была были было быть в вам вас весь во вот все всё всего всех вы где да даже
    для до его её ее ей ему если есть ещё еще же за здесь и из или им их к как какая какие какой
    когда кто ли либо мне может можно мой моя мы на над надо наш не него нее неё нет ни них но ну о
    об однако он она они оно от очень по под после потом почему при про с со так также такой там
    те тем то того тоже той только том ты у уже хотя чего чей чем что чтобы чья эта эти это этого
    этой этом этот эту я привет спасибо спс ок ага угу хм всем ребят коллеги кто-нибудь кто-то
    подскажите подскажи идеи идея есть помогите помоги проблема ошибка исправить починить решить
    сделать делать работает сломалось посмотрю гляну сейчас описано почитать документация
    случилось происходит""".split()
)
_STOP = _STOP_EN | _STOP_RU

# words that point back to something said before
_POINTERS = frozenset(
    """this that it these those they them there above same such its one ones
    это этот эта эти этого этой этим этом эту тот та то те того той тому там тут здесь он она оно они
    его её ее их ему ей им нём нем ней них такой такая такое такие этим выше""".split()
)


def _is_identifier(term: str) -> bool:
    """Names rather than words: something-with-dashes, CamelCase, ALLCAPS, words with digits."""
    if any(c in term for c in "-._/:"):
        return True
    if any(c.isdigit() for c in term):
        return True
    if term.isupper():
        return len(term) >= 2
    return any(c.isupper() for c in term[1:]) and any(c.islower() for c in term)  # CamelCase, camelCase


def content_terms(text: str) -> list[str]:
    """The words of ``text`` worth searching for, in order: no stop words, chatter, numbers or hashes."""
    out = []
    for term in _TERM.findall(text):
        term = term.strip("-._/:")
        folded = term.casefold()
        if (
            len(term) < 2
            or folded in _STOP
            or _NUMBER.match(term)
            or _HEXLIKE.match(folded)
            or _SECRETLIKE.match(term)
        ):
            continue
        out.append(term)
    return out


def points_back(question: str) -> bool:
    """The question needs what was said before it: too few words of its own to search for, or a
    word like "this", "it", "это" pointing back."""
    words = {w.casefold() for w in _TERM.findall(question)}
    return bool(words & _POINTERS) or len(content_terms(question)) < _SELF_CONTAINED


@dataclass
class _Term:
    surface: str
    score: float
    order: int  # first seen: newest message first, then left to right


def standalone_query(question: str, earlier: Sequence[str], *, max_terms: int = MAX_TERMS) -> str:
    """The search query for ``question`` asked after ``earlier`` (the conversation's messages,
    newest first). The question itself, followed by up to ``max_terms`` salient terms of the
    conversation when it points back; as written when it stands on its own."""
    if not earlier or max_terms <= 0 or not points_back(question):
        return question
    own = {t.casefold() for t in content_terms(question)}
    # the more the question says by itself, the less the conversation may add to it
    max_terms = max(max_terms - _PER_OWN * len(own), 2)
    terms: dict[str, _Term] = {}
    order = 0
    for age, text in enumerate(earlier):
        weight = _DECAY**age
        for term in dict.fromkeys(content_terms(text)):  # a word repeated in one message counts once
            key = term.casefold()
            if key in own:
                continue
            gain = weight * (1.5 if _is_identifier(term) else 1.0)
            if key in terms:
                terms[key].score += gain  # said again: what the conversation is about
            else:
                terms[key] = _Term(term, gain, order)
                order += 1
    if not terms:
        return question
    best = sorted(terms.values(), key=lambda t: (-t.score, t.order))[:max_terms]
    best.sort(key=lambda t: t.order)
    return f"{question} {' '.join(t.surface for t in best)}"
