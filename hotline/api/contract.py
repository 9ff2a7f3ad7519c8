"""Each API route's contract, declared once where the route is: its models in, its models out.

`operation` registers a view with Flask and records which models it parses and renders; the
OpenAPI document is written from those records, and `body`, `query`, `path` and `reply` refuse
(a programming error, caught by any test of the route) a model the route did not declare. So
the document cannot describe one thing while the view parses another.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from booking.i18n import N_
from hotline.api.errors import ApiError

INVALID = N_("The request is not valid: %(detail)s.")

M = TypeVar("M", bound=BaseModel)
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """One method on one URL of the API, as the document describes it."""

    method: str
    rule: str  # Flask's, e.g. /offices/<int:office_id>/availability
    endpoint: str
    operation_id: str
    summary: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        """The path as OpenAPI writes it: /offices/{office_id}/availability."""
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)


OPERATIONS: dict[str, Operation] = {}  # by endpoint


def operation(blueprint: Blueprint, method: str, rule: str, operation_id: str, *, responses: dict[int, type[BaseModel]],
              errors: tuple[int, ...] = (), body: type[BaseModel] | None = None, body_required: bool = True,
              query: type[BaseModel] | None = None, path: type[BaseModel] | None = None) -> Callable[[View], View]:
    """Route `method rule` to the decorated view and record its contract for the document."""

    def register(view: View) -> View:
        endpoint = f"{blueprint.name}.{view.__name__}"
        OPERATIONS[endpoint] = Operation(method.lower(), rule, endpoint, operation_id, (view.__doc__ or "").strip(), body,
                                         body_required, query, path, responses, errors)
        blueprint.add_url_rule(rule, view_func=view, methods=[method.upper()])
        return view

    return register


def _declared(model: type[BaseModel], role: str) -> None:
    declared = getattr(OPERATIONS[request.endpoint or ""], role)
    if declared is not model:
        raise TypeError(f"{request.endpoint} declares {role} {declared!r}, not {model.__name__}")


def invalid(field: str, detail: str) -> ApiError:
    return ApiError(422, "invalid_input", INVALID, detail=detail, field=field)


def _phrase(error: ErrorDetails) -> str:
    """The refusal in words, after the field's name: "office_id must be a whole number"."""
    kind, context = error["type"], error.get("ctx", {})
    words = {"missing": "is required", "int_parsing": "must be a whole number", "int_type": "must be a whole number",
             "int_from_float": "must be a whole number", "string_type": "must be text",
             "string_too_short": "must not be empty",
             "string_pattern_mismatch": "must hold more than spaces, and no control characters",
             "bool_type": "must be true or false", "bool_parsing": "must be true or false",
             "list_type": "must be a list"}
    if kind in words:
        return words[kind]
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be {error['msg'].removeprefix('Input should be ')}"
    if kind == "string_too_long":
        return f"must be text of at most {context['max_length']} characters"
    if kind == "literal_error":
        return f"must be {str(context.get('expected', '')).replace(chr(39), '')}"
    return str(error["msg"]).removeprefix("Value error, ")


def refusal(error: ValidationError) -> ApiError:
    """The 422 for the first thing wrong, naming the field as the client spelt it (errors carry aliases)."""
    first = error.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else "body"
    return invalid(name, f"{name} {_phrase(first)}")


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise refusal(error) from None


def body(model: type[M]) -> M:
    """The request's JSON object as `model`; 422 naming the field for the first thing wrong.

    A route whose body is optional (`body_required=False`) takes a missing or non-object body as `{}`.
    """
    _declared(model, "body")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        if OPERATIONS[request.endpoint or ""].body_required:
            raise invalid("body", "a JSON object is expected")
        data = {}
    return _validated(model, data)


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is list:
        return True
    if origin in (Union, UnionType, Annotated):
        return any(_is_list(a) for a in get_args(annotation)[: 1 if origin is Annotated else None])
    return False


def query(model: type[M]) -> M:
    """The query string as `model`: a list field takes every value of its name, any other field the first."""
    _declared(model, "query")
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in request.args:
            data[key] = request.args.getlist(key) if _is_list(info.annotation) else request.args[key]
    return _validated(model, data)


def path(model: type[M]) -> M:
    """The URL's variables as `model`."""
    _declared(model, "path")
    return _validated(model, dict(request.view_args or {}))


def reply(model: BaseModel, status: int = 200) -> tuple[Response, int]:
    """`model` as the JSON answer with `status`, which must be the route's declared model for it."""
    declared = OPERATIONS[request.endpoint or ""].responses.get(status)
    if declared is not type(model):
        raise TypeError(f"{request.endpoint} declares {declared!r} for {status}, not {type(model).__name__}")
    return jsonify(model.model_dump(mode="json", by_alias=True)), status
