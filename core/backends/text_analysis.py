"""Russian + English term analysis for keyword search: one tokenizer for documents and questions.

A text becomes a list of *exact* terms (lower-cased Unicode words, ``ё`` folded to ``е``, stopwords
dropped) and, in step with it, a list of *stemmed* terms (Snowball Russian for Cyrillic words,
Snowball English for Latin words, everything else unchanged). The keyword index keeps both forms in
separate fields, so exact matches can outrank inflected ones: on English technical docs unstemmed
BM25 measured better, on Russian stemming is essential.

Technical identifiers stay searchable as a whole and by their parts: ``kube-apiserver`` gives
``kube-apiserver``, ``kube``, ``apiserver``; ``ModuleConfig`` gives ``moduleconfig``, ``module``,
``config``; ``v1alpha1`` stays one term. Pure: no search engine here, only PyStemmer.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer

__all__ = ["TermAnalyzer", "STOPWORDS_EN", "STOPWORDS_RU"]

# A word, optionally joined to more words by "-", "_" or "." with no space: identifiers, host
# names, versions. "/" separates (paths give their segments), so does everything else.
_WORD_RE = re.compile(r"[^\W_]+(?:[-_.][^\W_]+)*")
_JOINERS_RE = re.compile(r"[-_.]")
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_LOWER_UPPER_RE = re.compile(r"[a-z][A-Z]")
_CYRILLIC_WORD_RE = re.compile(r"[а-яе]+")  # after lower-casing and folding ё

_MIN_LEN = 2  # single letters and digits are noise ("s" of "it's", list numbering)
_MAX_LEN = 64  # longer runs are blobs (base64, hashes glued to text), not words
_MAX_COMPOUND_PARTS = 6

# Small, committed lists: function words and question words that carry no topic. Kept short on
# purpose: technical questions reuse ordinary words ("set up", "can") as content.
STOPWORDS_EN = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    might more most must my myself no nor not of off on once only or other our ours ourselves out over
    own same shall she should so some such than that the their theirs them themselves then there these
    they this those through to too under until very was we were what when where which while who whom
    why will with would you your yours yourself yourselves can may don doesn isn aren
    """.split()
)
STOPWORDS_RU = frozenset(
    """
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было
    вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас
    нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их
    чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой
    совсем ним здесь этом почти мой тем чтобы нее сейчас были куда зачем всех никогда можно при наконец
    об другой хоть после над больше тот через эти нас про всего них какая много разве эту моя впрочем
    свою этой перед иногда чуть том нельзя такой им более всегда конечно всю между это эта также какие
    каких каким какое который которые которая которых которое нужно
    """.split()
)

_STEM_CACHE_LIMIT = 500_000  # distinct words; cleared when full (a vocabulary rarely gets there)


class TermAnalyzer:
    """Text -> exact terms, and exact terms -> stems (cached). Safe to share between threads:
    PyStemmer stemmers are not, so each thread gets its own."""

    def __init__(self, *, stopwords: bool = True) -> None:
        self._stopwords = (STOPWORDS_EN | STOPWORDS_RU) if stopwords else frozenset()
        self._stems: dict[str, str] = {}
        self._local = threading.local()

    @property
    def fingerprint(self) -> str:
        """Changes whenever the terms this analyzer produces could change: an index built with a
        different fingerprint must be re-analysed."""
        h = hashlib.sha256(b"ru-en-v1")
        h.update(" ".join(sorted(self._stopwords)).encode())
        h.update(Stemmer.version().encode())  # another Snowball release may stem differently
        return h.hexdigest()[:16]

    def terms(self, text: str) -> list[str]:
        """Exact terms in text order, repeats kept (term frequency matters to BM25)."""
        out: list[str] = []
        stop = self._stopwords
        for word in _WORD_RE.findall(text):
            if word.isalnum():
                if _LOWER_UPPER_RE.search(word) and word.isalpha():
                    self._add_camel(word, out)
                    continue
                term = _fold(word)
                if _MIN_LEN <= len(term) <= _MAX_LEN and term not in stop:
                    out.append(term)
            else:
                self._add_compound(word, out)
        return out

    def query_terms(self, text: str, limit: int) -> list[str]:
        """Distinct exact terms of a question, in order, at most ``limit``."""
        seen: dict[str, None] = {}
        for term in self.terms(text):
            seen.setdefault(term, None)
            if len(seen) >= limit:
                break
        return list(seen)

    async def analyze(self, texts: Sequence[str]) -> list[list[str]]:
        """The stemmed terms of each text (the ``TextAnalyzer`` port). Runs inline: a context's
        few hundred sentences take about a millisecond, less than a thread hand-off."""
        return [self.stems(self.terms(text)) for text in texts]

    def stems(self, terms: Iterable[str]) -> list[str]:
        cache = self._stems
        out = []
        for term in terms:
            stem = cache.get(term)
            if stem is None:
                stem = self._stem(term)
                if len(cache) >= _STEM_CACHE_LIMIT:
                    cache.clear()
                cache[term] = stem
            out.append(stem)
        return out

    # -- internals ------------------------------------------------------------------------------

    def _add_camel(self, word: str, out: list[str]) -> None:
        # "ModuleConfig": the whole identifier, then its words.
        whole = _fold(word)
        if len(whole) <= _MAX_LEN:
            out.append(whole)
        for part in _CAMEL_RE.findall(word):
            term = _fold(part)
            if len(term) >= _MIN_LEN and term not in self._stopwords:
                out.append(term)

    def _add_compound(self, word: str, out: list[str]) -> None:
        # "sds-node-configurator.deckhouse.io": the whole, each dotted segment that is itself
        # joined ("sds-node-configurator"), then the plain words. Long runs give words only.
        parts = _JOINERS_RE.split(word)
        whole = _fold(word)
        if len(parts) <= _MAX_COMPOUND_PARTS and len(whole) <= _MAX_LEN:
            out.append(whole)
            if "." in word:
                for segment in word.split("."):
                    if not segment.isalnum():
                        out.append(_fold(segment))
        for part in parts:
            if _LOWER_UPPER_RE.search(part) and part.isalpha():
                self._add_camel(part, out)
                continue
            term = _fold(part)
            if _MIN_LEN <= len(term) <= _MAX_LEN and term not in self._stopwords:
                out.append(term)

    def _stem(self, term: str) -> str:
        if term.isascii():
            if term.isalpha():
                return self._stemmer("english").stemWord(term)
        elif _CYRILLIC_WORD_RE.fullmatch(term):
            return self._stemmer("russian").stemWord(term)
        return term  # identifiers, numbers, mixed scripts: as they are

    def _stemmer(self, language: str) -> Stemmer.Stemmer:
        stemmer = getattr(self._local, language, None)
        if stemmer is None:
            stemmer = Stemmer.Stemmer(language, 0)  # our dict caches; its own cache would be state
            setattr(self._local, language, stemmer)
        return stemmer


def _fold(word: str) -> str:
    term = word.lower()
    if not term.isascii():
        # NFKC folds full-width letters and ligatures; ё -> е as Russian search engines do.
        term = unicodedata.normalize("NFKC", term).replace("ё", "е")
    return term
