"""The evaluation dataset: one JSON object per line (JSONL).

``{"id": "q01", "question": "...", "project_id": "default", "sources": [...], "file_ids": [...],
"facts": [...], "reference": "...", "history": [...]}`` — only ``question`` is required. ``sources`` is the request's
filter; ``file_ids`` the files a correct answer comes from (empty: nothing should be cited);
``facts`` short strings a correct answer must contain; ``reference`` a reference answer for the
LLM judge; ``history`` the user's earlier turns of the same conversation, asked first (a
follow-up such as "Et sous Windows ?" is only answerable after them).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class DatasetError(ValueError):
    """The dataset file cannot be used; the message names the file and line."""


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    question: str = Field(min_length=1)
    project_id: str = "default"
    sources: list[str] = []
    file_ids: list[str] = []
    facts: list[str] = []
    reference: str | None = None
    history: list[str] = []


def load_dataset(path: str | Path) -> list[Example]:
    """Read and validate every line; blank lines are skipped, a missing ``id`` is numbered."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    examples: list[Example] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise DatasetError(f"{path}:{number}: each line must be a JSON object")
            example = Example.model_validate({"id": f"q{number:03d}", **raw})
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise DatasetError(f"{path}:{number}: {problems}") from None
        if not example.question.strip():
            raise DatasetError(f"{path}:{number}: question is empty")
        if example.id in seen:
            raise DatasetError(f"{path}:{number}: duplicate id '{example.id}'")
        seen.add(example.id)
        examples.append(example)
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples
