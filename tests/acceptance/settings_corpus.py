"""Documents for the settings tests (test_settings_commands.py, test_settings_serve.py): a ledger
team's notes, one topic per file and about 250 tokens each, so that retrieval, the context budget
and chunking have enough passages to show what a setting changes. Written by the tests into a
deployment's folder, next to the handbook of ``data/handbook``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LEDGER", "write_ledger", "long_guide", "short_sections"]

_TOPICS = {
    "backups": (
        "Ledger backups",
        "The ledger database is backed up every night at 02:00 UTC by the backup job. Each backup is "
        "a full snapshot written to the cold-storage bucket ledger-bak and kept for 35 days. The job "
        "reports to the on-call channel when a snapshot is late or smaller than the previous one.",
        "To restore a backup, ask the on-call database administrator. A restore of the full ledger "
        "takes about forty minutes; the restored copy starts read-only until finance checks the "
        "balances against the previous day's closing report.",
    ),
    "reconciliation": (
        "Daily reconciliation",
        "Reconciliation compares the ledger's balances with the bank statements every morning. The "
        "reconciler downloads the statements at 06:00, matches every transfer by its reference and "
        "amount, and lists the unmatched ones in the reconciliation dashboard.",
        "Unmatched transfers older than two days are escalated to the finance operations team. A "
        "mismatch caused by a currency rounding difference below one cent is written off "
        "automatically and recorded in the adjustments journal.",
    ),
    "currencies": (
        "Currencies and exchange rates",
        "The ledger stores every amount in minor units with its ISO currency code. Exchange rates "
        "come from the central bank feed once an hour and are frozen at the moment a transfer is "
        "booked, so a later rate never changes a booked amount.",
        "Adding a currency needs a migration of the currency table and a new rounding rule. The "
        "payments team reviews every new currency because the card processor must support it "
        "before customers can pay with it.",
    ),
    "access": (
        "Access to the ledger",
        "Engineers get read access to the ledger replica through the access portal; the request is "
        "approved by the team lead and expires after thirty days. Write access to the primary is "
        "never granted to people, only to the ledger services.",
        "Every query on the replica is logged with the engineer's name. Exporting customer data "
        "from the replica needs a ticket signed off by the data protection officer.",
    ),
    "incidents": (
        "Ledger incidents",
        "A ledger incident starts when balances disagree, transfers stop booking, or the replica "
        "lags more than five minutes. The on-call engineer opens an incident channel and pages the "
        "database administrator for anything touching the primary.",
        "Every incident gets a postmortem within five working days. The postmortem names the "
        "trigger, the timeline and the follow-up tasks, and is reviewed in the weekly ledger "
        "meeting.",
    ),
    "releases": (
        "Ledger releases",
        "The ledger services are released every Tuesday after the reconciliation has finished. A "
        "release needs a green pipeline, a changelog entry and the approval of a second engineer.",
        "A release that changes the schema ships its migration one week before the code that uses "
        "it, so the previous version keeps working while the migration runs on the replica first.",
    ),
}

LEDGER = {
    f"{name}.md": f"# {title}\n\n{first}\n\n{second}\n" for name, (title, first, second) in _TOPICS.items()
}


def write_ledger(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in LEDGER.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def long_guide() -> str:
    """One long section (about 900 tokens) of eighteen paragraphs, each a few sentences: chunking
    has to cut it inside the section, where neighbouring chunks overlap."""
    paragraphs = []
    for i, (_, (_, first, second)) in enumerate(_TOPICS.items(), start=1):
        third = (
            f"Step {i} of the ledger guide ends here. Write down what you did in the operations log. "
            f"Ask in the ledger channel when something in step {i} is unclear."
        )
        paragraphs += [first, second, third]
    return "# The ledger operations guide\n\n" + "\n\n".join(paragraphs) + "\n"


def short_sections() -> str:
    """One document of many short sections (about 30 words each)."""
    parts = [
        f"## Rule {i}\n\nRule {i} of the ledger: every transfer is booked once, checked by a second "
        f"engineer, and reconciled with the bank statement on the next morning without exception."
        for i in range(1, 9)
    ]
    return "# Ledger rules\n\n" + "\n\n".join(parts) + "\n"
