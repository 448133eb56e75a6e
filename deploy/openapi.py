"""The OpenAPI description of the service's two POST routes (what `/openapi.json` shows a client)."""

from __future__ import annotations

INVOCATIONS_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "One of MLflow's scoring formats.",
                    "properties": {
                        "dataframe_split": {
                            "type": "object",
                            "properties": {
                                "columns": {"type": "array", "items": {"type": "string"}},
                                "data": {"type": "array", "items": {"type": "array"}},
                            },
                        },
                        "dataframe_records": {"type": "array", "items": {"type": "object"}},
                        "instances": {"type": "array"},
                        "inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {"description": "predictions (and class probabilities for classifiers)"},
        "400": {"description": "malformed request"},
        "413": {"description": "body too large"},
        "415": {"description": "not JSON"},
        "422": {"description": "valid JSON that breaks the input schema"},
        "503": {"description": "model not loaded yet"},
        "504": {"description": "scoring took longer than the request timeout"},
    },
}


FEEDBACK_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "description": 'Outcomes for prediction ids: {"id", "label"} (classifier) or {"id", "value"}.',
                    "items": {"type": "object"},
                }
            }
        },
    },
    "responses": {
        "200": {"description": "the number of outcomes accepted"},
        "400": {"description": "malformed request"},
        "413": {"description": "body too large, or too many outcomes"},
        "429": {"description": "the feedback log is behind: nothing recorded, retry after Retry-After seconds"},
        "415": {"description": "not JSON"},
        "422": {"description": "an id that is malformed, foreign or expired, or an outcome outside the target"},
        "503": {"description": "model not loaded yet"},
    },
}
