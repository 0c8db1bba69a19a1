"""The prediction API of published runs, under ``/api/v1``: JSON in and out;
its OpenAPI document at ``/api/v1/openapi.json``."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import flask

from app.config import Settings
from app.ml import PredictionError
from app.server.security import FailureThrottle, client_key
from app.server.shares import ShareNotFound, Shares
from app.services import sharing

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
#: What a prediction request's body may weigh (bytes).
MAX_BODY_BYTES = 5 * 1024 * 1024
CSV_TYPES = ("text/csv", "application/csv")

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_SCALAR = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "The token of the run's link (`/r/<token>`).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"},
}


def _errors(*codes: int) -> dict[str, Any]:
    why = {
        400: "The body is not what the endpoint takes.",
        401: "The run is private: send one of its owner's API keys.",
        403: "The API key sent does not open this run.",
        429: "Too many requests from this key or client; see Retry-After.",
        404: "No run is published under this token (never, or revoked).",
        413: "The body is larger than the API accepts.",
        415: "The body is neither JSON nor CSV.",
        422: "The rows cannot be predicted (for example, columns are missing).",
    }
    return {
        str(code): {
            "description": why[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


def openapi_document(max_rows: int) -> dict[str, Any]:
    """The OpenAPI 3.0 description of this API."""
    schema = {
        "type": "object",
        "required": ["run", "model", "task", "target", "features", "metrics"],
        "properties": {
            "run": {"type": "integer"},
            "model": {"type": "string"},
            "task": {"type": "string", "enum": ["classification", "regression"]},
            "target": {"type": "string"},
            "features": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "name": {"type": "string"},
                        "type": {
                            "type": "string",
                            "enum": ["number", "category", "boolean", "date"],
                        },
                        "examples": {"type": "array", "items": _SCALAR},
                    },
                },
            },
            "classes": {"type": "array", "items": _SCALAR, "nullable": True},
            "metrics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "holdout": _NULLABLE_NUMBER,
                        "cv_mean": _NULLABLE_NUMBER,
                        "cv_std": _NULLABLE_NUMBER,
                    },
                },
            },
        },
    }
    rows = {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "rows": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {"type": "object", "additionalProperties": True},
            }
        },
    }
    predictions = {
        "type": "object",
        "required": ["predictions", "notes"],
        "properties": {
            "predictions": {"type": "array", "items": _SCALAR},
            "classes": {"type": "array", "items": {"type": "string"}},
            "probabilities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                },
            },
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Dashboard prediction API",
            "version": "1.0.0",
            "description": "Predict with a published run; read its schema.",
        },
        "paths": {
            "/runs/{token}": {
                "get": {
                    "operationId": "getRun",
                    "summary": "The run's features, target, classes and metrics.",
                    "parameters": [_TOKEN],
                    "responses": {
                        "200": {
                            "description": "The run's schema.",
                            "content": {"application/json": {"schema": schema}},
                        },
                        **_errors(401, 403, 404, 429),
                    },
                }
            },
            "/runs/{token}/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predictions (and class probabilities) for rows.",
                    "description": (
                        "Missing feature columns are named in a 422; extra ones "
                        "are ignored; values are converted to the feature's type "
                        f"(unusable ones become missing, said in notes). At most "
                        f"{max_rows} rows and {MAX_BODY_BYTES // 1024 // 1024} MB."
                    ),
                    "parameters": [_TOKEN],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": rows},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One prediction per row, in order.",
                            "content": {"application/json": {"schema": predictions}},
                        },
                        **_errors(400, 401, 403, 404, 413, 415, 422, 429),
                    },
                }
            },
        },
        "servers": [{"url": PREFIX}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        },
        # A public run needs no key; a private one, a key of its owner.
        "security": [{}, {"bearer": []}, {"apiKey": []}],
    }


def _error(status: int, message: str) -> flask.Response:
    response = flask.jsonify(error=message)
    response.status_code = status
    return response


def api_key(request: flask.Request) -> str | None:
    """The API key a request sends: ``Authorization: Bearer <key>`` or
    ``X-API-Key: <key>``."""
    bearer = request.headers.get("Authorization", "")
    if bearer[:7].lower() == "bearer ":
        return bearer[7:].strip() or None
    return request.headers.get("X-API-Key", "").strip() or None


def _caller(request: flask.Request, key: str | None) -> str:
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    forwarded = request.headers.get("X-Forwarded-For", "")
    return "ip:" + client_key(request.remote_addr, forwarded)


def _checked(
    shares: Shares, limit: FailureThrottle, token: str
) -> flask.Response | None:
    """None when the request may use the run's API, else the answer: 404 for an
    unknown link, 401/403 for a private run's missing or wrong key, 429 over
    the rate (with ``Retry-After``)."""
    request = flask.request
    key = api_key(request)
    stamp, wait = limit.reserve(_caller(request, key))  # the request is counted
    if stamp is None:
        response = _error(429, "Too many requests; try again shortly.")
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        allowed = shares.allows(token, key)
    except ShareNotFound as exc:
        return _error(404, str(exc))
    if allowed:
        return None
    if key is None:
        response = _error(401, "This run's API needs an API key of its owner.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="dashboard"'
        return response
    return _error(403, "This API key does not open this run.")


def rate_limit(settings: Settings) -> FailureThrottle:
    """The API's limit: the login's sliding window, counting every request of
    a key or client (``API_RATE_PER_MINUTE``)."""
    return FailureThrottle(settings.api_rate_per_minute, 60.0)


def blueprint(
    shares: Shares, settings: Settings, limit: FailureThrottle | None = None
) -> flask.Blueprint:
    """The API's routes, reading published runs from ``shares``."""
    api = flask.Blueprint("api", __name__, url_prefix=PREFIX)
    document = openapi_document(settings.api_max_rows)
    limit = limit or rate_limit(settings)

    @api.get("/openapi.json")
    def _openapi() -> Any:
        return flask.jsonify(document)

    @api.get("/runs/<token>")
    def _run(token: str) -> Any:
        refused = _checked(shares, limit, token)
        if refused is not None:
            return refused
        try:
            return flask.jsonify(sharing.schema(shares, token))
        except ShareNotFound as exc:
            return _error(404, str(exc))

    @api.post("/runs/<token>/predict")
    def _predict(token: str) -> Any:
        request = flask.request
        request.max_content_length = MAX_BODY_BYTES
        refused = _checked(shares, limit, token)  # before the body is read
        if refused is not None:
            return refused
        try:
            if request.mimetype == "application/json":
                body = request.get_json(silent=True)
                if body is None:
                    return _error(400, "The body is not valid JSON.")
                frame = sharing.rows_from_json(body, settings.api_max_rows)
            elif request.mimetype in CSV_TYPES:
                frame = sharing.rows_from_csv(request.get_data(), settings.api_max_rows)
            else:
                return _error(415, "Send JSON (application/json) or CSV (text/csv).")
            return flask.jsonify(sharing.predict(shares, token, frame))
        except ShareNotFound as exc:
            return _error(404, str(exc))
        except PredictionError as exc:
            return _error(422, str(exc))
        except (ValueError, TypeError) as exc:  # values the model cannot take
            log.info("API rows refused: %s", type(exc).__name__)
            return _error(422, "These rows cannot be predicted by this model.")

    return api
