"""``routeur``: ingest documents, ask the agents, serve the API — from a terminal or a notebook."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from graphs.context import AgentContext
from graphs.dependencies import close_process_defaults, process_defaults
from graphs.registry import AGENTS, get_agent, run_config
from graphs.streaming import stream_events, user_turn
from routeur.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routeur", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="Ingest files or folders into a project")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--project", default="default")
    ingest.add_argument("--title", help="Title for a single file (default: taken from the document)")
    ingest.add_argument("--url", help="URL cited for a single file")

    commands.add_parser("reindex", help="Rebuild the embedded store from data the previous engine wrote")

    ask = commands.add_parser("ask", help="Ask a question and stream the agent's steps and answer")
    ask.add_argument("question")
    ask.add_argument("--agent", choices=list(AGENTS), default=None, help="Default: settings (V2)")
    ask.add_argument("--model", default=None, help="Chat model from the catalog (default: settings)")
    ask.add_argument("--project", default="default")
    ask.add_argument("--source", action="append", default=[], dest="sources", help="Restrict to a file id (repeatable)")
    ask.add_argument("--top-k", type=int, default=None)
    ask.add_argument("--quiet", action="store_true", help="Print only the answer")

    from routeur.evaluation.command import add_parser as add_eval_parser

    add_eval_parser(commands)

    from routeur.feedback import add_parser as add_feedback_parser

    add_feedback_parser(commands)

    from routeur.transcribe import add_parser as add_transcribe_parser

    add_transcribe_parser(commands)

    serve = commands.add_parser("serve", help="Serve the HTTP API")
    serve.add_argument("--host", default=None, help="Default: settings (127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="Default: settings (7860)")

    args = parser.parse_args(argv)
    if args.command == "ingest":
        return asyncio.run(_ingest(args))
    if args.command == "ask":
        return asyncio.run(_ask(args))
    if args.command == "reindex":
        return asyncio.run(_reindex())
    if args.command == "serve":
        return _serve(args)
    if args.command == "transcribe":
        return _transcribe(args)
    if args.command == "eval":
        from routeur.evaluation.command import evaluate

        return asyncio.run(evaluate(args))
    if args.command == "feedback":
        from routeur.feedback import export

        return asyncio.run(export(args))
    return 2


def _transcribe(args: argparse.Namespace) -> int:
    from routeur.transcribe import transcribe_file

    return asyncio.run(transcribe_file(args, get_settings()))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="info",
        # X-Forwarded-For is the app's business (ROUTEUR_TRUSTED_PROXIES): uvicorn would
        # otherwise believe it from 127.0.0.1, i.e. from any same-host proxy that passes it on.
        proxy_headers=False,
        forwarded_allow_ips="",
        # SIGTERM: requests in flight get this long, then they are cancelled and the process exits.
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    return 0


async def _ingest(args: argparse.Namespace) -> int:
    from retrievers import build_store
    from retrievers.ingestion import ingest_paths

    settings = get_settings()
    store = build_store(settings)
    try:
        report = await ingest_paths(store, args.paths, project_id=args.project, title=args.title, url=args.url, settings=settings)
    finally:
        store.close()
    for result in report.results:
        print(f"  {result.file_id}  {result.chunks:4d} chunks  {result.title}")
    for name, reason in report.failed.items():
        print(f"  skipped {name}: {reason}", file=sys.stderr)
    print(f"Ingested {report.files} files, {report.chunks} chunks in {report.seconds:.1f} s into project '{args.project}'")
    return 1 if report.failed else 0


async def _reindex() -> int:
    from retrievers.edge import EdgeDocumentStore, old_local_store
    from retrievers.embeddings import build_embeddings
    from retrievers.reindex import reindex

    settings = get_settings()
    if old_local_store(settings) is None:
        print(f"Nothing to reindex: no data of the previous store at {settings.resolved_qdrant_path()}")
        return 0
    store = EdgeDocumentStore(settings, build_embeddings(settings))
    try:
        report = await reindex(settings, store)
    finally:
        store.close()
    for file_id, dropped in report.dropped.items():
        print(f"  {file_id}: left out {dropped} chunks of older or partial versions", file=sys.stderr)
    print(f"Reindexed {report.files} files, {report.chunks} chunks into {store.location}; old data kept at {report.moved_to}")
    return 0


async def _ask(args: argparse.Namespace) -> int:
    """The question on the process's dependencies (``get_settings()``: the CLI's one fallback)."""
    dependencies = process_defaults()
    settings = dependencies.settings
    agent = get_agent(args.agent, settings.default_agent)
    context = AgentContext.from_settings(
        settings, project_id=args.project, model=args.model, sources=args.sources, top_k=args.top_k
    )
    graph = agent.build(None)
    config = run_config(agent, context.max_search_rounds, dependencies=dependencies)
    status = 0
    try:
        async for event in stream_events(graph, user_turn(args.question), context=context, config=config):
            status = _print_event(event, quiet=args.quiet) or status
    finally:
        close_process_defaults()
    return status


def _print_event(event: dict, *, quiet: bool) -> int:
    name, data = event["event"], event["data"]
    if name == "chunk":
        sys.stdout.write(data["content"])
        sys.stdout.flush()
    elif name == "error":
        print(f"\n[error] {data['phase']}: {data['message']}", file=sys.stderr)
        return 1
    elif quiet:
        return 0
    elif name == "phase":
        extras = ", ".join(f"{k}={v}" for k, v in data.items() if k not in {"phase", "status", "message"})
        print(f"[{data['phase']} {data['status']}]" + (f" {extras}" if extras else ""), file=sys.stderr)
    elif name == "done":
        print()
        for source in data["sources"]:
            where = f" <{source['url']}>" if source["url"] else ""
            print(f"[{source['id']}] {source['title']}{where}  (file {source['file_id']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
