"""The API document (``/openapi.json``): what each operation may answer, errors included.

Routes declare their own successes and the domain errors their services raise; the errors that
the edge itself produces for any route are added here, once, so the document never omits a
status the app can send (``tests/reliability/test_api_fuzz.py`` holds it to that):

- 400 ``MALFORMED_BODY``: a body that is not JSON, not UTF-8 or not an object (routes with one);
- 401 ``NOT_AUTHENTICATED``: an ``Authorization`` header that is not a valid bearer token (any
  ``/api/`` route: a bad credential is an error, never silently anonymous);
- 404 ``NOT_FOUND``: an id that names no row (routes with a path parameter);
- 503: the database connection was lost under the request (nothing was changed; retry);
- 413 ``REQUEST_ENTITY_TOO_LARGE``: a body over ``INTERNET10_MAX_BODY_BYTES`` (routes with one);
- 422 ``VALIDATION_ERROR`` naming the ``field`` (routes with a body or query parameters).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from werkzeug.routing.rules import Rule

from internet10.api.events import PublishIn
from internet10.api.schemas import ErrorBody

ERROR_SCHEMA = ErrorBody.model_json_schema()
COMPONENTS = "#/components/schemas/"

DESCRIPTIONS = {
    400: "MALFORMED_BODY: the body is not JSON (UTF-8) of the expected shape.",
    401: "NOT_AUTHENTICATED: a credential is needed, or the one sent is not valid.",
    403: "FORBIDDEN: the caller may not do this.",
    404: "NOT_FOUND: nothing with this id (or not visible to the caller).",
    409: "The current state does not allow it (the code says why).",
    413: "REQUEST_ENTITY_TOO_LARGE: the body is over the size limit.",
    422: "VALIDATION_ERROR: a value is not acceptable; `field` names it.",
    429: "RATE_LIMITED: too many requests; try again after Retry-After seconds.",
    503: "The service cannot answer now; try again shortly.",
}


def error_response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(status, ""),
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }


# Routes that read an optional JSON body themselves (quart-schema documents required ones only).
OPTIONAL_BODIES: dict[str, type[BaseModel]] = {"api_events.publish_event": PublishIn}
# Routes whose answers are not quart-schema models: a file, a stream, a vendor's callback.
OTHER_RESPONSES: dict[str, dict[int, dict[str, Any]]] = {
    "api_registrations.export_registrations": {
        200: {
            "description": "The registrations as CSV (UTF-8 with a byte order mark).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        403: error_response(403),
    },
    "api_live.live_stream": {
        200: {
            "description": "Server-Sent Events: the event's live changes as they happen.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
    "webhooks.zoom": {
        200: {
            "description": "Accepted (or ignored, or the URL validation's answer).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        400: error_response(400),
        401: {
            "description": "BAD_SIGNATURE or STALE_TIMESTAMP: not a fresh delivery from Zoom.",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        },
        404: {
            "description": "NOT_FOUND: no Zoom webhook secret is configured.",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        },
        413: error_response(413),
    },
}
# Inputs that routes read themselves.
OTHER_INPUTS: dict[str, dict[str, Any]] = {
    "webhooks.zoom": {
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in ("x-zm-signature", "x-zm-request-timestamp")
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string"},
                            "payload": {"type": "object"},
                        },
                        "required": ["event"],
                    }
                }
            },
        },
    },
}
# Routes served by the app that are not part of the API (the pages are hidden by create_app).
NOT_API = frozenset({"static"})


class APIDocument(OpenAPIProvider):
    """quart-schema's document, with the edge's own errors on every operation."""

    def generate_rules(self) -> Iterable[Rule]:
        for rule in super().generate_rules():
            if rule.endpoint not in NOT_API:
                yield rule

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        paths, components = self._distinct_components(rule, paths, components)
        for operations in paths.values():
            for operation in operations.values():
                for status, response in OTHER_RESPONSES.get(rule.endpoint, {}).items():
                    operation["responses"].setdefault(status, response)
        for operations in paths.values():
            for operation in operations.values():
                operation.update(OTHER_INPUTS.get(rule.endpoint, {}))
        optional = OPTIONAL_BODIES.get(rule.endpoint)
        if optional is not None:
            for operations in paths.values():
                for operation in operations.values():
                    operation["requestBody"] = {
                        "required": False,
                        "content": {"application/json": {"schema": optional.model_json_schema()}},
                    }
        return paths, components

    def _distinct_components(
        self, rule: Rule, paths: dict[str, Any], components: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two models of one name (``SlotOut`` of the slots, of a plan, of attendance figures)
        would share one component, the last one built, and the others' responses would point at
        the wrong schema: a later one is named after its blueprint (``api_planning.SlotOut``)."""
        blueprint = rule.endpoint.rsplit(".", 1)[0]
        renames = {}
        for name, component in components.items():
            first = self._components.setdefault(name, component)
            if first != component:
                renames[name] = f"{blueprint}.{name}"
        if not renames:
            return paths, components
        paths = _renamed_refs(paths, renames)
        components = {renames.get(k, k): _renamed_refs(v, renames) for k, v in components.items()}
        return paths, components

    def schema(self) -> dict[str, Any]:
        self._components: dict[str, Any] = {}
        document = super().schema()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                add_edge_errors(path, method, operation)
        return document


def _renamed_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _renamed_refs(v, renames) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENTS):
            out["$ref"] = COMPONENTS + renames.get(ref[len(COMPONENTS) :], ref[len(COMPONENTS) :])
        return out
    if isinstance(node, list):
        return [_renamed_refs(v, renames) for v in node]
    return node


def add_edge_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[Any, Any] = operation.setdefault("responses", {})
    statuses: set[int] = set()
    if path.startswith("/api/"):
        statuses |= {401, 503}
    if any(p.get("in") == "path" for p in operation.get("parameters", ())):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if path.startswith("/api/") and (
        "requestBody" in operation
        or any(p.get("in") == "query" for p in operation.get("parameters", ()))
    ):
        statuses.add(422)
    for status in sorted(statuses):
        if status not in responses and str(status) not in responses:
            responses[status] = error_response(status)
        else:
            documented: dict[str, Any] = responses.get(status) or responses[str(status)]
            if not documented.get("description"):
                documented["description"] = DESCRIPTIONS.get(status, "")
