"""The taxonomy: the built-in default, and a deployment's own YAML file."""

import pytest

from core.classify.rules import RuleSet
from core.classify.taxonomy import default_taxonomy, load_taxonomy, parse_taxonomy, taxonomy_to_yaml
from core.classify.view import view_of
from core.doctypes import DEFAULT_DOC_TYPES, split_doc_type_prefix
from core.errors import ConfigError


def test_default_taxonomy_is_the_shared_doc_types_with_cues():
    taxonomy = default_taxonomy()
    assert taxonomy.names == tuple(d.name for d in DEFAULT_DOC_TYPES)
    for spec, shared in zip(taxonomy.types, DEFAULT_DOC_TYPES, strict=True):
        assert spec.aliases == shared.aliases
        assert spec.cues.filename and spec.cues.title and spec.cues.keywords  # every type has EN and RU cues
        assert any(any("а" <= ch <= "я" for ch in p) for p in spec.cues.title), spec.name


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(taxonomy_to_yaml(default_taxonomy()), encoding="utf-8")
    assert load_taxonomy(path) == default_taxonomy()
    assert load_taxonomy(None) == default_taxonomy()


def test_a_deployment_defines_its_own_types(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(
        """
types:
  adr:
    description: an architecture decision record
    aliases: [decision, решение]
    hypothesis: an architecture decision record
    cues:
      filename: ['\\badr\\b']
      title: ['^adr[- ]?\\d+', 'архитектурное решение']
      heading: ['decision\\b', 'решение\\b']
  runbook:
    description: procedures
    cues:
      title: ['\\brunbook\\b']
""",
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(path)
    assert taxonomy.names == ("adr", "runbook")
    rules = RuleSet(taxonomy)
    view = view_of(
        title="ADR-12: use Kafka", text="## Decision\n\nKafka.", source="docs/adr-12.md", metadata={}
    )
    decision = rules.decide(view)
    assert decision is not None and decision.doc_type == "adr"
    # chat prefixes follow the deployment's aliases
    assert split_doc_type_prefix("решение: почему Kafka?", taxonomy.doc_types) == ("adr", "почему Kafka?")


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "types"),
        ({"types": {"unknown": {}}}, "unknown"),
        ({"types": {"Bad Name": {}}}, "lower-case"),
        ({"types": {"adr": {"cues": {"smell": ["x"]}}}}, "unknown cue kind"),
        ({"types": {"adr": {"cues": {"title": ["(unclosed"]}}}}, "not a valid regular expression"),
        ({"types": {"adr": {"aliases": "decision"}, "faq": {"cues": {"title": [1]}}}}, "list of strings"),
    ],
)
def test_invalid_taxonomies_are_explained(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_taxonomy(data)


def test_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the taxonomy file"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("types: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_taxonomy(bad)
