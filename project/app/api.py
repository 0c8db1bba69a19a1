"""The prediction API of published runs, under ``/api/v1`` (JSON in and out;
its OpenAPI document at ``/api/v1/openapi.json``)."""

from __future__ import annotations

import logging
from typing import Any

import flask

from app.config import Settings
from app.ml import PredictionError
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
                        **_errors(404),
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
                        **_errors(400, 404, 413, 415, 422),
                    },
                }
            },
        },
        "servers": [{"url": PREFIX}],
    }


def _error(status: int, message: str) -> flask.Response:
    response = flask.jsonify(error=message)
    response.status_code = status
    return response


def blueprint(shares: Shares, settings: Settings) -> flask.Blueprint:
    """The API's routes, reading published runs from ``shares``."""
    api = flask.Blueprint("api", __name__, url_prefix=PREFIX)
    document = openapi_document(settings.api_max_rows)

    @api.get("/openapi.json")
    def _openapi() -> Any:
        return flask.jsonify(document)

    @api.get("/runs/<token>")
    def _run(token: str) -> Any:
        try:
            return flask.jsonify(sharing.schema(shares, token))
        except ShareNotFound as exc:
            return _error(404, str(exc))

    @api.post("/runs/<token>/predict")
    def _predict(token: str) -> Any:
        request = flask.request
        request.max_content_length = MAX_BODY_BYTES
        try:
            shares.manifest(token)  # an unknown link is a 404 before the body is read
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
