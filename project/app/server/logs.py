"""Logs for Cloud Logging: one JSON object per line on stdout.

Each line has ``severity``, ``message``, ``time`` and ``logger``; inside a request
also the trace (``logging.googleapis.com/trace``, from ``X-Cloud-Trace-Context``
or ``traceparent``) and a request id. Access lines carry ``httpRequest``. Only
methods, paths, statuses, sizes and timings are logged, never request bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import time
import uuid
from typing import Any

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-f]{32})(?:/(\d+))?(?:;o=\d)?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Paths that hold a published run's token: logged with the token left out.
_TOKEN_PATH = re.compile(r"(/r/|/api/v1/runs/)[^/?#]+")
TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"


def redact(path: str) -> str:
    """``path`` with any published run's token replaced by ``…`` (tokens open
    runs: they are never logged)."""
    return _TOKEN_PATH.sub(r"\1…", path)


def trace_from_headers(headers: Any, project: str | None) -> dict[str, str]:
    """The trace fields of a log entry, from the request's trace headers."""
    trace_id = span_id = None
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match:
        trace_id, span_id = match.groups()
    else:
        match = _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context", "").strip())
        if match:
            trace_id, span_id = match.group(1), match.group(2)
    if not trace_id:
        return {}
    fields = {
        TRACE_KEY: f"projects/{project}/traces/{trace_id}" if project else trace_id
    }
    if span_id:
        fields[SPAN_KEY] = span_id
    return fields


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON in Cloud Logging's structured format."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(
                record.created, dt.timezone.utc
            ).isoformat(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        entry.update(_request_fields())
        for key in ("httpRequest", TRACE_KEY, SPAN_KEY, "requestId"):
            value = getattr(record, key.replace("/", "_").replace(".", "_"), None)
            if value is not None:
                entry[key] = value
        return json.dumps(entry, default=str)


_SEVERITY = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}


def _request_fields() -> dict[str, Any]:
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask is always installed
        return {}
    if not has_request_context():
        return {}
    return dict(getattr(g, "log_fields", {}))


def setup(level: str = "INFO", fmt: str | None = None) -> None:
    """Send every log line of this process to stdout, as JSON (or plain text)."""
    fmt = (fmt or os.environ.get("LOG_FORMAT", "json")).lower()
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "text":
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Werkzeug's own access lines would repeat ours (only its dev server logs).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def install(server: Any, *, project: str | None) -> None:
    """Give each request an id and its trace, and log one access line per response."""
    from flask import g, request

    access = logging.getLogger("access")

    @server.before_request
    def _start() -> None:
        g.log_started = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.log_fields = {"requestId": g.request_id}
        g.log_fields.update(trace_from_headers(request.headers, project))

    @server.after_request
    def _access(response: Any) -> Any:
        started = getattr(g, "log_started", None)
        latency = time.perf_counter() - started if started is not None else 0.0
        response.headers.setdefault("X-Request-Id", getattr(g, "request_id", ""))
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        if not access.isEnabledFor(level):  # e.g. LOG_LEVEL=warning: skip the work
            return response
        forwarded = request.headers.get("X-Forwarded-For", "")
        http = {
            "requestMethod": request.method,
            "requestUrl": redact(request.base_url),
            "status": response.status_code,
            "responseSize": str(response.calculate_content_length() or 0),
            "latency": f"{latency:.6f}s",
            "userAgent": request.headers.get("User-Agent", "")[:200],
            # The right-most entry is the one the proxy in front (Cloud Run) added;
            # anything left of it was written by the client.
            "remoteIp": forwarded.split(",")[-1].strip() or request.remote_addr or "",
            "protocol": request.environ.get("SERVER_PROTOCOL", ""),
        }
        access.log(
            level,
            "%s %s %s",
            request.method,
            redact(request.path),
            response.status_code,
            extra={"httpRequest": http},
        )
        return response
