"""The search query of a question asked in a conversation (core/answer/query_rewrite.py)."""

from core.answer.query_rewrite import content_terms, points_back, standalone_query

TRACE = (
    "deploy of billing-api is stuck: 0/3 nodes are available: pod has unbound immediate "
    "PersistentVolumeClaims. Warning FailedScheduling pvc/data-billing-0 stays Pending, "
    "storageClassName local-thick"
)


def test_a_follow_up_that_points_back_gains_the_threads_salient_terms():
    earlier = ["tried restarting the pod, same thing", TRACE]  # newest first
    query = standalone_query("how do we fix this?", earlier)
    assert query.startswith("how do we fix this?")
    added = query.removeprefix("how do we fix this?").split()
    # the stack trace's names, not its chatter or numbers
    assert {"PersistentVolumeClaims", "FailedScheduling", "pvc/data-billing-0", "local-thick"} <= set(added)
    assert not {"0/3", "the", "is", "same"} & set(added)
    assert len(added) <= 8


def test_the_russian_follow_up_works_the_same_way():
    earlier = ["у меня то же самое", "PVC data-billing-0 висит в Pending, StorageClass local-thick"]
    query = standalone_query("как это исправить?", earlier)
    assert {"PVC", "data-billing-0", "Pending", "StorageClass", "local-thick"} <= set(query.split())


def test_a_question_complete_by_itself_is_searched_as_written():
    earlier = [TRACE]
    question = "How do I rotate the billing API keys in Vault?"
    assert not points_back(question)
    assert standalone_query(question, earlier) == question


def test_a_pointing_word_makes_even_a_long_question_look_back_but_add_less():
    earlier = [TRACE]
    question = "Is this expected when the ReplicatedStorageClass resource spec cannot be updated?"
    assert points_back(question)
    added = standalone_query(question, earlier).removeprefix(question).split()
    assert 1 <= len(added) <= 2  # the question's own five terms leave room for two


def test_chatter_adds_nothing():
    assert (
        standalone_query("how do we fix this?", ["+1, same here", "anyone?", "thanks"])
        == "how do we fix this?"
    )
    assert standalone_query("how do we fix this?", []) == "how do we fix this?"


def test_newer_messages_win_when_the_thread_says_more_than_fits():
    older = "grafana dashboards alerting prometheus retention thanos compaction downsampling"
    newer = "rotate vault tokens approle secret-id"
    added = standalone_query("where is it described?", [newer, older]).split()
    assert {"rotate", "vault", "tokens", "approle", "secret-id"} <= set(added)
    assert len(set(added) & set(older.split())) <= 3


def test_terms_the_question_already_has_are_not_repeated():
    query = standalone_query("what about vault?", ["rotate vault tokens"])
    assert query == "what about vault? rotate tokens"


def test_content_terms_skip_stop_words_numbers_and_hashes():
    assert content_terms("How do I fix pod a1b2c3d4e5 on node-7 at 10:32? It is Pending") == [
        "pod",
        "node-7",
        "Pending",
    ]
