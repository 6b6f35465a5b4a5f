"""Which passages an answer without [n] drew on: runs of words it repeats, not paraphrase."""

from core.answer.attribution import drawn_from
from core.answer.context import ContextItem
from core.testing.contracts.keyword_index import make_chunk

YAML = """apiVersion: storage.deckhouse.io/v1alpha1
kind: LocalStorageClass
metadata:
  name: local-storage-class
spec:
  lvm:
    type: Thick
  reclaimPolicy: Delete"""

ITEMS = [
    ContextItem(1, make_chunk("The module supports two modes: LVM (Thick) and LVM-thin.", doc_id="modes")),
    ContextItem(2, make_chunk(f"Create a LocalStorageClass:\n\n```yaml\n{YAML}\n```", doc_id="lsc")),
    ContextItem(3, make_chunk("Модуль поддерживает два режима работы: LVM (Thick) и LVM-thin.", doc_id="ru")),
]


def test_a_copied_block_points_to_its_passage() -> None:
    answer = f"To create one, apply:\n\n```yaml\n{YAML}\n```\nThen check the status."
    assert drawn_from(answer, ITEMS) == {2}


def test_a_repeated_russian_sentence_counts_like_an_english_one() -> None:
    assert drawn_from("Модуль поддерживает два режима работы: LVM (Thick) и LVM-thin.", ITEMS) == {3}


def test_passages_repeated_about_as_much_are_all_named() -> None:
    answer = "The module supports two modes: LVM (Thick) and LVM-thin. Модуль поддерживает два режима работы: LVM (Thick) и LVM-thin."
    assert drawn_from(answer, ITEMS) == {1, 3}


def test_paraphrase_and_short_answers_name_nothing() -> None:
    assert drawn_from("Both thick and thin LVM volumes are possible.", ITEMS) == set()
    assert drawn_from("LVM-thin.", ITEMS) == set()
    assert drawn_from("", ITEMS) == set()
