"""Tool calls scored the way function-calling benchmarks score them (AST matching), not as exact
JSON: the right function, every required parameter, no parameter the schema lacks, values of the
schema's types, values equal after normalisation (strings compared without case, surrounding
spaces and punctuation; 3 == 3.0 for a number), optional parameters the user did not mention may
be left out or given their default, and parallel calls matched in any order.

Also the case categories, read from a conversation's shape so they apply to any dataset:
``simple`` (one tool offered, one call), ``multiple`` (several offered, one call), ``parallel``
(one tool called several times), ``parallel_multiple``, ``multi_turn`` (a call after earlier
tool results), ``irrelevance`` (no call due, and the conversation never calls), ``missing`` (no
call due yet: the assistant must ask for a detail before the call that follows), ``answer`` (no
call due: the answer after tool results).
"""
from __future__ import annotations

import itertools
import string
from typing import Any, Sequence

CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "multi_turn", "irrelevance",
              "missing", "answer")
_STRIP = string.whitespace + string.punctuation.replace("-", "").replace("_", "") + "。，！？；：、"


def category(messages_before: Sequence[dict], expected: Sequence[tuple[str, dict]], n_tools: int,
             calls_later: bool) -> str:
    results_before = any(m.get("role") == "tool" for m in messages_before)
    if not expected:
        if results_before:
            return "answer"
        return "missing" if calls_later else "irrelevance"
    if results_before:
        return "multi_turn"
    names = {n for n, _ in expected}
    if len(expected) == 1:
        return "simple" if n_tools <= 1 else "multiple"
    return "parallel" if len(names) == 1 else "parallel_multiple"


def _norm_str(s: str) -> str:
    return s.strip(_STRIP).lower()


def _type_ok(value: Any, schema: dict) -> bool:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if value is None:
        return "null" in kinds or kind is None
    if "enum" in schema and value not in schema["enum"]:
        # enums compare loosely for strings, as a benchmark's normalisation does
        if not (isinstance(value, str) and any(isinstance(e, str) and _norm_str(e) == _norm_str(value)
                                               for e in schema["enum"])):
            return False
    for k in kinds:
        if k is None or k == "any":
            return True
        if k == "string" and isinstance(value, str):
            return True
        if k == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k in ("number", "float") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if k == "boolean" and isinstance(value, bool):
            return True
        if k in ("array", "tuple") and isinstance(value, list):
            items = schema.get("items") or {}
            return all(_type_ok(v, items) for v in value)
        if k in ("object", "dict") and isinstance(value, dict):
            return True
    return False


def values_equal(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return abs(float(expected) - float(got)) <= 1e-9 * max(1.0, abs(float(expected)))
    if isinstance(expected, str) and isinstance(got, str):
        return _norm_str(expected) == _norm_str(got)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(values_equal(a, b) for a, b in zip(expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(values_equal(v, got[k]) for k, v in expected.items())
    return expected == got


def call_matches(expected: tuple[str, dict], got: tuple[str, dict], tool: dict | None) -> bool:
    """One predicted call against one expected call of `tool` (its OpenAI schema, if offered)."""
    (name, want), (got_name, args) = expected, got
    if got_name != name or not isinstance(args, dict):
        return False
    fn = (tool or {}).get("function", tool or {})
    params = fn.get("parameters") or {}
    props: dict = params.get("properties") or {}
    required = set(params.get("required") or [])
    if props and any(k not in props for k in args):
        return False                                    # a parameter the schema does not have
    if any(k not in args for k in required):
        return False
    for key in set(want) | set(args):
        schema = props.get(key, {})
        if key in args and props and not _type_ok(args[key], schema):
            return False
        if key in want and key in args:
            if not values_equal(want[key], args[key]):
                return False
        elif key in want:                               # expected but left out: fine if the default
            if "default" not in schema or not values_equal(want[key], schema["default"]):
                return False
        else:                                           # given but never asked for: only the default
            if "default" not in schema or not values_equal(schema["default"], args[key]):
                return False
    return True


def calls_match(expected: Sequence[tuple[str, dict]], got: Sequence[tuple[str, dict]],
                tools: Sequence[dict]) -> bool:
    """Every expected call matched by exactly one predicted call, in any order."""
    if len(expected) != len(got):
        return False
    by_name = {(t.get("function") or t).get("name"): t for t in tools}
    ok = [[call_matches(e, g, by_name.get(e[0])) for g in got] for e in expected]
    if len(expected) <= 6:
        return any(all(ok[i][j] for i, j in enumerate(perm)) for perm in itertools.permutations(range(len(got))))
    used: set[int] = set()                              # many calls: greedy is good enough
    for row in ok:
        j = next((j for j, hit in enumerate(row) if hit and j not in used), None)
        if j is None:
            return False
        used.add(j)
    return True
