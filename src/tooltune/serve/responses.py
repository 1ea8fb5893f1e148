"""OpenAI-shaped bodies: JSON without surprises, error objects, and a pydantic validation error
turned into a 400 that names the field (`messages[2].tool_call_id`)."""
from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 503: "server_error"}


def dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates echoed from a request
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def json_response(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json", headers=headers)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict | None = None) -> Response:
    return json_response(error_body(status, message, param, code), status, headers)


def _param_from_loc(loc: tuple) -> str | None:
    """("body", "messages", 2, "tool_call_id") -> "messages[2].tool_call_id" (union tags dropped)."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part and not (part[0].isupper() or any(c in part for c in "[('")
                                                     or part in ("str", "int", "float", "bool", "dict", "list",
                                                                 "none", "json-or-python")):
            out += f".{part}" if out else part
    return out or None


def validation_error(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if not errors:
        return error_response(400, "invalid request body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(400, f"the request body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
                              .rstrip(": "), None, "invalid_json")
    loc = tuple(first.get("loc") or ())
    if loc in ((), ("body",)):
        return error_response(400, "the request body must be a JSON object with `messages`", None, "invalid_body")
    # A union gives one error per branch: report the branch that names the deepest field.
    base = _param_from_loc(loc) or ""
    named = [(_param_from_loc(tuple(e.get("loc") or ())) or "", e) for e in errors]
    param, error = max(((p, e) for p, e in named if p.startswith(base)), key=lambda pe: len(pe[0]),
                       default=(base, first))
    param, msg = param or None, error.get("msg", "")
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return error_response(400, f"{param}: {msg}" if param else msg, param, code)



def sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"
