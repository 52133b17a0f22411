"""The ``routeur`` command: ingest documents, ask the agents, evaluate them, serve the API.

Each subcommand is one ``add_<name>`` function (its arguments and help) plus one coroutine or
function that runs it; ``main`` maps the name to the runner and turns the errors a user can fix
(configuration, a store held by another process) into one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from routeur.settings import ConfigurationError, get_settings

DESCRIPTION = """\
Routeur IA: retrieval-augmented chat over your documents, with agents V1 and V2.

Ingest documents into a project, ask questions from the terminal, evaluate the agents on a
dataset, or serve the HTTP API. With no configuration everything runs offline on this machine:
an embedded vector store under ./data and an extractive model that needs no key.
"""

EXAMPLES = """\
examples:
  routeur ingest demo/corpus                             # the demo documents, project "default"
  routeur ingest docs/ report.pdf --project team-a       # .md .txt .html .pdf .docx
  routeur ask "Sur quel port le serveur écoute-t-il ?"   # steps on stderr, answer on stdout
  routeur ask "Quels formats ?" --agent V1 --quiet
  routeur ask "Quels formats ?" --server http://127.0.0.1:7860   # while routeur serve runs
  routeur serve --port 7860                              # the HTTP API
  routeur eval demo/eval/questions.jsonl --ingest demo/corpus
  routeur transcribe reunion.mp3 --language fr           # speech to text, offline by default
  routeur <command> --help                               # a command's own options
"""

ENVIRONMENT = """\
environment (also read from ./.env; every setting is listed in .env.example):
  ROUTEUR_DATA_DIR          where the embedded store and SQLite files live (default ./data)
  ROUTEUR_QDRANT_URL        a Qdrant server instead of the embedded store (several processes)
  ROUTEUR_DEFAULT_MODEL     chat model of requests that name none, e.g. gpt-4o-mini
  ROUTEUR_OPENAI_API_KEY    key of the OpenAI models (ROUTEUR_MISTRAL_API_KEY for Mistral)
  ROUTEUR_EXTRA_MODELS_FILE JSON list of OpenAI-compatible models
  ROUTEUR_LOG_LEVEL, ROUTEUR_LOG_FORMAT   routeur serve's logs (INFO, text or json)
"""

STORE_HELD = (
    "Stop it first, or set ROUTEUR_QDRANT_URL to a Qdrant server so that several processes share the documents."
)
ASK_SERVER = " To ask the running server: routeur ask --server http://{host}:{port} ..."


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written: examples keep their lines."""


def package_version() -> str:
    try:
        return version("routeur-ia")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser and, for each subcommand, what runs it."""
    parser = argparse.ArgumentParser(prog="routeur", description=DESCRIPTION, epilog=EXAMPLES + "\n" + ENVIRONMENT, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>", title="commands")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for add in (add_ingest, add_ask, add_serve, add_eval, add_feedback, add_reindex, add_transcribe):
        name, runner = add(commands)
        runners[name] = runner
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    try:
        return runners[args.command](args)
    except ConfigurationError as exc:
        print(f"routeur {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"routeur {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from retrievers.base import StoreUnavailableError

        if isinstance(exc, StoreUnavailableError):
            message = store_message(exc)
            if args.command == "ask" and "held by" in message:
                settings = get_settings()
                message += ASK_SERVER.format(host=settings.host, port=settings.port)
            print(f"routeur {args.command}: {message}", file=sys.stderr)
            return 3
        raise


def _command(commands: argparse._SubParsersAction, name: str, summary: str, description: str, epilog: str = "") -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=description, epilog=epilog or None, formatter_class=_Formatter)


def add_transcribe(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    from routeur.transcribe import add_parser, transcribe_file

    add_parser(commands)
    return "transcribe", lambda args: asyncio.run(transcribe_file(args, get_settings()))


# -- ingest ----------------------------------------------------------------------------------


def add_ingest(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    ingest = _command(
        commands,
        "ingest",
        "Ingest files or folders into a project",
        "Load, chunk, embed and store documents (.md .txt .html .pdf .docx) in a project of the vector store.\n"
        "A file ingested again replaces its previous version (its id comes from the project and the file name).",
        "examples:\n  routeur ingest demo/corpus\n  routeur ingest guide.pdf --project team-a --title \"Guide\" --url https://example.com/guide.pdf",
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders (folders are read recursively)")
    ingest.add_argument("--project", default="default", help="project the documents belong to (default: %(default)s)")
    ingest.add_argument("--title", help="title of a single file (default: taken from the document)")
    ingest.add_argument("--url", help="URL cited for a single file")
    return "ingest", lambda args: asyncio.run(_ingest(args))


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


# -- ask -------------------------------------------------------------------------------------


def add_ask(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    from graphs.registry import AGENTS

    ask = _command(
        commands,
        "ask",
        "Ask a question and stream the agent's steps and answer",
        "Run an agent on a question in this process: its steps go to stderr, the answer and its sources to stdout.",
        'examples:\n  routeur ask "Quels formats de fichiers sont acceptés ?"\n'
        '  routeur ask "Quelle constante k utilise RRF ?" --agent V1 --source <file_id> --quiet',
    )
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--agent", choices=list(AGENTS), default=None, help="agent to run (default: ROUTEUR_DEFAULT_AGENT, V2)")
    ask.add_argument("--model", default=None, help="chat model from the catalog (default: ROUTEUR_DEFAULT_MODEL)")
    ask.add_argument("--project", default="default", help="project whose documents are searched (default: %(default)s)")
    ask.add_argument("--source", action="append", default=[], dest="sources", metavar="FILE_ID", help="search only this file (repeatable)")
    ask.add_argument("--top-k", type=int, default=None, help="passages retrieved per search (default: ROUTEUR_TOP_K, 5)")
    ask.add_argument("--quiet", action="store_true", help="print only the answer")
    ask.add_argument(
        "--server", metavar="URL", help="ask a running server instead (works while it holds the embedded store), e.g. http://127.0.0.1:7860"
    )
    ask.add_argument("--client-id", help="with --server: client credentials for /auth/token (default: a development token)")
    ask.add_argument("--client-secret", help="with --server: the client's secret")
    return "ask", lambda args: asyncio.run(_ask_server(args) if args.server else _ask(args))


async def _ask(args: argparse.Namespace) -> int:
    """The question on the process's dependencies (``get_settings()``: the CLI's one fallback)."""
    from graphs.context import AgentContext
    from graphs.dependencies import close_process_defaults, process_defaults
    from graphs.registry import get_agent, run_config
    from graphs.streaming import stream_events, user_turn

    dependencies = await asyncio.to_thread(process_defaults)
    settings = dependencies.settings
    agent = get_agent(args.agent, settings.default_agent)
    context = AgentContext.from_settings(settings, project_id=args.project, model=args.model, sources=args.sources, top_k=args.top_k)
    graph = agent.build(None)
    config = run_config(agent, context.max_search_rounds, dependencies=dependencies)
    printer = EventPrinter(quiet=args.quiet)
    try:
        async for event in stream_events(graph, user_turn(args.question), context=context, config=config):
            printer.print(event)
    finally:
        close_process_defaults()
    return printer.status


async def _ask_server(args: argparse.Namespace) -> int:
    """The same question through a running server's chat stream: the same events, printed the same way."""
    from routeur.client import AsyncRouteurClient, RouteurError

    printer = EventPrinter(quiet=args.quiet)
    options = {"agent": args.agent, "model": args.model, "project_id": args.project, "sources": args.sources or None, "top_k": args.top_k}
    try:
        async with AsyncRouteurClient(args.server, client_id=args.client_id, client_secret=args.client_secret) as client:
            async for event in client.chat_stream(args.question, **options):
                printer.print(event)
    except RouteurError as exc:
        print(f"routeur ask: {exc}", file=sys.stderr)
        return 1
    return printer.status


def _located(source: dict[str, Any]) -> str:
    """A source's title, then its section path and page when known: ``Guide › Installation, p. 3``
    (the path often starts with the title: it is not repeated)."""
    title, section, page = source["title"], source.get("section") or "", source.get("page")
    if section and section != title:
        title = section if section.startswith(f"{title} › ") else f"{title} › {section}"
    return f"{title}, p. {page}" if page else title


class EventPrinter:
    """The event protocol for a terminal: steps on stderr (each on its own line, even when the
    answer's text is mid-line on stdout), the answer streamed on stdout, then its sources."""

    def __init__(self, *, quiet: bool, out: Any = None, err: Any = None):
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.status = 0
        self._mid_line = False

    def print(self, event: dict) -> None:
        name, data = event["event"], event["data"]
        if name == "chunk":
            self.out.write(data["content"])
            self.out.flush()
            self._mid_line = not data["content"].endswith("\n")
            return
        if name == "error":
            self._end_line()
            print(f"[error] {data['phase']}: {data['message']}", file=self.err)
            self.status = 1
        elif self.quiet:
            if name == "done":
                self._end_line()
        elif name == "phase":
            self._end_line()
            extras = ", ".join(f"{k}={v}" for k, v in data.items() if k not in {"phase", "status", "message"})
            print(f"[{data['phase']} {data['status']}]" + (f" {extras}" if extras else ""), file=self.err, flush=True)
        elif name == "done":
            self._end_line()
            for source in data["sources"]:
                where = f" <{source['url']}>" if source["url"] else ""
                print(f"[{source['id']}] {_located(source)}{where}  (file {source['file_id']})", file=self.out)

    def _end_line(self) -> None:
        """Close the answer's line before anything else is printed, on either stream."""
        if self._mid_line:
            self.out.write("\n")
            self.out.flush()
            self._mid_line = False


# -- serve -----------------------------------------------------------------------------------


def add_serve(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    serve = _command(
        commands,
        "serve",
        "Serve the HTTP API",
        "Serve the HTTP API (and the web page at /). Every setting and configuration file is checked first:\n"
        "a mistake stops the start-up with the variable or file, the entry and the field named.",
        "examples:\n  routeur serve\n  ROUTEUR_LOG_FORMAT=json routeur serve --host 0.0.0.0 --port 8080",
    )
    serve.add_argument("--host", default=None, help="address to listen on (default: ROUTEUR_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default: ROUTEUR_PORT, 7860)")
    return "serve", _serve


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nodes.models.factory import ModelRegistry
    from routeur.logs import configure_logging

    settings = get_settings()
    ModelRegistry(settings).check_default()  # the models file and the default model, before any worker starts
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        # routeur.logs formats every line; the API writes one line per request instead of the access log.
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
        # X-Forwarded-For is the app's business (ROUTEUR_TRUSTED_PROXIES): uvicorn would
        # otherwise believe it from 127.0.0.1, i.e. from any same-host proxy that passes it on.
        proxy_headers=False,
        forwarded_allow_ips="",
        # SIGTERM: requests in flight get this long, then they are cancelled and the process exits.
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        timeout_keep_alive=settings.keep_alive_s,
    )
    return 0


# -- eval, feedback, reindex -------------------------------------------------------------------


def add_eval(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    from routeur.evaluation.command import add_parser, evaluate

    add_parser(commands)
    return "eval", lambda args: asyncio.run(evaluate(args))


def add_feedback(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    from routeur.feedback import add_parser, export

    add_parser(commands)
    return "feedback", lambda args: asyncio.run(export(args))


def add_reindex(commands: argparse._SubParsersAction) -> tuple[str, Callable[[argparse.Namespace], int]]:
    _command(
        commands,
        "reindex",
        "Rebuild the embedded store from data the previous engine wrote",
        "Re-embed every file kept by the previous embedded engine (<data_dir>/qdrant) into the current store,\n"
        "then rename the old directory to qdrant.reindexed-<date>. Nothing is deleted.",
    )
    return "reindex", lambda args: asyncio.run(_reindex())


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


# -- a store held by another process ---------------------------------------------------------


def store_message(exc: Exception) -> str:
    """One line for a store that cannot be opened: which process holds it, when that can be
    found (``routeur serve``, ``langgraph dev``...), and what to do."""
    text = str(exc)
    if "another process" not in text:
        return text
    settings = get_settings()
    path = settings.resolved_edge_path()
    holders = store_holders(path)
    who = ", ".join(f"{command} (pid {pid})" for pid, command in holders) if holders else "another process"
    return f"the embedded store at {path} is held by {who}. {STORE_HELD}"


def store_holders(path: Path) -> list[tuple[int, str]]:
    """Processes with a file open under ``path`` (Linux ``/proc``; empty elsewhere or when
    their details are not readable), as (pid, command line)."""
    root = str(path.resolve())
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(target.startswith(root) for target in targets):
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found.append((int(entry.name), _command_name([w.decode(errors="replace") for w in words if w])))
    return found


def _command_name(words: list[str]) -> str:
    """``routeur serve`` or ``langgraph dev`` rather than the interpreter's path."""
    names = [os.path.basename(w) for w in words]
    for tool in ("routeur", "langgraph", "uvicorn"):
        if tool in names:
            index = names.index(tool)
            return " ".join([tool, *words[index + 1 : index + 2]])
    return " ".join(names[:3])


if __name__ == "__main__":
    raise SystemExit(main())
