"""The Russian + English term analysis behind the keyword index."""

from __future__ import annotations

from core.backends.text_analysis import STOPWORDS_EN, STOPWORDS_RU, TermAnalyzer

ana = TermAnalyzer()


def test_lower_cases_folds_yo_and_drops_stopwords() -> None:
    assert ana.terms("How do I scale the Deployment?") == ["scale", "deployment"]
    assert ana.terms("Как настроить ёмкость хранилища для кластера?") == [
        "настроить",
        "емкость",
        "хранилища",
        "кластера",
    ]
    assert ana.terms("") == []
    assert ana.terms('?!.,;:()"*') == []


def test_identifiers_are_kept_whole_and_split_into_words() -> None:
    assert ana.terms("restart kube-apiserver") == ["restart", "kube-apiserver", "kube", "apiserver"]
    assert ana.terms("ModuleConfig") == ["moduleconfig", "module", "config"]
    assert ana.terms("v1alpha1 ec2 IPv6") == ["v1alpha1", "ec2", "ipv6"]
    assert ana.terms("sds-node-configurator.deckhouse.io") == [
        "sds-node-configurator.deckhouse.io",
        "sds-node-configurator",
        "sds",
        "node",
        "configurator",
        "deckhouse",
        "io",
    ]
    assert ana.terms("/etc/kubernetes/manifests") == ["etc", "kubernetes", "manifests"]
    assert ana.terms("node_group") == ["node_group", "node", "group"]


def test_single_characters_and_blobs_are_not_terms() -> None:
    assert ana.terms("a b c 1 2 x") == []
    assert ana.terms("z" * 65) == []
    assert ana.terms("z" * 64) == ["z" * 64]


def test_stems_russian_and_english_inflections_together() -> None:
    assert len(set(ana.stems(["кластер", "кластера", "кластеров", "кластерах"]))) == 1
    assert len(set(ana.stems(["настройка", "настройки", "настройку"]))) == 1
    assert len(set(ana.stems(["cluster", "clusters"]))) == 1
    assert len(set(ana.stems(["policy", "policies"]))) == 1
    assert ana.stems(["running"]) == ["run"]


def test_identifiers_numbers_and_mixed_scripts_are_not_stemmed() -> None:
    terms = ["kube-apiserver", "v1alpha1", "8080", "сeрвер"]  # the last mixes a Latin "c" in
    assert ana.stems(terms) == terms


def test_query_terms_are_distinct_and_bounded() -> None:
    assert ana.query_terms("pods pods and more pods, nodes", 10) == ["pods", "nodes"]
    assert ana.query_terms(" ".join(f"word{i}" for i in range(100)), 5) == [f"word{i}" for i in range(5)]


def test_stopword_lists_are_lower_case_and_folded() -> None:
    assert all(w == w.lower() for w in STOPWORDS_EN | STOPWORDS_RU)
    assert not any("ё" in w for w in STOPWORDS_RU)


def test_fingerprint_follows_the_analysis() -> None:
    assert TermAnalyzer().fingerprint == ana.fingerprint
    assert TermAnalyzer(stopwords=False).fingerprint != ana.fingerprint
    assert TermAnalyzer(stopwords=False).terms("the cluster") == ["the", "cluster"]
