"""The ``routeur`` command's help, version and terminal output."""

from __future__ import annotations

import argparse
import io

import pytest

from routeur.cli import EventPrinter, build_parser, main, package_version


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_plain_text_with_examples_and_environment(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0
    assert "``" not in text and ":class:" not in text and "seed" not in text.lower()
    assert "examples:" in text and "routeur ingest demo/corpus" in text
    assert "ROUTEUR_DATA_DIR" in text and "ROUTEUR_DEFAULT_MODEL" in text and ".env.example" in text
    for command in ("ingest", "ask", "serve", "eval", "feedback", "reindex"):
        assert f"    {command}" in text


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"routeur {package_version()}"


def test_every_argument_of_every_command_is_described():
    parser, runners = build_parser()
    commands = _subparsers(parser)
    assert set(runners) == set(commands)
    for name, command in commands.items():
        assert command.description, name
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                assert action.help, f"routeur {name} {action.dest} has no description"
        help_text = command.format_help()
        assert "``" not in help_text and "(default: None)" not in help_text, name


def test_the_answer_line_is_closed_before_a_step_or_the_sources_are_printed():
    out, err = io.StringIO(), io.StringIO()
    printer = EventPrinter(quiet=False, out=out, err=err)
    printer.print({"event": "phase", "data": {"phase": "generation", "status": "start", "message": ""}})
    printer.print({"event": "chunk", "data": {"content": "Le port est 7860 [1]."}})
    printer.print({"event": "phase", "data": {"phase": "generation", "status": "complete", "message": ""}})
    source = {"id": 1, "title": "Guide", "url": None, "file_id": "f1"}
    printer.print({"event": "done", "data": {"answer": "Le port est 7860 [1].", "sources": [source]}})
    assert out.getvalue() == "Le port est 7860 [1].\n[1] Guide  (file f1)\n"
    assert err.getvalue() == "[generation start]\n[generation complete]\n"
    assert printer.status == 0


def test_the_sources_give_their_section_and_page():
    out = io.StringIO()
    printer = EventPrinter(quiet=False, out=out, err=io.StringIO())
    sources = [
        {"id": 1, "title": "Guide", "url": None, "file_id": "f1", "section": "Guide › Installation", "page": 3},
        {"id": 2, "title": "Guide", "url": "https://intranet/guide", "file_id": "f1", "section": "Mise à jour", "page": None},
        {"id": 3, "title": "FAQ", "url": None, "file_id": "f2", "section": "FAQ", "page": None},
    ]
    printer.print({"event": "done", "data": {"answer": "", "sources": sources}})
    assert out.getvalue().splitlines() == [
        "[1] Guide › Installation, p. 3  (file f1)",
        "[2] Guide › Mise à jour <https://intranet/guide>  (file f1)",
        "[3] FAQ  (file f2)",
    ]


def test_quiet_prints_the_answer_on_its_own_line_and_errors_set_the_status():
    out, err = io.StringIO(), io.StringIO()
    printer = EventPrinter(quiet=True, out=out, err=err)
    printer.print({"event": "chunk", "data": {"content": "Réponse"}})
    printer.print({"event": "error", "data": {"phase": "generation", "message": "provider down"}})
    assert out.getvalue() == "Réponse\n" and err.getvalue() == "[error] generation: provider down\n"
    assert printer.status == 1


def test_log_lines_carry_the_context_and_their_fields_in_text_and_json():
    import json
    import logging

    from routeur.logs import annotate, configure_logging, log_context, log_event

    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logger = logging.getLogger("routeur.test")
    try:
        with log_context(request_id="r-1"):
            annotate(agent="V2", ignored=None)
            log_event(logger, logging.INFO, "turn", latency_ms=12.5, error=None)
            logger.info("plain", extra={"color_message": "\x1b[36mplain\x1b[0m"})
        log_event(logger, logging.DEBUG, "hidden")
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
        assert first["message"] == "turn" and first["request_id"] == "r-1" and first["agent"] == "V2" and first["latency_ms"] == 12.5
        assert "error" not in first and "ignored" not in first and first["level"] == "INFO" and first["time"].endswith("Z")
        assert second == {k: second[k] for k in ("time", "level", "logger", "message", "request_id", "agent")}
        text = io.StringIO()
        configure_logging("INFO", "text", stream=text)
        with log_context(request_id="r-2"):
            log_event(logger, logging.WARNING, "request", error="No JWT token found", status=401)
        assert text.getvalue().rstrip().endswith('WARNING routeur.test request request_id=r-2 error="No JWT token found" status=401')
        assert [h.get_name() for h in logging.getLogger().handlers].count("routeur") == 1  # replaced, not stacked
    finally:
        configure_logging("INFO", "text")
