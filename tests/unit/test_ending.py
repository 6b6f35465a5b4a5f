"""Answers that end well: the stream never shows a half-written word, and an answer stopped at the
token limit ends at its last complete sentence, item or code line."""

import re

import pytest

from core.answer.ending import EndingGuard, complete_until


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("Run it [1]. Then the", "Run it [1]."),
        (
            "Модуль включается ресурсом ModuleConfig [2, 3]. Затем",
            "Модуль включается ресурсом ModuleConfig [2, 3].",
        ),
        ("Steps:\n- stop it\n- delete the P", "Steps:\n- stop it\n"),
        (
            "Apply this:\n```yaml\nkind: X\nspec: {}\n```\nThen wai",
            "Apply this:\n```yaml\nkind: X\nspec: {}\n```\n",
        ),
        ("Apply this:\n```yaml\nkind: X\nspe", "Apply this:\n```yaml\nkind: X\n"),
        ("Run the following:\n\n", ""),  # an announcement alone is not an ending
        ("no end in sight", ""),
    ],
)
def test_complete_until(text, complete):
    assert text[: complete_until(text)] == complete


def tokens(text: str) -> list[str]:
    """The way a server streams: word pieces, each space and newline at the start of a piece."""
    return re.findall(r"\s*\S{1,4}", text)


def stream(guard: EndingGuard, pieces: list[str], *, cut: bool) -> tuple[list[str], str]:
    shown = [out for p in pieces if (out := guard.feed(p))]
    return shown, guard.finish(cut=cut)


def test_a_finished_answer_comes_through_whole_and_no_piece_ends_inside_a_word():
    text = "The gateway listens on port 4433 [1]. Profiles expire after ninety days [1]."
    guard = EndingGuard(512)
    shown, rest = stream(guard, tokens(text), cut=False)
    assert "".join(shown) + rest == text
    for piece in shown:
        assert piece[-1].isspace()  # each handed out up to the end of a word, never into one


def test_at_the_limit_the_answer_ends_at_its_last_sentence():
    text = (
        "The module is enabled with a ModuleConfig resource [2]. It creates volumes from the block "
        "devices of the nodes [1]. The volumes are created from the specified block devices on the"
    )
    pieces = tokens(text)
    guard = EndingGuard(len(pieces), reserve=len(pieces) // 2)  # a sentence ends in the last stretch
    shown, rest = stream(guard, pieces, cut=True)
    assert rest == ""
    assert (
        "".join(shown)
        == "The module is enabled with a ModuleConfig resource [2]. It creates volumes from the block devices of the nodes [1]."
    )


def test_at_the_limit_inside_a_code_block_the_block_is_closed_after_its_last_whole_line():
    text = (
        "Apply it [1]:\n```yaml\nkind: LocalStorageClass\nmetadata:\n  name: local-sc\nspec:\n  lvm:\n    ty"
    )
    pieces = tokens(text)
    guard = EndingGuard(len(pieces), reserve=len(pieces))
    shown, rest = stream(guard, pieces, cut=True)
    final = "".join(shown) + rest
    assert final.endswith("spec:\n  lvm:\n```")
    assert final.count("```") == 2


def test_the_reserve_is_a_quarter_of_the_limit_and_holds_back_nothing_before_it():
    guard = EndingGuard(400)
    assert guard.reserve == 100
    assert guard.feed("One unfinished sentence with ") == "One unfinished sentence with "


def test_a_code_block_the_model_left_open_is_closed_when_it_stops_by_itself():
    guard = EndingGuard(512)
    shown = guard.feed("Run:\n```shell\nd8 k get modules -w\n")
    rest = guard.finish(cut=False)
    assert (shown + rest).endswith("d8 k get modules -w\n```")
