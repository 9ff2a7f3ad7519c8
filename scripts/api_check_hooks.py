"""Schemathesis hooks for scripts/api_check.sh: the API never refuses as bad input what its document allows.

`positive_data_acceptance` lets through a 422 on the operations where a booking rule may refuse a
well-formed request (`scripts/api_check.toml`); this check keeps those 422s to the rules: one that
says `invalid_input` is the parser disagreeing with the document, unless it is a rule between
fields that JSON Schema cannot state.
"""

from __future__ import annotations

from typing import Any

import schemathesis

# (operation, field) of the rules across fields: the only input errors a request the document allows may get.
ACROSS_FIELDS = {
    ("GET /offices/{office_id}/availability", "to"),  # at most 62 days after `from`, and not before it
}


@schemathesis.check
def input_errors_match_document(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    error = response.json().get("error", {})
    if error.get("code") == "invalid_input" and (case.operation.label, error.get("field")) not in ACROSS_FIELDS:
        raise AssertionError(f"The document allows this request, yet the API refused it as invalid input: "
                             f"{error.get('message', {}).get('en')}")
    return None
