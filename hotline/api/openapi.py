"""The OpenAPI 3.1 description of /api/v1, written from the routes' contracts (`hotline.api.contract`)
and the pydantic models they name: served at /api/v1/openapi.json and checked by schemathesis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from hotline.api.contract import OPERATIONS, Operation
from hotline.api.schemas import Error

REF = "#/components/schemas/{model}"
MEANING = {400: "Malformed request", 401: "Not signed in and no valid token", 403: "Not allowed",
           404: "Not found", 409: "The seat or the booking is no longer available",
           415: "Signed in through the console, but the body is not JSON",
           422: "Invalid input (`invalid_input`, naming the `field`), or a booking rule refused it (the `code` "
                "names the rule)",
           503: "The database is unavailable for a moment; retry after Retry-After seconds"}


class _Schema(GenerateJsonSchema):
    """Pydantic's JSON Schema without the titles it makes up from field names, and without a null
    default on fields whose null is not shown (an optional field is simply left out)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        value = super().default_schema(schema)
        if value.get("default", ...) is None:
            del value["default"]
        return value


def _models() -> Iterable[tuple[type[BaseModel], JsonSchemaMode]]:
    yield Error, "serialization"
    for op in OPERATIONS.values():
        if op.body is not None:
            yield op.body, "validation"
        yield from ((m, "serialization") for m in op.responses.values())


Refs = dict[tuple[type[BaseModel], JsonSchemaMode], Any]


def _components() -> tuple[Refs, dict[str, Any]]:
    """Each model's reference, and the schemas they refer to (pydantic names a model apart by mode only
    when its two schemas differ)."""
    refs, defs = models_json_schema(list(dict.fromkeys(_models())), ref_template=REF, schema_generator=_Schema)
    return {(model, mode): ref for (model, mode), ref in refs.items() if issubclass(model, BaseModel)}, \
        defs.get("$defs", {})


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _parameters(model: type[BaseModel] | None, where: Literal["path", "query"],
                defs: dict[str, Any]) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF, schema_generator=_Schema)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required,
                                 "schema": prop}
        if description:
            param["description"] = description
        if prop.get("type") == "array":
            param |= {"style": "form", "explode": True}
        params.append(param)
    return params


def _operation(op: Operation, refs: Refs, defs: dict[str, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {str(status): _json(refs[model, "serialization"], model.__doc__ or model.__name__)
                               for status, model in op.responses.items()}
    error = refs[Error, "serialization"]
    answers |= {str(s): _json(error, MEANING[s]) for s in (*op.errors, 503)}
    # The HTTP server itself refuses request lines over its limit before the app sees them.
    answers["414"] = {"description": "Request line too long"}
    spec: dict[str, Any] = {"operationId": op.operation_id, "responses": answers}
    summary, _, description = op.summary.partition("\n")
    if summary:
        spec["summary"] = summary.strip()
    if description.strip():
        spec["description"] = " ".join(description.split())
    parameters = _parameters(op.path, "path", defs) + _parameters(op.query, "query", defs)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {"required": op.body_required,
                               "content": {"application/json": {"schema": refs[op.body, "validation"]}}}
    return spec


def document() -> dict[str, Any]:
    refs, defs = _components()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        paths.setdefault(op.url, {})[op.method] = _operation(op, refs, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hotline booking API", "version": "1",
                 "description": "Appointments at one-stop public administration offices. Errors carry a stable "
                                "code and a message in Vietnamese and English."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}, {"session": []}],
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "schemas": dict(sorted(defs.items())),
        },
        "paths": paths,
    }
