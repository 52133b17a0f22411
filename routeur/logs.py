"""Structured logs: one line per event, as text (``key=value``) or JSON, each carrying the
request id and whatever the request has learnt about itself so far (caller, project, agent...).

The context lives in a ``ContextVar`` holding one mutable dict per request: code deep in a
run (the turn, a service) adds fields with ``annotate``, and the request's own line, written
when the response ends, sees them. Asyncio tasks and ``asyncio.to_thread`` copy the variable,
so they share the same dict. Standard library only: the CLI, the API and ``langgraph dev`` all
log through it, and nothing here knows the web framework.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

HANDLER_NAME = "routeur"
_context: ContextVar[dict[str, Any] | None] = ContextVar("routeur_log_context", default=None)
# Record attributes that are not fields (uvicorn adds a colour-coded copy of its message).
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "fields", "color_message"}


@contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Fields added to every log line written inside the block (a request: its id, route...)."""
    parent = _context.get() or {}
    token = _context.set({**parent, **fields})
    try:
        yield _context.get()  # type: ignore[misc]
    finally:
        _context.reset(token)


def annotate(**fields: Any) -> None:
    """Add fields to the current context (no-op outside one): the request's line reports them."""
    context = _context.get()
    if context is not None:
        context.update({k: v for k, v in fields.items() if v is not None})


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """One structured line: ``event`` is the message, ``fields`` its key/values."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context, then its own fields, then any ``extra=`` attributes."""
    fields: dict[str, Any] = dict(getattr(record, "context", None) or {})
    fields.update(getattr(record, "fields", None) or {})
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k != "context"})
    return {k: v for k, v in fields.items() if v is not None}


class ContextFilter(logging.Filter):
    """Copies the request context onto each record when it is created (in the emitting thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = current_context()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", <fields>...}`` on one line (log collectors)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...`` (a terminal); values with spaces are quoted."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={_text(v)}" for k, v in _fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name} {record.getMessage()}" + (f" {pairs}" if pairs else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if not text or any(c in text for c in ' "=\n') else text


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> logging.Handler:
    """Route every logger (ours, the web server's, libraries') through one handler on the root
    logger with this format and level. Idempotent: the previous handler of ours is replaced,
    others (a test runner's) are left alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # The web server's own lines go through the root handler; its access log is replaced by
    # the API's request line (route, caller, latency, request id).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Every model call would add an httpx line: the turn's own line says what they cost.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    return handler

