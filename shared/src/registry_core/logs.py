"""The process's log lines, as the Go registry's ``log`` section shapes them.

``log.formatter``: ``text`` (the default: ``time LEVEL logger: message key=value...``), ``json`` (one object per
line with logrus's keys: ``time``, ``level``, ``msg``) or ``logstash`` (``@timestamp``, ``@version``, ``level``,
``message``). Every line carries ``log.fields`` and, when written while a request is served, its id
(``http.request.id``). Structured values travel on a record as ``extra={"fields": {...}}`` (and
``"in_message"``: the keys a text line need not repeat, its message shows them): the access log
(:mod:`registry_core.web.access_log`) uses Go's key names (``http.request.method``, ``vars.name``...).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from registry_core.config.log import LogSettings
from registry_core.web.request_context import current_request_id

REQUEST_ID_KEY = "http.request.id"


def record_fields(record: logging.LogRecord, static: Mapping[str, Any]) -> dict[str, Any]:
    """``log.fields``, the request id of the task that logged, then the record's own ``fields``."""
    fields = dict(static)
    request_id = getattr(record, "request_id", None) or current_request_id()
    if request_id is not None:
        fields[REQUEST_ID_KEY] = request_id
    fields.update(getattr(record, "fields", None) or {})
    return fields


class TextFormatter(logging.Formatter):
    """``2026-12-01 19:20:00,123 INFO registry.app: message key=value ...``."""

    def __init__(self, static: Mapping[str, Any]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.static = dict(static)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        shown = getattr(record, "in_message", ())
        fields = {key: value for key, value in record_fields(record, self.static).items() if key not in shown}
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line's fields
        return head + "".join(f" {key}={value}" for key, value in fields.items()) + newline + rest


class JsonFormatter(logging.Formatter):
    """One JSON object per line: logrus's ``JSONFormatter`` keys, or Logstash's (``logstash=True``)."""

    def __init__(self, static: Mapping[str, Any], *, logstash: bool = False) -> None:
        super().__init__()
        self.static = dict(static)
        self.logstash = logstash

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        level = record.levelname.lower().replace("warning", "warn")
        if self.logstash:
            line: dict[str, Any] = {"@timestamp": time, "@version": "1", "level": level, "message": record.getMessage()}
        else:
            line = {"time": time, "level": level, "msg": record.getMessage()}
        line["logger"] = record.name
        line.update(record_fields(record, self.static))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def formatter(log: LogSettings) -> logging.Formatter:
    if log.formatter in ("json", "logstash"):
        return JsonFormatter(log.fields, logstash=log.formatter == "logstash")
    return TextFormatter(log.fields)


def stamp_request_ids() -> None:
    """Give every log record the id of the request being served when it was made (``record.request_id``), so a
    line formatted later (a queued handler) still carries it."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def make_stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        line = make(*args, **kwargs)
        line.request_id = current_request_id()
        return line

    make_stamped.stamps_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_stamped)


def configure_logging(log: LogSettings) -> None:
    """Send every logger's lines (uvicorn's too) to stderr, formatted as ``log`` says, at ``log.level``."""
    stamp_request_ids()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel({"warn": logging.WARNING}.get(log.level, getattr(logging, log.level.upper(), logging.INFO)))
    for chatty in QUIETED:
        logging.getLogger(chatty).setLevel(logging.WARNING)


QUIETED = ("httpx", "httpcore")
"""Loggers held at warning: httpx logs every request with its full URL at info, and a webhook URL may carry a
token (in its path, its query or its user part)."""
