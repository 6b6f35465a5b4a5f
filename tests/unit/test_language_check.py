"""Deciding from an answer's first words whether it is in the question's language."""

import pytest

from core.answer.language import language_verdict


@pytest.mark.parametrize(
    ("text", "lang", "verdict"),
    [
        ("Модуль", "ru", True),
        ("`d8 k get pvc` и", "ru", None),  # a command says nothing; "и" is too little yet
        ("To change the DVCR StorageClass, stop", "ru", False),
        ("I could not find the answer in the documents.", "ru", False),
        ("Чтобы сменить StorageClass, остановите DVCR", "ru", True),
        ("`sds-local-volume` v1alpha1 spec.replication", "ru", None),  # identifiers only: undecided
        ("To change the DVCR", "en", True),
        ("To", "en", None),
        ("Чтобы сменить StorageClass у DVCR, нужно", "en", False),
        ("```yaml\nkind: ModuleConfig\nmetadata:\n  name: sds-local-volume", "en", None),
        ("The `ModuleConfig` ресурс", "en", None),
    ],
)
def test_language_verdict(text, lang, verdict):
    assert language_verdict(text, lang) is verdict
