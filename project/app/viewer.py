"""The page of a published run, ``/r/<token>``: its report (metrics, figures,
explanations), what-if and batch prediction, and its downloads; read-only, and
open to whoever holds the link."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Mapping

import flask
import jinja2

from app.config import Settings
from app.ml import PredictionError
from app.server.security import FailureThrottle, client_key
from app.server.shares import ShareNotFound, Shares
from app.services import sharing

log = logging.getLogger(__name__)

#: The published run's files a link downloads: name in the link -> (file kept,
#: media type).
DOWNLOADS = {
    "model.skops": (sharing.MODEL_FILE, "application/octet-stream"),
    "code.py": (sharing.CODE_FILE, "text/x-python"),
    "report.html": (sharing.REPORT_FILE, "text/html"),
}
#: The report, framed by its page: scripts run (its figures) in a sandbox, an
#: origin of their own, with nothing to fetch.
REPORT_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "frame-ancestors 'self'"
)
#: What an uploaded file of rows may weigh (bytes), as the API's body.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: What-if values arrive as query parameters ``x.<feature>``.
FIELD = "x."


@functools.cache
def _page() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("published.html")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def form_fields(
    inputs: list[Mapping[str, Any]],
    values: Mapping[str, Any],
    notes: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The what-if form's fields: each feature's control kind, its value (the
    one sent, else the default), its choices, help and note."""
    fields = []
    for item in inputs:
        name, kind = str(item["name"]), item["kind"]
        sent = values.get(name)
        value = _shown(item["default"]) if sent is None else str(sent)
        field: dict[str, Any] = {"name": name, "kind": kind, "value": value}
        field["note"] = notes.get(name, "")
        if kind == "number":
            field["help"] = f"{item['min']:.4g} to {item['max']:.4g} in training"
        elif kind == "date":
            field["help"] = f"a date, {item['min']} to {item['max']} in training"
        elif kind == "bool":
            field["choices"] = ["True", "False"]
            field["help"] = ""
        else:
            field["choices"] = [str(o) for o in item.get("options", ())]
            if value not in field["choices"]:
                field["choices"].append(value)
            field["help"] = f"{len(item.get('options', ()))} most frequent values"
        fields.append(field)
    return fields


def blueprint(
    shares: Shares, settings: Settings, limit: FailureThrottle
) -> flask.Blueprint:
    """The pages of published runs and their downloads; what-if and batch
    predictions count in ``limit`` (the API's rate, per client)."""
    pages = flask.Blueprint("published", __name__, url_prefix="/r")

    def throttled() -> flask.Response | None:
        request = flask.request
        who = client_key(
            request.remote_addr, request.headers.get("X-Forwarded-For", "")
        )
        stamp, wait = limit.reserve("ip:" + who)
        if stamp is not None:
            return None
        response = flask.Response(
            "Too many predictions from here; try again shortly.",
            status=429,
            mimetype="text/plain",
        )
        response.headers["Retry-After"] = str(wait)
        return response

    def render(
        token: str,
        values: Mapping[str, Any] | None = None,
        batch_error: str = "",
        status: int = 200,
    ) -> flask.Response:
        manifest = shares.manifest(token)
        report = sharing.published_run(shares, token)
        result, notes = None, {}
        if values is not None:
            _, predicted = sharing.whatif(shares, token, values)
            notes = predicted["notes"]
            result = {
                "shown": _shown(predicted["prediction"]),
                "probabilities": sorted(
                    (predicted.get("probabilities") or {}).items(),
                    key=lambda pair: -pair[1],
                ),
            }
        html = _page().render(
            about=manifest["about"],
            private=bool(manifest.get("private")),
            base=f"/r/{token}",
            api=f"/api/v1/runs/{token}",
            inputs=form_fields(report.get("inputs") or [], values or {}, notes),
            result=result,
            max_rows=settings.api_max_rows,
            batch_error=batch_error,
        )
        response = flask.Response(html, status=status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @pages.get("/<token>")
    def _view(token: str) -> Any:
        args = flask.request.args
        values = None
        if args.get("predict"):
            refused = throttled()
            if refused is not None:
                return refused
            values = {
                key[len(FIELD) :]: value
                for key, value in args.items()
                if key.startswith(FIELD)
            }
        try:
            return render(token, values)
        except ShareNotFound as exc:
            return _not_found(str(exc), page=True)

    @pages.post("/<token>/predictions")
    def _batch(token: str) -> Any:
        request = flask.request
        request.max_content_length = MAX_UPLOAD_BYTES + 64 * 1024  # the form's own
        refused = throttled()
        if refused is not None:
            return refused
        try:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                return render(
                    token, batch_error="Choose a file of rows first.", status=400
                )
            content = upload.read(MAX_UPLOAD_BYTES + 1)
            if len(content) > MAX_UPLOAD_BYTES:
                return render(
                    token,
                    batch_error="The file is larger than the 5 MB this page takes; "
                    "split it, or use the API.",
                    status=413,
                )
            name = Path(upload.filename).name[:200]
            try:
                data, rows, notes = sharing.predict_upload(
                    shares, token, content, name, settings.api_max_rows
                )
            except PredictionError as exc:
                return render(token, batch_error=str(exc), status=422)
            except (ValueError, TypeError) as exc:  # values the model cannot take
                log.info("published run: rows refused: %s", type(exc).__name__)
                return render(
                    token,
                    batch_error="These rows cannot be predicted by this model.",
                    status=422,
                )
            number = int(shares.manifest(token)["about"]["number"])
            response = flask.Response(data, mimetype="text/csv")
            response.headers["Content-Disposition"] = (
                f'attachment; filename="predictions-run-{number}.csv"'
            )
            response.headers["Cache-Control"] = "no-store"
            log.info("published run: %d rows predicted (%d notes)", rows, len(notes))
            return response
        except ShareNotFound as exc:
            return _not_found(str(exc), page=True)

    @pages.get("/<token>/<name>")
    def _file(token: str, name: str) -> Any:
        if name not in DOWNLOADS:
            return _not_found("A published run has no such file.")
        kept, media = DOWNLOADS[name]
        try:
            data = shares.read(token, kept)
            number = shares.manifest(token)["about"]["number"]
        except ShareNotFound as exc:
            return _not_found(str(exc))
        response = flask.Response(data, mimetype=media)
        response.headers["Cache-Control"] = "no-store"
        if name == "report.html" and flask.request.args.get("view"):
            response.headers["Content-Security-Policy"] = REPORT_POLICY
            response.headers["X-Frame-Options"] = "SAMEORIGIN"
        else:
            stem, _, suffix = name.partition(".")
            response.headers["Content-Disposition"] = (
                f'attachment; filename="{stem}-run-{int(number)}.{suffix}"'
            )
        return response

    return pages


GONE = jinja2.Environment(autoescape=True).from_string(
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    "<title>No such run · Dashboard</title>"
    '<link rel="stylesheet" href="/assets/00-bootstrap.min.css"></head>'
    '<body class="bg-light"><main class="container py-4"><h1 class="h4">'
    "{{ message }}</h1><p>The link may be mistyped, or its owner revoked it.</p>"
    "</main></body></html>"
)


def _not_found(message: str, page: bool = False) -> flask.Response:
    """404: a short page for a person, JSON for a file's link."""
    if page:
        return flask.Response(GONE.render(message=message), 404, mimetype="text/html")
    response = flask.jsonify(error=message)
    response.status_code = 404
    return response
