"""The conversation around a question in the prompt: budget, order, marking (core/answer/conversation.py,
core/answer/prompt.py)."""

from core.answer.context import ContextItem
from core.answer.conversation import fit_conversation, render_conversation
from core.answer.prompt import build_messages
from core.models import Chunk, ConversationMessage
from core.text import estimate_tokens

THREAD = [
    ConversationMessage("U1", "the billing deploy is stuck"),
    ConversationMessage("U2", "pvc data-billing-0 stays Pending"),
    ConversationMessage("U3", "storage class is local-thick"),
]


def test_the_newest_messages_that_fit_are_kept_in_their_order():
    assert fit_conversation(THREAD, 1000) == THREAD
    kept = fit_conversation(THREAD, 2 * estimate_tokens("U3: storage class is local-thick") - 1)
    assert [m.author for m in kept] == ["U3"]  # the older ones did not fit: the newest end of the thread
    assert fit_conversation(THREAD, 0) == []


def test_a_long_message_is_cut_keeping_its_head_and_tail():
    trace = "Traceback: PersistentVolumeClaim pending\n" + "at frame\n" * 400 + "FailedScheduling on node-7"
    (kept,) = fit_conversation([ConversationMessage("U1", trace)], 120)
    assert kept.text.startswith("Traceback: PersistentVolumeClaim pending")
    assert kept.text.endswith("FailedScheduling on node-7")
    assert "[…]" in kept.text and estimate_tokens(kept.text) <= 130


def test_the_prompt_marks_the_conversation_and_numbers_only_the_sources():
    chunk = Chunk("ops", "pvc.md", "v1", 0, "PVC", ("Pending",), "Check the StorageClass.", "pvc.md")
    messages = build_messages(
        "how do we fix this?", [ContextItem(1, chunk)], lang="en", max_tokens=512, conversation=THREAD
    )
    prompt = messages[-1].content
    assert "The conversation the question was asked in" in prompt and "do not cite it" in prompt
    assert render_conversation(THREAD) in prompt
    assert prompt.index("[1] PVC") < prompt.index("U1: the billing deploy") < prompt.index("Question:")
    assert "[2]" not in prompt  # the thread's messages are not numbered like passages
    ru = build_messages(
        "как это исправить?", [ContextItem(1, chunk)], lang="ru", max_tokens=512, conversation=THREAD
    )
    assert "Переписка, в которой задан вопрос" in ru[-1].content
    plain = build_messages("how?", [ContextItem(1, chunk)], lang="en", max_tokens=512)
    assert "conversation" not in plain[-1].content
