"""`ragbot bench slack-thread` (docs/BENCHMARKS.md) runs what it says: the same questions without and
with a thread to read, one conversations.replies per question in the second half, every answer
delivered. Its figures are measured by the benchmark, not asserted here."""

from bot.bench.slack_stream import run_thread_context


async def test_the_thread_benchmark_reads_one_thread_per_question_and_delivers_every_answer():
    result = await run_thread_context(duration_s=1.0, thread_messages=4, replies_latency_s=0.05)
    without, with_thread = result["without_thread"], result["with_thread"]
    assert without["all_delivered"] and with_thread["all_delivered"]
    assert without["conversations_replies_calls"] == 0
    assert with_thread["conversations_replies_calls"] == with_thread["answers"] >= 5
    assert with_thread["conversations_replies_429"] == 0 and with_thread["thread_messages"] == 4
    for half in (without, with_thread):
        assert half["first_reaction_ms_p50"] > 0 and half["question_to_model_ms_p50"] > 0
