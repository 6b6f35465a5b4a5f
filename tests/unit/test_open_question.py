"""Which channel messages count as questions for the bot in `questions` mode (bot/chat/open_question.py)."""

import pytest

from bot.chat.open_question import is_open_question

QUESTIONS = [
    "how do I rotate the API keys?",
    "how do I rotate the API keys",  # no question mark
    "is there a runbook for the VPN",
    "anyone know why the PVC is pending",
    "ok so how do I deploy to staging?",
    "thanks! btw where are the grafana dashboards?",
    "The deploy failed with exit code 137. What does that mean?",
    "как включить модуль sds-local-volume",
    "где лежат логи деплоя",
    "подскажите, где документация по бэкапам",
    "коллеги, кто знает как перезапустить шлюз",
    "Почему pod висит в Pending?",
]

NOT_QUESTIONS = [
    "thanks, all good",
    "Thanks! All good now",
    "ok, got it",
    "+1 same here",
    "спасибо, всё заработало",
    "ок, понял",
    "deploy failed again on staging",  # a report, not a question
    "when I deploy, it fails",  # "when" begins statements too
    "как всегда, деплой упал",  # and so does "как"
    "что-то сломалось в деплое",
    "why?",  # too little to search for
    "",
]


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_to_no_one_in_particular(text):
    assert is_open_question(text)


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_acknowledgements_reports_and_fragments_are_not(text):
    assert not is_open_question(text)


def test_a_question_addressed_to_someone_else_is_theirs():
    assert not is_open_question("can you check the deploy logs?", addressed_elsewhere=True)
    assert not is_open_question("как перезапустить шлюз?", addressed_elsewhere=True)
