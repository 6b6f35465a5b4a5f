"""Build ``pairs.tsv``: question pairs labelled "same question" (1) or not (0), English, Russian
and across the two, for choosing the threshold at which a new question is answered from a
verified answer (``ragbot eval verified tests/data/verified/pairs.tsv``, docs/feedback.md).

Run from the repository root with the shared eval sets beside it (``../shared/eval``):
``python tests/data/verified/make_pairs.py``. The output is committed; the tests do not run this.

- same question, other words: the paraphrases below, written by hand for this set, of questions
  of the deckhouse and aws dev sets (and six pairs of XQuAD questions that ask the same thing);
- same question, other language: the deckhouse questions asked in both languages, a sample of
  XQuAD's parallel questions, and each English paraphrase against the Russian original;
- different questions (hard negatives): other questions about the same module, AWS product or
  Wikipedia paragraph, which share most of their words and topic but need another answer.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
from collections import defaultdict
from pathlib import Path

EVAL = Path("../shared/eval")
OUT = Path(__file__).with_name("pairs.tsv")

# (original question id or text, paraphrase), English
EN_PARAPHRASES = [
    ("en-virtualization-q01", "How can I pass a Sysprep answer file to a Windows VM?"),
    ("en-virtualization-q05", "Is there a way to build an Ansible inventory automatically?"),
    (
        "en-virtualization-q08",
        "The DVCR PVC is already created: how can I switch it to another StorageClass?",
    ),
    ("en-sds-replicated-volume-q00", "How does LVMThin differ from plain LVM?"),
    ("en-sds-replicated-volume-q01", "When should I pick each replication mode?"),
    ("en-sds-replicated-volume-q03", "Where can I see how much storage space is used?"),
    ("en-sds-replicated-volume-q04", "How can I make a StorageClass the default one?"),
    ("en-sds-replicated-volume-q04", "how do i set default storageclass"),
    ("en-sds-replicated-volume-q05", "Can I use an LVM volume group or thin pool that already exists?"),
    ("en-sds-replicated-volume-q06", "How do I add a new node to a ReplicatedStoragePool?"),
    ("en-sds-replicated-volume-q09", "How can I move all DRBD resources off a node?"),
    (
        "en-sds-replicated-volume-q12",
        "The StorageClass stays after I delete the ReplicatedStorageClass. How do I remove it?",
    ),
    ("en-sds-replicated-volume-q14", "How can I recover the database from a backup?"),
    (
        "en-sds-replicated-volume-q15",
        "The module does not work and the docs did not help. Where can I get support?",
    ),
    ("en-sds-node-configurator-q01", "What does the BlockDeviceNotFound error on an LVMVolumeGroup mean?"),
    ("en-sds-node-configurator-q05", "How can the controller take over a volume group I created by hand?"),
    ("en-sds-node-configurator-q10", "What are fileDevices and how do they work?"),
    ("en-sds-node-configurator-q11", "Which labels does the controller put on BlockDevices?"),
    ("en-sds-local-volume-q04", "How to free the disk space of a Retain volume after deleting its PVC?"),
    ("aws-q001", "Can I tag an AMI when I create it?"),
    ("aws-q012", "How can I copy a whole S3 bucket to my computer?"),
    ("aws-q014", "Which instance store does d2.xlarge have?"),
    ("aws-q015", "Which algorithms does Amazon Forecast provide out of the box?"),
    ("aws-q016", "What version of TLS does Amazon Forecast use?"),
    ("aws-q019", "How many dataset groups can I create in Amazon Forecast?"),
    ("aws-q036", "How many IOPS can RDS General Purpose SSD storage reach at most?"),
    ("aws-q063", "In which location are CloudTrail logs saved?"),
    ("aws-q064", "What encryption does Greengrass use for data in transit?"),
    ("aws-q075", "Which states can an Application Load Balancer be in?"),
    ("aws-q076", "How many load balancers can I have in one region?"),
    ("aws-q084", "Is it possible to train with my own algorithm in SageMaker?"),
    ("aws-q086", "Does SageMaker training support Spot instances?"),
    ("aws-q089", "Can I use SageMaker in the Ohio region (us-east-2)?"),
    ("aws-q093", "Is it possible to use CodePipeline inside a VPC?"),
    ("aws-q096", "Can I publish versions of a Lambda function?"),
    ("aws-q057", "What does SageMaker Model Monitor do?"),
    ("Who registered the most sacks on the team this season?", "Who led the Panthers in sacks?"),
    (
        "In what country can most of the Amazon rainforest be found?",
        "Which nation contains the majority of the amazon forest?",
    ),
    (
        "What are the little tentacles that cydippids have called?",
        "What are the small tentacles on Cydippids called?",
    ),
    (
        "How old was Peyton Manning when he played in Super Bowl 50?",
        "How old was Manning when he played Super Bowl 50?",
    ),
    ("Who lost to the Broncos in the divisional round?", "Who did the Broncos beat in the divisional game?"),
    (
        "What actor did sign language for the National Anthem at Superbowl 50?",
        "Who did the sign language of the National Anthem at Super Bowl 50?",
    ),
]

RU_PARAPHRASES = [
    ("ru-virtualization-q01", "Как передать виртуальной машине Windows файл ответов Sysprep?"),
    ("ru-virtualization-q05", "Можно ли автоматически получить инвентарь для Ansible?"),
    ("ru-virtualization-q08", "PVC для DVCR уже существует: как перевести его на другой StorageClass?"),
    ("ru-sds-replicated-volume-q00", "В каких случаях выбирать LVMThin вместо обычного LVM?"),
    ("ru-sds-replicated-volume-q01", "Какой режим репликации выбрать для моей задачи?"),
    ("ru-sds-replicated-volume-q03", "Где посмотреть, сколько места занято?"),
    ("ru-sds-replicated-volume-q04", "Как сделать StorageClass используемым по умолчанию?"),
    ("ru-sds-replicated-volume-q04", "как назначить дефолтный storageclass"),
    ("ru-sds-replicated-volume-q05", "Можно ли подключить уже созданную группу томов LVM или thin-пул?"),
    ("ru-sds-replicated-volume-q06", "Как добавить новый узел в ReplicatedStoragePool?"),
    ("ru-sds-replicated-volume-q09", "Как перенести все DRBD-ресурсы с одного узла на другие?"),
    (
        "ru-sds-replicated-volume-q10",
        "После удаления ReplicatedStoragePool в бэкенде остался Storage Pool: это нормально?",
    ),
    ("ru-sds-replicated-volume-q11", "Почему не получается изменить spec у ReplicatedStorageClass?"),
    ("ru-sds-replicated-volume-q14", "Как восстановить базу данных из резервной копии?"),
    ("ru-sds-replicated-volume-q16", "Как перейти со встроенного модуля linstor на sds-replicated-volume?"),
    ("ru-sds-replicated-volume-q17", "Как перейти с sds-drbd на sds-replicated-volume?"),
    ("ru-sds-replicated-volume-q18", "Стоит ли ставить RAID под диски sds-replicated-volume?"),
    ("ru-sds-replicated-volume-q19", "Почему лучше локальные диски, а не сетевое хранилище?"),
    ("ru-sds-replicated-volume-q20", "Как принудительно перевыпустить сертификаты вручную?"),
    ("ru-sds-node-configurator-q01", "Что означает ошибка BlockDeviceNotFound у LVMVolumeGroup?"),
    ("ru-sds-node-configurator-q05", "Как отдать контроллеру группу томов, созданную вручную?"),
    ("ru-sds-node-configurator-q10", "Что такое fileDevices и как они устроены?"),
    ("ru-sds-node-configurator-q11", "Какие метки контроллер ставит на BlockDevice?"),
    (
        "ru-sds-local-volume-q04",
        "Как вернуть дисковое пространство тома с политикой Retain после удаления PVC?",
    ),
    ("Можно ли поставить теги на AMI при создании?", "Поддерживает ли AMI добавление тегов при создании?"),
    (
        "Сколько балансировщиков нагрузки можно создать в одном регионе?",
        "Какое максимальное число балансировщиков нагрузки на регион?",
    ),
    ("Поддерживает ли AWS Lambda версионирование?", "Можно ли публиковать версии функции Lambda?"),
    ("Где CloudTrail хранит файлы журналов?", "Куда AWS CloudTrail сохраняет логи?"),
    ("Кто больше записал на свой счет мешков в команде в этом сезоне?", "Кто был лидером Пэнтерс по мешкам?"),
    (
        "В какой стране расположена большая часть дождевых лесов Амазонки?",
        "В какой стране находится большая часть леса Амазонки?",
    ),
    (
        "Сколько лет было Пейтону Мэннингу, когда он играл в Суперкубке 50?",
        "Сколько лет было Мэннингу, когда он играл в Суперкубке 50?",
    ),
    ("Кто проиграл Бронкосу в дивизионном раунде?", "Кого Бронкос победил в дивизионной игре?"),
    (
        "Какой актер выполнял сурдоперевод государственного гимна на Суперкубке 50?",
        "Кто выполнил перевод государственного гимна на язык жестов на Суперкубке 50?",
    ),
]

# Russian questions about AWS written for this set, with the English question they translate
RU_AWS = [
    ("aws-q001", "Можно ли поставить теги на AMI при создании?"),
    ("aws-q076", "Сколько балансировщиков нагрузки можно создать в одном регионе?"),
    ("aws-q096", "Поддерживает ли AWS Lambda версионирование?"),
    ("aws-q063", "Где CloudTrail хранит файлы журналов?"),
    ("aws-q019", "Сколько групп наборов данных можно создать в Amazon Forecast?"),
    ("aws-q020", "Сколько наборов данных можно создать в Amazon Forecast?"),
    ("aws-q073", "Сколько пиринговых подключений может быть у одного transit gateway?"),
    ("aws-q072", "Сколько всего вложений может быть у одного transit gateway?"),
]

# pairs of dev questions that ask the same thing (not negatives)
NOT_NEGATIVE = {
    frozenset({"en-sds-replicated-volume-q01", "en-sds-replicated-volume-q02"}),
    frozenset({"ru-sds-replicated-volume-q01", "ru-sds-replicated-volume-q02"}),
}

AWS_PRODUCTS = ["Forecast", "RDS", "SageMaker", "transit gateway", "load balancer", "Lambda"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def main() -> None:
    rng = random.Random(16)
    text: dict[str, str] = {}
    group: dict[str, str] = {}  # question id -> module, product or paragraph
    for name in ("deckhouse_faq_enru", "aws_docs_qa", "xquad_enru"):
        qrels = {}
        with (EVAL / name / "qrels.tsv").open(encoding="utf-8") as f:
            for row in list(csv.reader(f, delimiter="\t"))[1:]:
                qrels[row[0]] = row[1]
        for q in _jsonl(EVAL / name / "queries.jsonl"):
            text[q["id"]] = q["text"]
            if name == "deckhouse_faq_enru":
                group[q["id"]] = q["id"].rsplit("-q", 1)[0]
            elif name == "xquad_enru":
                group[q["id"]] = qrels[q["id"]]
            else:
                product = next((p for p in AWS_PRODUCTS if p.lower() in q["text"].lower()), None)
                if product:
                    group[q["id"]] = f"aws-{product}"

    rows: list[tuple[str, int, str, str]] = []

    def q(ref: str) -> str:
        return text.get(ref, ref)

    paraphrased = set()
    for kind, written in (("same-en", EN_PARAPHRASES), ("same-ru", RU_PARAPHRASES)):
        for ref, other in written:
            rows.append((kind, 1, q(ref), other))
            paraphrased.add(frozenset({q(ref), other}))

    # the same question in the other language
    deck = [i for i in text if i.startswith("en-") and not i[3:].startswith(("56", "57", "5a"))]
    for en in deck:
        ru = "ru-" + en[3:]
        if ru in text:
            rows.append(("cross", 1, text[en], text[ru]))
    xquad_en = sorted(i for i in text if i.startswith("en-") and group.get(i, "").startswith("en-a"))
    for en in rng.sample(xquad_en, 80):
        rows.append(("cross", 1, text[en], text["ru-" + en[3:]]))
    en_para = dict(EN_PARAPHRASES)
    for ref, other in en_para.items():
        ru = "ru-" + ref[3:] if ref.startswith("en-") else None
        if ru and ru in text:
            rows.append(("cross", 1, other, text[ru]))
    for ref, ru in RU_AWS:
        rows.append(("cross", 1, text[ref], ru))

    # different questions about the same thing
    by_group: dict[str, list[str]] = defaultdict(list)
    for i, g in group.items():
        by_group[g].append(i)
    same_en, same_ru, cross = [], [], []
    for ids in by_group.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            if frozenset({a, b}) in NOT_NEGATIVE or frozenset({text[a], text[b]}) in paraphrased:
                continue
            if text[a].strip().lower() == text[b].strip().lower():
                continue
            la, lb = a.split("-")[0], b.split("-")[0]
            if la == lb == "ru":
                same_ru.append((text[a], text[b]))
            elif la == "ru" or lb == "ru":
                pass
            else:
                same_en.append((text[a], text[b]))
    # across languages: an English question against the Russian of another question of its group
    for ids in by_group.values():
        ens = [i for i in ids if i.startswith("en-")]
        for en in ens:
            for other in ens:
                ru = "ru-" + other[3:]
                if other != en and ru in text and frozenset({en, other}) not in NOT_NEGATIVE:
                    cross.append((text[en], text[ru]))
    aws_ru = dict(RU_AWS)
    for a, b in itertools.combinations(sorted(aws_ru), 2):
        if group.get(a) and group.get(a) == group.get(b):
            cross.append((text[a], aws_ru[b]))
    rng.shuffle(same_en)
    rng.shuffle(same_ru)
    rng.shuffle(cross)
    rows += [("same-en", 0, a, b) for a, b in same_en[:250]]
    rows += [("same-ru", 0, a, b) for a, b in same_ru[:250]]
    rows += [("cross", 0, a, b) for a, b in cross[:250]]

    with OUT.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["kind", "same", "question", "other"])
        writer.writerows(rows)
    counts = defaultdict(int)
    for kind, label, _, _ in rows:
        counts[(kind, label)] += 1
    print(OUT, dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
