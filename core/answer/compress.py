"""Query-focused context compression: of the chunks retrieval chose, keep the parts that bear on
the question, within a token budget (docs/answering.md).

On a CPU the prompt's prefill is the wait for the first token (docs/BENCHMARKS.md: ~87 tokens/s
for the embedded 1.5B model), and most of 3-6 whole chunks does not bear on the question. So each
chunk is cut into parts (``core.answer.parts``: sentences, list items, table rows, whole code
blocks) and every part is scored against the question twice, with what is loaded anyway: the
embedding model (cosine to the question, e5's ``query:``/``passage:`` pair) and the keyword
index's analyzer (the question's stemmed terms the part holds, weighted by how rare they are in
this context; the part's headings count at a discount). The two scores are standardised and
added; a sentence gains part of a better neighbour's score (the answer is often next to the
sentence that matches the question), parts of better-ranked chunks and of documents in the
question's language gain a little. Parts are then taken best first while they fit the budget,
each with what it needs to be read (the sentence announcing a code block, a table's header, a
list item's parent), until the scores fall to half a standard deviation above the average: what
scores lower rarely holds the answer and costs prefill time. A part that says what a chosen one
already says (a translation of it on a page in the other language, a repeated code block) is
skipped: its tokens would buy nothing.

What is kept is shown grouped by document and heading, in the order retrieval ranked them: each
group is one numbered passage whose section names its own headings, so a citation names the
section the cited text comes from, not only the chunk's first heading (and two chunks of one
section are one passage). Retrieval is untouched; this runs after it.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.answer.context import ContextItem
from core.answer.parts import Part, split_parts
from core.ports import Embedder, TextAnalyzer
from core.text import WORD_RE, estimate_tokens

__all__ = [
    "ContextCompressor",
    "Candidate",
    "choose",
    "lexical_scores",
    "standardise",
    "with_neighbours",
    "assemble",
]

LEXICAL_WEIGHT = 1.0  # against the dense score's 1.0, both standardised
HEADING_SHARE = 0.5  # a question term in a part's headings counts half as much as in its text
RANK_STEP = 0.15  # each later chunk's parts lose this much (in standard deviations)
OWN_LANGUAGE = 0.3  # parts of documents in the question's language gain this much
FLOOR = 0.5  # parts scoring below this (standard deviations above the context's average) are left out
NEIGHBOUR_SHARE = 0.6  # a sentence scores at least this share of the better of its two neighbours
TRANSLATION_COSINE = 0.93  # a part of another language this close to a chosen one translates it
PASSAGE_OVERHEAD = 4  # tokens of "[n] " and line breaks around each passage's section line
_EMBED_CHARS = 1200  # a long code block is embedded by its beginning: it is kept or dropped whole
_CACHE_PARTS = 4096  # part vectors kept between questions (a chunk_id names one version's text)


@dataclass(frozen=True)
class Candidate:
    """A part of the context and what it scored."""

    item: int  # position of its chunk in the context (0 = retrieval's best)
    part: Part
    score: float
    lang: str = ""  # its document's language
    vector: np.ndarray | None = None

    @property
    def key(self) -> str:
        """The text with spacing and case folded: what an exact repeat shares."""
        return " ".join(self.part.text.split()).casefold()


def standardise(values: np.ndarray) -> np.ndarray:
    """z-scores; all zeros when the values do not vary (one part, or no question term anywhere)."""
    if values.size == 0:
        return values
    std = float(values.std())
    if std < 1e-9:
        return np.zeros_like(values)
    return (values - float(values.mean())) / std


def lexical_scores(
    question: Sequence[str], texts: Sequence[Sequence[str]], headings: Sequence[Sequence[str]]
) -> np.ndarray:
    """The share of the question's term weight each part holds; a term's weight is its inverse
    frequency among these parts (BM25's idf), so a term every part has counts for little."""
    wanted = set(question)
    if not wanted or not texts:
        return np.zeros(len(texts))
    n = len(texts)
    df = Counter(t for terms in texts for t in set(terms) & wanted)
    idf = {t: math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in wanted}
    total = sum(idf.values())
    out = np.zeros(n)
    for i, (terms, heads) in enumerate(zip(texts, headings, strict=True)):
        own = set(terms) & wanted
        above = (set(heads) & wanted) - own
        out[i] = (sum(idf[t] for t in own) + HEADING_SHARE * sum(idf[t] for t in above)) / total
    return out


def with_neighbours(score: np.ndarray, flat: Sequence[tuple[int, Part]]) -> np.ndarray:
    """A sentence next to a well-scoring sentence of its paragraph gains part of that score: the
    answer is often the sentence after the one that matches the question ("For instance, P ⊆ NP
    ⊆ PSPACE" after "many classes are suspected to be unequal"), or the one before it."""
    at = {(i, part.index): k for k, (i, part) in enumerate(flat)}
    out = score.copy()
    for k, (i, part) in enumerate(flat):
        if part.kind != "sentence":
            continue
        for j in (part.index - 1, part.index + 1):
            other = at.get((i, j))
            if other is not None and flat[other][1].block == part.block:
                out[k] = max(out[k], NEIGHBOUR_SHARE * score[other])
    return out


def choose(
    candidates: Sequence[Candidate], budget: int, section_cost: dict[tuple[int, tuple[str, ...]], int]
) -> set[tuple[int, int]]:
    """(item, part index) of the parts to keep: best first while they fit ``budget`` tokens, each
    with the parts it needs; ``section_cost`` is the price of a new passage's section line."""
    by_key = {(c.item, c.part.index): c for c in candidates}
    chosen: set[tuple[int, int]] = set()
    opened: set[tuple[int, tuple[str, ...]]] = set()
    kept: list[Candidate] = []
    used = 0

    def closure(c: Candidate) -> list[Candidate]:
        group: list[Candidate] = []
        stack = [c]
        while stack:
            x = stack.pop()
            key = (x.item, x.part.index)
            if key in chosen or any(g is x for g in group):
                continue
            group.append(x)
            stack.extend(by_key[(x.item, i)] for i in x.part.needs if (x.item, i) in by_key)
        return group

    blocks: dict[tuple[int, int], list[Candidate]] = {}
    for c in candidates:
        blocks.setdefault((c.item, c.part.block), []).append(c)

    def announced(c: Candidate) -> list[Candidate]:
        """What a part ending in ':' announces: the next sentence or code block, or the whole list
        or table that follows ("There are three modes:", "Do the following:")."""
        if not c.part.introduces:
            return []
        nxt = by_key.get((c.item, c.part.index + 1))
        if nxt is None or nxt.part.kind in ("sentence", "code"):
            return [] if nxt is None else [nxt]
        block = blocks[(nxt.item, nxt.part.block)]
        if nxt.part.kind == "item":
            return [x for x in block if x.part.indent == nxt.part.indent]
        return block  # a table: its header and rows

    ranked = sorted(candidates, key=lambda c: -c.score)
    for c in ranked:
        if chosen and c.score < FLOOR:
            break
        if (c.item, c.part.index) in chosen:
            continue
        if any(_repeats(c, other) for other in kept):
            continue
        group = closure(c)
        for nxt in announced(c):
            group.extend(x for x in closure(nxt) if not any(x is g for g in group))
        cost = sum(x.part.tokens for x in group)
        new_sections = {(x.item, x.part.path) for x in group} - opened
        cost += sum(section_cost[s] for s in new_sections)
        if used + cost > budget:
            continue  # an announcement without what it announces would only mislead
        used += cost
        opened |= new_sections
        for x in group:
            chosen.add((x.item, x.part.index))
            kept.append(x)
    if not chosen and ranked:  # nothing fits: the best part alone beats an empty context
        chosen = {(x.item, x.part.index) for x in closure(ranked[0])}
    return chosen


def _repeats(c: Candidate, other: Candidate) -> bool:
    """``c`` says what ``other`` says: the same text (chunks overlap, pages repeat), or a translation
    of it (e5 is multilingual: a sentence and its translation lie closer than two sentences of
    one page, which reach ~0.91 on a topic, so the bar holds only across languages)."""
    if c.lang == other.lang:
        return c.key == other.key
    return (
        c.vector is not None
        and other.vector is not None
        and float(c.vector @ other.vector) >= TRANSLATION_COSINE
    )


def _join(parts: Sequence[Part]) -> str:
    """Parts of one passage in their order: sentences of a paragraph on one line, a gap marked
    with an ellipsis; list items, rows and code blocks on their own lines."""
    out = ""
    previous: Part | None = None
    for part in parts:
        if previous is None:
            out = part.text
        elif part.block == previous.block and part.kind == "sentence":
            out += (" " if part.index == previous.index + 1 else " … ") + part.text
        else:
            out += "\n" + part.text
        previous = part
    return out


def assemble(
    items: Sequence[ContextItem], parts: Sequence[Sequence[Part]], chosen: set[tuple[int, int]]
) -> list[ContextItem]:
    """The kept parts as numbered passages, one per document and heading path (two chunks of one
    section make one passage), in the order retrieval ranked their first chunk."""
    groups: OrderedDict[tuple[str, str, tuple[str, ...]], list[tuple[int, Part]]] = OrderedDict()
    for i, item in enumerate(items):
        for part in parts[i]:
            if (i, part.index) in chosen:
                key = (item.chunk.doc_id, item.chunk.version, part.path)
                groups.setdefault(key, []).append((i, part))
    out: list[ContextItem] = []
    for (_, _, path), kept in groups.items():
        kept.sort(key=lambda x: (items[x[0]].chunk.position, x[1].index))
        first = items[kept[0][0]].chunk
        text = "\n".join(
            _join([p for i, p in kept if i == chunk]) for chunk in dict.fromkeys(i for i, _ in kept)
        )
        out.append(ContextItem(n=len(out) + 1, chunk=first, text=text, section=first.section_at(path)))
    return out


def _plain_terms(text: str) -> list[str]:
    return [w.casefold() for w in WORD_RE.findall(text) if w.isalnum() and len(w) > 1]


class ContextCompressor:
    """Scores and chooses (see the module docstring). ``analyzer`` None: plain case-folded words
    stand in for the keyword index's stems (tests, tools)."""

    def __init__(self, embedder: Embedder, analyzer: TextAnalyzer | None = None) -> None:
        self.embedder = embedder
        self.analyzer = analyzer
        self._vectors: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    async def compress(
        self, question: str, items: Sequence[ContextItem], *, budget: int, lang: str
    ) -> list[ContextItem]:
        if not items:
            return []
        parts = [split_parts(item.chunk) for item in items]
        flat = [(i, part) for i, item_parts in enumerate(parts) for part in item_parts]
        if not flat:
            return list(items)
        vectors = await self._part_vectors(items, flat)
        query = await self.embedder.embed_query(question)
        dense = vectors @ query
        terms = await self._terms(
            [question, *(p.text for _, p in flat), *(" ".join(p.path) for _, p in flat)]
        )
        q_terms, rest = terms[0], terms[1:]
        lexical = lexical_scores(q_terms, rest[: len(flat)], rest[len(flat) :])
        score = with_neighbours(standardise(dense) + LEXICAL_WEIGHT * standardise(lexical), flat)
        candidates = [
            Candidate(
                item=i,
                part=part,
                score=float(score[k])
                - RANK_STEP * i
                + (OWN_LANGUAGE if items[i].chunk.lang == lang else 0.0),
                lang=items[i].chunk.lang,
                vector=vectors[k],
            )
            for k, (i, part) in enumerate(flat)
        ]
        section_cost = {
            (i, part.path): estimate_tokens(items[i].chunk.section_at(part.path)) + PASSAGE_OVERHEAD
            for i, part in flat
        }
        chosen = choose(candidates, budget, section_cost)
        return assemble(items, parts, chosen)

    async def _terms(self, texts: list[str]) -> list[list[str]]:
        if self.analyzer is None:
            return [_plain_terms(t) for t in texts]
        return await self.analyzer.analyze(texts)

    async def _part_vectors(self, items: Sequence[ContextItem], flat: list[tuple[int, Part]]) -> np.ndarray:
        keys = [(items[i].chunk.chunk_id, part.index) for i, part in flat]
        missing = [k for k, key in enumerate(keys) if key not in self._vectors]
        if missing:
            texts = []
            for k in missing:
                i, part = flat[k]
                heading = part.path[-1] if part.path else items[i].chunk.title
                texts.append(
                    f"{heading}\n{part.text[:_EMBED_CHARS]}" if heading else part.text[:_EMBED_CHARS]
                )
            embedded = await self.embedder.embed_documents(texts)
            for k, vector in zip(missing, embedded, strict=True):
                self._vectors[keys[k]] = vector
        for key in keys:
            self._vectors.move_to_end(key)
        while len(self._vectors) > _CACHE_PARTS:
            self._vectors.popitem(last=False)
        return np.stack([self._vectors[key] for key in keys])
