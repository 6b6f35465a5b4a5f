"""The document types of a deployment and the cues that point at each, in English and Russian.

The default taxonomy is built in (``default_taxonomy()``); a deployment may replace it with a
YAML file (``CLASSIFY_TAXONOMY_FILE``, format in ``docs/classification.md``; ``ragbot classify
taxonomy`` prints the default as a starting point). Cues are case-insensitive regular expressions:

- ``filename``: searched in the file name without extension, with ``_``/``-``/``.`` read as spaces
  (``RELEASE_NOTES.ru.md`` -> "release notes ru");
- ``path``: searched in each folder name of the source (``docs/runbooks/db.md`` -> "runbooks");
- ``title``: searched in the title;
- ``heading``: matched against the start of each of the first headings (``## Action items``);
- ``front_matter``: searched in the values of front matter fields that name a kind of page
  (``category``, ``tags``, ``layout``, ``kind``, ``section``);
- ``keywords``: searched in the first part of the text. Weak on their own: rules count them only
  as support, the model uses their counts as features.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.doctypes import DEFAULT_DOC_TYPES, UNKNOWN, DocType
from core.errors import ConfigError

__all__ = [
    "Cues",
    "TypeSpec",
    "Taxonomy",
    "default_taxonomy",
    "load_taxonomy",
    "taxonomy_to_yaml",
    "CUE_KINDS",
]

CUE_KINDS = ("filename", "path", "title", "heading", "front_matter", "keywords")


@dataclass(frozen=True)
class Cues:
    filename: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    heading: tuple[str, ...] = ()
    front_matter: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def patterns(self, kind: str) -> tuple[str, ...]:
        return getattr(self, kind)


@dataclass(frozen=True)
class TypeSpec:
    name: str
    description: str
    aliases: tuple[str, ...] = ()
    # what the zero-shot NLI stage tests: "This document is {hypothesis}."
    hypothesis: str = ""
    cues: Cues = field(default_factory=Cues)

    @property
    def doc_type(self) -> DocType:
        return DocType(self.name, self.description, self.aliases)


@dataclass(frozen=True)
class Taxonomy:
    types: tuple[TypeSpec, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.types]
        if len(set(names)) != len(names):
            raise ConfigError(f"The taxonomy names a type twice: {', '.join(sorted(names))}.")
        if UNKNOWN in names:
            raise ConfigError(f"'{UNKNOWN}' is what the classifier says when no type fits; do not list it.")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def doc_types(self) -> tuple[DocType, ...]:
        """The types with their aliases, for ``core.doctypes.split_doc_type_prefix``."""
        return tuple(t.doc_type for t in self.types)

    def get(self, name: str) -> TypeSpec | None:
        return next((t for t in self.types if t.name == name), None)


def _c(**kinds: Iterable[str]) -> Cues:
    return Cues(**{k: tuple(v) for k, v in kinds.items()})


# Cues for the built-in types. Strong cues (filename, path, title, heading, front matter) are
# chosen for precision: a rule that fires must be right nearly always, since the model never
# sees the documents rules decide. Recall is the model's job.
_DEFAULT_CUES: dict[str, tuple[str, Cues]] = {
    "runbook": (
        "a runbook: the operational procedure to follow when something happens in production",
        _c(
            filename=[r"\brun ?books?\b", r"\bplay ?books?\b", r"\bsop\b", r"ранбук", r"регламент"],
            path=[
                r"^run ?books?$",
                r"^play ?books?$",
                r"^on ?call$",
                r"^sops?$",
                r"^ранбуки?$",
                r"^регламенты?$",
            ],
            title=[
                r"\brun ?book\b",
                r"\bplay ?book\b",
                r"\bstandard operating procedure\b",
                r"\bon-?call (?:procedure|guide|handbook)\b",
                r"^ранбук\b",
                r"\bранбук\b",
                r"^регламент\b",
                r"\bрегламент (?:работ|действий|дежурн|восстановлен|реагирован)",
                r"\bпорядок действий\b",
            ],
            heading=[
                r"(?:when|if) (?:this )?alert",
                r"escalat",
                r"rollback procedure",
                r"эскалаци",
                r"(?:при|если) (?:срабатывани|алерт)",
                r"действия дежурного",
            ],
            front_matter=[r"\brun ?books?\b", r"\bplay ?books?\b", r"\bранбук", r"\bрегламент"],
            keywords=[
                r"\bon-?call\b",
                r"\bescalat",
                r"\balert\b",
                r"\bpager",
                r"\bseverity\b",
                r"\bmitigat",
                r"\brollback\b",
                r"\bdashboard\b",
                r"\bдежурн",
                r"\bэскалац",
                r"\bалерт",
                r"\bоткат",
                r"\bсработ",
                r"\bпроверьте\b",
            ],
        ),
    ),
    "faq": (
        "frequently asked questions with their answers",
        _c(
            filename=[r"\bfaqs?\b", r"\bq ?& ?a\b", r"\bчаво\b"],
            path=[r"^faqs?$", r"^чаво$"],
            title=[
                r"\bfaqs?\b",
                r"\bfrequently asked questions\b",
                r"\bcommon questions\b",
                r"\bq ?& ?a\b",
                r"\bчаво\b",
                r"\bчасто задаваемые вопросы\b",
                r"\bчастые вопросы\b",
                r"\bвопросы и ответы\b",
            ],
            heading=[r"frequently asked questions", r"часто задаваемые вопросы", r"вопросы и ответы"],
            front_matter=[r"\bfaqs?\b", r"\bчаво\b"],
            keywords=[
                r"\?\s",
                r"\bq:",
                r"\bвопрос:",
                r"\bwhy\b",
                r"\bпочему\b",
                r"\bcan i\b",
                r"\bможно ли\b",
            ],
        ),
    ),
    "howto": (
        "a guide or tutorial that walks through one task step by step",
        _c(
            filename=[r"\bhow ?to\b", r"\btutorials?\b", r"\bquick ?start\b", r"\bwalkthrough\b"],
            path=[r"^how ?tos?$", r"^tutorials?$", r"^guides?$", r"^руководства$"],
            title=[
                r"^how (?:to|do i)\b",
                r"\btutorial\b",
                r"\bquick ?start\b",
                r"\bgetting started\b",
                r"\bstep[- ]by[- ]step\b",
                r"\bwalkthrough\b",
                r"^как\b",
                r"\bбыстрый старт\b",
                r"\bпошагов",
                r"\bначало работы\b",
            ],
            heading=[r"step \d+\b", r"шаг \d+\b", r"prerequisites\b", r"предварительные требования"],
            front_matter=[r"\bhow ?to\b", r"\btutorials?\b", r"\bguides?\b", r"\bруководство\b"],
            keywords=[
                r"\bstep \d",
                r"\bprerequisites?\b",
                r"\bfollow these steps\b",
                r"\bto create\b",
                r"\bшаг \d",
                r"\bвыполните\b",
                r"\bчтобы (?:создать|настроить|установить|подключить)",
            ],
        ),
    ),
    "reference": (
        "reference material: an API, configuration parameters, resource fields, limits",
        _c(
            filename=[r"^api ", r"\bapi ref", r"\breference\b", r"\bglossary\b", r"\bсправочник\b"],
            path=[r"^reference$", r"^api$", r"^справочник$"],
            title=[
                r"\bapi reference\b",
                r"\breference\b",
                r"\bglossary\b",
                r"\bcustom resources\b",
                r"\bсправочник\b",
                r"\bглоссарий\b",
                r"\bсправка по\b",
                r"\bописание (?:параметров|полей|api)\b",
            ],
            heading=[
                r"request syntax",
                r"response syntax",
                r"request parameters",
                r"response elements",
                r"синтаксис запроса",
                r"параметры запроса",
            ],
            front_matter=[r"\breference\b", r"\bapi\b", r"\bсправочник\b"],
            keywords=[
                r"\brequired: (?:yes|no)\b",
                r"\btype: (?:string|integer|boolean|array)",
                r"\bdefault(?: value)?:",
                r"\bпо умолчанию:",
                r"\bобязательный\b",
                r"\bтип:",
                r"\bпараметр\b",
            ],
        ),
    ),
    "policy": (
        "a policy: rules people must follow, who is responsible, what is allowed",
        _c(
            filename=[
                r"\bpolicy\b",
                r"\bpolicies\b",
                r"\bcode of conduct\b",
                r"\bполитика\b",
                r"\bположение\b",
            ],
            path=[r"^polic(?:y|ies)$", r"^политики$"],
            title=[
                r"\bpolicy\b",
                r"\bcode of conduct\b",
                r"\bacceptable use\b",
                r"\bполитика\b",
                r"\bположение о\b",
                r"\bправила (?:работы|использования|доступа|хранения)\b",
            ],
            heading=[r"scope\b", r"область (?:применения|действия)", r"enforcement\b", r"ответственность\b"],
            front_matter=[r"\bpolic(?:y|ies)\b", r"\bполитик"],
            keywords=[
                r"\bmust\b",
                r"\bmust not\b",
                r"\bprohibited\b",
                r"\bcomplian",
                r"\bexceptions?\b",
                r"\bобязаны\b",
                r"\bдолжны\b",
                r"\bзапрещ",
                r"\bнарушени",
                r"\bисключени",
            ],
        ),
    ),
    "meeting_notes": (
        "notes of a meeting: who attended, what was discussed, decisions and action items",
        _c(
            filename=[
                r"\bmeeting",
                r"\bminutes\b",
                r"\bstand ?up\b",
                r"\bretro(?:spective)?\b",
                r"\bsync\b",
                r"\b1 ?on ?1\b",
                r"\bвстреч",
                r"\bпротокол\b",
                r"\bпланерк",
                r"\bсозвон",
            ],
            path=[r"^meetings?$", r"^minutes$", r"^встречи$", r"^протоколы$"],
            title=[
                r"\bmeeting (?:notes|minutes)\b",
                r"\bminutes of\b",
                r"\b(?:weekly|daily) (?:sync|stand-?up)\b",
                r"\bretrospective\b",
                r"\bпротокол (?:встречи|совещания|созвона)\b",
                r"\bзаметки (?:со|с) (?:встречи|созвона|планерки)\b",
                r"\bитоги (?:встречи|совещания|созвона)\b",
                r"\bретроспектив",
            ],
            heading=[
                r"attendees\b",
                r"participants\b",
                r"action items\b",
                r"участники\b",
                r"присутствовали\b",
                r"решения\b",
                r"задачи по итогам",
            ],
            front_matter=[r"\bmeetings?\b", r"\bminutes\b", r"\bвстреч", r"\bпротокол"],
            keywords=[
                r"\battendees\b",
                r"\baction items?\b",
                r"\bagenda\b",
                r"\bdecided\b",
                r"\bnext meeting\b",
                r"\bучастники\b",
                r"\bповестка\b",
                r"\bрешили\b",
                r"\bответственн",
                r"\bследующая встреча\b",
            ],
        ),
    ),
    "postmortem": (
        "a postmortem: the review of an incident, its timeline, root cause and follow-up actions",
        _c(
            filename=[
                r"\bpost ?mortem",
                r"\bincident (?:review|report)\b",
                r"\brca\b",
                r"\bпостмортем",
                r"\bразбор инцидент",
            ],
            path=[r"^post ?mortems?$", r"^incidents?$", r"^постмортемы$", r"^инциденты$"],
            title=[
                r"\bpost-?mortem\b",
                r"\bincident (?:review|report|analysis)\b",
                r"\broot cause analysis\b",
                r"\bпостмортем\b",
                r"\bразбор инцидента\b",
                r"\bанализ инцидента\b",
                r"\bотчет об инциденте\b",
                r"\bотчёт об инциденте\b",
            ],
            heading=[
                r"root cause\b",
                r"timeline\b",
                r"impact\b",
                r"lessons learned\b",
                r"корневая причина",
                r"причина инцидента",
                r"хронология",
                r"влияние\b",
                r"выводы\b",
            ],
            front_matter=[r"\bpost-?mortems?\b", r"\bincidents?\b", r"\bпостмортем", r"\bинцидент"],
            keywords=[
                r"\broot cause\b",
                r"\boutage\b",
                r"\bimpact\b",
                r"\bdetected\b",
                r"\bresolved\b",
                r"\butc\b",
                r"\bинцидент",
                r"\bпричин",
                r"\bсбой\b",
                r"\bпростой\b",
                r"\bобнаружил",
            ],
        ),
    ),
    "release_notes": (
        "release notes: what changed in a version",
        _c(
            filename=[
                r"\brelease ?notes?\b",
                r"\bchange ?log\b",
                r"\bchanges\b",
                r"\breleases\b",
                r"\bhistory\b",
                r"\bрелиз",
            ],
            path=[r"^releases?$", r"^change ?logs?$", r"^release ?notes$", r"^релизы$"],
            title=[
                r"\brelease notes\b",
                r"\bchange ?log\b",
                r"\breleases?\b",
                r"\bwhat'?s new\b",
                r"\bdocument history\b",
                r"^релиз(?:ы|\b)",
                r"^(?:версия|выпуск) v?\d",
                r"\bпримечания к выпуску\b",
                r"\bсписок изменений\b",
                r"\bчто нового\b",
                r"\bистория изменений\b",
            ],
            heading=[
                r"v?\d+\.\d+(?:\.\d+)?\b",
                r"(?:bug ?fixes|fixes|new features|breaking changes)\b",
                r"(?:исправления|новые возможности|изменения)\b",
            ],
            front_matter=[r"\brelease", r"\bchangelog\b", r"\bрелиз"],
            keywords=[
                r"\bfixed\b",
                r"\badded\b",
                r"\bdeprecated\b",
                r"\bupgrade\b",
                r"\bv\d+\.\d+",
                r"\bисправлен",
                r"\bдобавлен",
                r"\bобновлен",
                r"\bверси[ия]\b",
            ],
        ),
    ),
}

_HYPOTHESES = {
    "runbook": "an operational runbook",
    "faq": "a list of frequently asked questions",
    "howto": "a step-by-step guide",
    "reference": "reference documentation",
    "policy": "a company policy",
    "meeting_notes": "notes from a meeting",
    "postmortem": "an incident postmortem",
    "release_notes": "release notes",
}


def default_taxonomy() -> Taxonomy:
    types = []
    for doc_type in DEFAULT_DOC_TYPES:
        description, cues = _DEFAULT_CUES[doc_type.name]
        types.append(
            TypeSpec(doc_type.name, description, doc_type.aliases, _HYPOTHESES.get(doc_type.name, ""), cues)
        )
    return Taxonomy(tuple(types))


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings.")
    return tuple(value)


def _cues(raw: object, where: str) -> Cues:
    if raw is None:
        return Cues()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping of cue kinds ({', '.join(CUE_KINDS)}).")
    unknown = set(raw) - set(CUE_KINDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown cue kind(s) {', '.join(sorted(map(str, unknown)))}; use {', '.join(CUE_KINDS)}."
        )
    kinds: dict[str, tuple[str, ...]] = {}
    for kind in CUE_KINDS:
        patterns = _strings(raw.get(kind), f"{where}.{kind}")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ConfigError(
                    f"{where}.{kind}: '{pattern}' is not a valid regular expression ({e})."
                ) from e
        kinds[kind] = patterns
    return Cues(**kinds)


def parse_taxonomy(data: object, where: str = "taxonomy") -> Taxonomy:
    """A taxonomy from parsed YAML: ``{types: {name: {description, aliases, hypothesis, cues}}}``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("types"), Mapping) or not data["types"]:
        raise ConfigError(
            f"{where}: expected a top-level 'types:' mapping of type names to their descriptions."
        )
    types = []
    for name, body in data["types"].items():
        name = str(name)
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,29}", name):
            raise ConfigError(f"{where}: type name '{name}' must be 2-30 lower-case letters, digits or '_'.")
        body = body or {}
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}: types.{name} must be a mapping.")
        aliases = tuple(a.casefold() for a in _strings(body.get("aliases"), f"{where}: types.{name}.aliases"))
        types.append(
            TypeSpec(
                name=name,
                description=str(body.get("description") or name.replace("_", " ")),
                aliases=aliases,
                hypothesis=str(body.get("hypothesis") or ""),
                cues=_cues(body.get("cues"), f"{where}: types.{name}.cues"),
            )
        )
    return Taxonomy(tuple(types))


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The deployment's taxonomy: the YAML file at ``path``, or the built-in one when None."""
    if path is None:
        return default_taxonomy()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(
            f"Cannot read the taxonomy file {path} (CLASSIFY_TAXONOMY_FILE): {e.strerror or e}."
        ) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"The taxonomy file {path} is not valid YAML: {e}.") from e
    return parse_taxonomy(data, str(path))


def taxonomy_to_yaml(taxonomy: Taxonomy) -> str:
    """The taxonomy in the YAML format ``load_taxonomy`` reads (a template for deployments)."""
    out: dict[str, object] = {"types": {}}
    for t in taxonomy.types:
        cues = {k: list(t.cues.patterns(k)) for k in CUE_KINDS if t.cues.patterns(k)}
        out["types"][t.name] = {  # type: ignore[index]
            "description": t.description,
            "aliases": list(t.aliases),
            "hypothesis": t.hypothesis,
            "cues": cues,
        }
    return yaml.safe_dump(out, allow_unicode=True, sort_keys=False, width=110)
