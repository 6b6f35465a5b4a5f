"""The pure parts of the shared LLM HTTP layer: line splitting, SSE decoding, error bodies,
Retry-After and backoff. The HTTP behaviour is tested per backend against fake servers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from core.backends.llm_http import (
    BadLines,
    LineSplitter,
    RetryPolicy,
    SseDecoder,
    SseEvent,
    display_url,
    error_detail,
    parse_retry_after,
)


def split_all(chunks: list[bytes]) -> list[str]:
    splitter = LineSplitter()
    lines: list[str] = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    return lines + splitter.flush()


class TestLineSplitter:
    def test_lf_crlf_and_cr_all_end_lines(self) -> None:
        assert split_all([b"a\nb\r\nc\rd"]) == ["a", "b", "c", "d"]

    def test_crlf_split_between_chunks_is_one_line_end(self) -> None:
        assert split_all([b"data: x\r", b"\n\r", b"\ndata: y\r\n"]) == ["data: x", "", "data: y"]

    def test_blank_lines_are_kept(self) -> None:
        assert split_all([b"data: 1\n\ndata: 2\n\n"]) == ["data: 1", "", "data: 2", ""]

    def test_multibyte_utf8_split_between_chunks(self) -> None:
        raw = "data: Привет, мир\n".encode()
        chunks = [raw[i : i + 1] for i in range(len(raw))]  # one byte at a time
        assert split_all(chunks) == ["data: Привет, мир"]

    def test_unicode_line_separators_inside_json_do_not_split(self) -> None:
        # JSON may carry U+2028 / U+0085 unescaped; str.splitlines would cut the token in two.
        line = 'data: {"content": "a\u2028b\x85c\x0cd"}'
        assert split_all([(line + "\n").encode()]) == [line]

    def test_last_line_without_newline_is_flushed(self) -> None:
        assert split_all([b"one\ntwo"]) == ["one", "two"]
        assert split_all([b"one\r"]) == ["one"]

    def test_lines_come_out_as_soon_as_they_are_complete(self) -> None:
        splitter = LineSplitter()
        assert splitter.feed(b"data: partial") == []
        assert splitter.feed(b" token\n") == ["data: partial token"]


def decode(lines: list[str]) -> tuple[list[SseEvent], BadLines]:
    bad = BadLines()
    decoder = SseDecoder(bad)
    events = [e for line in lines if (e := decoder.feed(line)) is not None]
    if (tail := decoder.flush()) is not None:
        events.append(tail)
    return events, bad


class TestSseDecoder:
    def test_data_lines_join_with_newlines_and_blank_line_dispatches(self) -> None:
        events, bad = decode(["data: {", 'data:  "a": 1', "data: }", ""])
        assert events == [SseEvent("message", '{\n "a": 1\n}')]
        assert bad.count == 0

    def test_one_optional_space_after_the_colon(self) -> None:
        events, _ = decode(["data:x", "", "data: y", "", "data:  z", ""])
        assert [e.data for e in events] == ["x", "y", " z"]

    def test_comments_id_and_retry_are_ignored(self) -> None:
        events, bad = decode([": keep-alive", "", "id: 7", "retry: 100", "data: a", ""])
        assert events == [SseEvent("message", "a")]
        assert bad.count == 0

    def test_event_names_are_kept_and_reset_after_dispatch(self) -> None:
        events, _ = decode(["event: ping", "data: {}", "", "data: b", ""])
        assert events == [SseEvent("ping", "{}"), SseEvent("message", "b")]

    def test_llama_cpp_error_lines_become_error_events(self) -> None:
        events, _ = decode(['error: {"code": 500, "message": "boom"}', ""])
        assert events == [SseEvent("error", '{"code": 500, "message": "boom"}')]

    def test_unknown_fields_are_counted_as_bad_lines(self) -> None:
        events, bad = decode(["this is not sse", "data: a", ""])
        assert events == [SseEvent("message", "a")]
        assert bad.count == 1
        assert bad.example == "this is not sse"

    def test_unterminated_last_event_is_dispatched_at_the_end(self) -> None:
        events, _ = decode(["data: [DONE]"])
        assert events == [SseEvent("message", "[DONE]")]


class TestErrorDetail:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (b'{"error": {"message": "max_tokens is too large", "type": "x"}}', "max_tokens is too large"),
            (b'{"object": "error", "message": "model not found", "code": 404}', "model not found"),
            (
                b'{"error": "model \\"llama3\\" not found, try pulling it first"}',
                'model "llama3" not found, try pulling it first',
            ),
            (b'{"error": "Input validation error", "error_type": "validation"}', "Input validation error"),
            (
                b'{"detail": [{"loc": ["body"], "msg": "field required"}]}',
                '[{"loc": ["body"], "msg": "field required"}]',
            ),
            (b"Bad Gateway\n\n  nginx", "Bad Gateway nginx"),
            (b"", ""),
        ],
    )
    def test_shapes(self, body: bytes, expected: str) -> None:
        assert error_detail(body) == expected

    def test_long_bodies_are_cut_to_about_200_characters(self) -> None:
        detail = error_detail(b"<html>" + b"x" * 5000)
        assert len(detail) <= 200
        assert detail.endswith("…")


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 1.5 ") == 1.5

    def test_http_date(self) -> None:
        now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
        header = format_datetime(now + timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(header, now=now) == pytest.approx(30.0)

    def test_past_dates_mean_now(self) -> None:
        now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-"])
    def test_absent_or_unreadable(self, value: str | None) -> None:
        assert parse_retry_after(value) is None


class TestBackoff:
    def test_retry_after_wins(self) -> None:
        assert RetryPolicy().delay(0, 7.0) == 7.0
        assert RetryPolicy().delay(5, 0.0) == 0.0

    def test_full_jitter_within_a_capped_exponential(self) -> None:
        policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0, rng=random.Random(1))
        for attempt in range(10):
            cap = min(4.0, 0.5 * 2**attempt)
            delays = [policy.delay(attempt, None) for _ in range(200)]
            assert all(0.0 <= d <= cap for d in delays)
            assert max(delays) > cap * 0.8  # it does use the whole range (jitter, not a constant)
            assert min(delays) < cap * 0.2


def test_display_url_hides_credentials_and_paths() -> None:
    assert display_url("http://user:secret@vllm:8000/v1") == "vllm:8000"
    assert display_url("https://api.openai.com/v1") == "api.openai.com"
    assert display_url("http://tgi:80") == "tgi"
