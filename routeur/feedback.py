"""``routeur feedback export``: rated answers as an evaluation dataset.

Each liked answer becomes one line of the dataset format ``routeur eval`` reads
(``routeur/evaluation/dataset.py``): its message id as ``id``, the question, its project and
source filter, the files the answer cited as ``file_ids`` and the answer itself as
``reference``. Disliked answers are left out: in that format an example without ``file_ids``
means "nothing should be cited", which a disliked answer does not tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from routeur.conversations import ConversationStore, TurnRecord
from routeur.evaluation.dataset import Example
from routeur.settings import get_settings


def add_parser(commands: Any) -> None:
    feedback = commands.add_parser(
        "feedback", help="Users' feedback on answers", description="Users' feedback on answers (likes and dislikes given through the API)."
    )
    actions = feedback.add_subparsers(dest="feedback_command", required=True)
    export = actions.add_parser(
        "export",
        help="Rated answers as an evaluation dataset (for routeur eval)",
        description="Write each liked answer as one line of the dataset format routeur eval reads.",
    )
    export.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format (default: %(default)s)")
    export.add_argument("--output", type=Path, default=None, help="File to write (default: standard output)")


def example_of(turn: TurnRecord) -> Example:
    return Example(
        id=turn.message_id,
        question=turn.question,
        project_id=turn.project_id,
        sources=turn.request_sources,
        file_ids=sorted({s["file_id"] for s in turn.sources}),
        reference=turn.answer,
    )


async def export(args: argparse.Namespace) -> int:
    settings = get_settings()
    async with ConversationStore.open(settings) as store:
        turns = await store.rated("like")
    lines = [json.dumps(example_of(t).model_dump(exclude_none=True), ensure_ascii=False) for t in turns]
    text = "".join(line + "\n" for line in lines)
    if args.output is None:
        sys.stdout.write(text)
    else:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.output)  # never a half-written dataset
    print(f"Exported {len(lines)} liked answers", file=sys.stderr)
    return 0
