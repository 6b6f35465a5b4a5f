import pytest

from core.doctypes import split_doc_type_prefix


@pytest.mark.parametrize(
    "text, expected",
    [
        ("runbook: how do I rotate keys?", ("runbook", "how do I rotate keys?")),
        ("Runbooks : restart the API", ("runbook", "restart the API")),
        ("ранбук: как перезапустить API?", ("runbook", "как перезапустить API?")),
        ("faq: what is DVCR?", ("faq", "what is DVCR?")),
        ("Note: the API is down, what now?", (None, "Note: the API is down, what now?")),
        ("http://x: y", (None, "http://x: y")),
        ("how do I set key: value pairs?", (None, "how do I set key: value pairs?")),
    ],
)
def test_prefix(text, expected):
    assert split_doc_type_prefix(text) == expected
