"""core.text: the language of a text."""

from core.text import detect_lang


def test_code_does_not_decide_the_language_of_the_text_around_it():
    answer = (
        "Для включения модуля `sds-local-volume` примените ресурс:\n\n"
        "```yaml\napiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata:\n  name: sds-local-volume\n"
        "spec:\n  enabled: true\n  version: 1\n  settings:\n    logLevel: INFO\n```\n"
    )
    assert detect_lang(answer) == "ru"
    assert detect_lang("Apply it:\n\n```\nкоманда\n```") == "en"
    assert detect_lang("```\nkubectl get pods\n```") == "en"  # nothing but code: the code decides
