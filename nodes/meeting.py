"""A meeting transcript turned into structured minutes: summary, decisions, action items,
participants.

An LLM writes them with structured output (prompt in ``nodes.prompts``). The offline default
model cannot write, so for it the minutes are extracted deterministically from the transcript:
the summary is its most central sentences (those sharing the most frequent content words),
decisions and actions are the sentences holding decision or commitment phrasing ("nous avons
décidé", "Bob doit…", "we agreed", "Alice will…"), owners and participants are the names the
transcript gives (a name before a commitment verb, after a greeting or an introduction, or as a
speaker label). This is a single step run by the API and the CLI, not an agent graph.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from nodes import prompts
from nodes.models.factory import ModelRegistry
from nodes.models.metrics import AnswerMetrics
from retrievers.text import sentences, stem_set


class ActionItem(BaseModel):
    task: str = Field(description="What is to be done")
    owner: str | None = Field(default=None, description="Who does it, when named")
    due: str | None = Field(default=None, description="When it is due, when said")


class MeetingReport(BaseModel):
    summary: str = Field(description="The meeting in at most three sentences")
    decisions: list[str] = Field(default_factory=list, description="Decisions taken")
    actions: list[ActionItem] = Field(default_factory=list, description="Action items")
    participants: list[str] = Field(default_factory=list, description="People named in the transcript")


@dataclass(frozen=True)
class WrittenReport:
    report: MeetingReport
    model: str
    metrics: dict[str, Any]


async def write_report(transcript: str, language: str | None, models: ModelRegistry, model: str, electricity_mix_zone: str) -> WrittenReport:
    """The minutes of ``transcript`` by ``model`` (deterministic extraction for the offline model)."""
    measured = AnswerMetrics(electricity_mix_zone, catalog=models.catalog)
    if models.is_offline(model) or not transcript.strip():
        report = extract_report(transcript)
    else:
        writer = models.structured(model, MeetingReport)
        report = await writer.ainvoke(
            [SystemMessage(prompts.MEETING_REPORT_SYSTEM.format(language=language or "same as the transcript")), HumanMessage(transcript)],
            config={"callbacks": [measured.collector]},
        )
        if not isinstance(report, MeetingReport):  # a provider that answered no tool call
            raise OutputParserException(f"{model} returned no structured minutes")
    return WrittenReport(report, model, measured.finish())


# -- the offline extraction -------------------------------------------------------------------

_DECISION = re.compile(
    r"\b(décid\w*|décision\w*|convenu\w*|validé\w*|adopté\w*|approuvé\w*|retenu\w*|tranché\w*|"
    r"decided|decision\w*|agreed|approved|resolved|settled on|we will go with)\b",
    re.IGNORECASE,
)
_COMMITMENT_VERB = (
    r"(?:doit|doivent|devra|devront|va|vont|s'occupe(?:ra)?|se charge(?:ra)?|prendra|prépare(?:ra)?|enverra|contactera|"
    r"will|shall|must|needs to|has to|is going to|should)"
)
_ACTION = re.compile(
    rf"\b{_COMMITMENT_VERB}\b|\b(à faire|action\w*|prochaine étape|il faut|to do|todo|next step|action item)\b", re.IGNORECASE
)
_NAME = r"[A-ZÀ-Ý][a-zà-ÿ'’-]+"
_OWNER = re.compile(rf"(?:^|[,;:.!?]\s*|\b(?:et|and)\s+)({_NAME}(?:\s+(?:et|and)\s+{_NAME})?)\s+{_COMMITMENT_VERB}\b")
_MENTION = re.compile(
    rf"(?:\b(?:bonjour|merci|salut|bienvenue|hello|hi|thanks|thank you|welcome),?\s+({_NAME}))"
    rf"|(?:\b(?:je suis|je m'appelle|moi c'est|I am|I'm|this is|my name is)\s+({_NAME}))"
    rf"|(?:(?:^|[.!?]\s+)({_NAME})\s+(?:présente|propose|explique|demande|rappelle|annonce|ajoute|presents|proposes|explains|asks|says|adds)\b)"
    rf"|(?:^|\n)({_NAME})\s*:",
    re.IGNORECASE,
)
_DUE = re.compile(
    r"\b(?:avant|d'ici|pour|jusqu'à|by|before|until|due)\s+(?:le |la |l'|ce |cette |the |next |this )?"
    r"(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|demain|la semaine prochaine|semaine prochaine|"
    r"le mois prochain|mois prochain|fin (?:du|de la|de) \w+|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"tomorrow|week|month|end of \w+|\d{1,2}(?:er)? \w+|\d{1,2}/\d{1,2}(?:/\d{2,4})?)",
    re.IGNORECASE,
)
# Capitalised words that start sentences without naming anyone.
_NOT_NAMES = frozenset(
    "nous on il elle ils elles je tu vous ce cela ça celui celle la le les un une des tout tous chacun quelqu'un "
    "personne l'équipe équipe we i you he she they it this that someone everyone everybody the a team".split()
)
SUMMARY_SENTENCES = 3


def extract_report(transcript: str) -> MeetingReport:
    """Minutes extracted from ``transcript`` without a language model (same input, same output)."""
    said = _unique(s for _, s in sentences(transcript)) if transcript.strip() else []
    decisions = [s for s in said if _DECISION.search(s)]
    actions = [_action(s) for s in said if _ACTION.search(s) and s not in decisions]
    participants = _unique(
        name
        for found in [*(_names(m.groups()) for m in _MENTION.finditer(transcript)), *(_split_names(m.group(1)) for m in _OWNER.finditer(transcript))]
        for name in found
    )
    return MeetingReport(summary=_summary(said), decisions=decisions, actions=actions, participants=participants)


def _unique(items) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.casefold(), item)
    return list(seen.values())


def _names(groups: tuple[str | None, ...]) -> list[str]:
    return [g for g in groups if g and g[0].isupper() and g.casefold() not in _NOT_NAMES]


def _split_names(text: str) -> list[str]:
    return _names(tuple(re.split(r"\s+(?:et|and)\s+", text)))


def _action(sentence: str) -> ActionItem:
    owner = next((m.group(1) for m in _OWNER.finditer(sentence) if len(_split_names(m.group(1))) == len(re.split(r"\s+(?:et|and)\s+", m.group(1)))), None)
    due = _DUE.search(sentence)
    return ActionItem(task=sentence, owner=owner, due=due.group(0) if due else None)


def _summary(said: list[str]) -> str:
    """The most central sentences, in the order they were said: a sentence scores by how often
    its content words recur across the meeting, averaged over its words."""
    if len(said) <= SUMMARY_SENTENCES:
        return " ".join(said)
    stems = [stem_set(s) for s in said]
    frequency = Counter(stem for sentence in stems for stem in sentence)
    scores = [sum(frequency[w] - 1 for w in words) / (len(words) or 1) for words in stems]
    best = sorted(range(len(said)), key=lambda i: (-scores[i], i))[:SUMMARY_SENTENCES]
    return " ".join(said[i] for i in sorted(best))


# -- the minutes as Markdown ---------------------------------------------------------------

_LABELS = {
    "fr": {
        "title": "Compte rendu de réunion", "summary": "Résumé", "decisions": "Décisions", "actions": "Actions",
        "participants": "Participants", "none": "Aucune relevée.", "nobody": "Aucun nom cité.", "due": "échéance",
        "transcript": "Transcription", "empty": "Aucune parole détectée.",
    },
    "en": {
        "title": "Meeting minutes", "summary": "Summary", "decisions": "Decisions", "actions": "Action items",
        "participants": "Participants", "none": "None noted.", "nobody": "No names mentioned.", "due": "due",
        "transcript": "Transcript", "empty": "No speech detected.",
    },
}  # fmt: skip


def render_markdown(report: MeetingReport, language: str | None, transcript: str | None = None) -> str:
    """The minutes as Markdown (labels in French for French meetings, else English); with the
    transcript appended when given (the stored document keeps what was said, for search)."""
    label = _LABELS["fr" if language == "fr" else "en"]
    lines = [f"# {label['title']}", "", f"## {label['summary']}", "", report.summary or label["empty"], "", f"## {label['decisions']}", ""]
    lines += [f"- {d}" for d in report.decisions] or [f"- {label['none']}"]
    lines += ["", f"## {label['actions']}", ""]
    for action in report.actions:
        owner = f"**{action.owner}** : " if action.owner else ""
        due = f" ({label['due']} : {action.due})" if action.due else ""
        lines.append(f"- {owner}{action.task}{due}")
    if not report.actions:
        lines.append(f"- {label['none']}")
    lines += ["", f"## {label['participants']}", ""]
    lines += [f"- {p}" for p in report.participants] or [f"- {label['nobody']}"]
    if transcript is not None:
        lines += ["", f"## {label['transcript']}", "", transcript or label["empty"]]
    return "\n".join(lines) + "\n"
