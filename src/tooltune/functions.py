"""Tools from plain Python functions: their schema, loading them from a file, calling them safely.

The schema follows the OpenAI tool shape (and the conventions of ``transformers``'
``get_json_schema``): parameter types from type hints, descriptions from a Google-style docstring,
``nullable`` for ``Optional``, no defaults. ``call_tool`` checks a model's arguments against that
schema before running anything, so a bad call becomes a ``ToolError`` the agent loop can show the
model instead of a crash inside the tool.
"""
from __future__ import annotations

import collections.abc
import copy
import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import importlib.util
import inspect
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union, get_args, get_origin

from tooltune.conversation import DataError, Tool, normalize_tool, parse_arguments
from tooltune.errors import UserError

__all__ = ["ToolError", "function_to_tool", "load_tools", "call_tool", "format_result",
           "parse_docstring"]


class ToolError(UserError):
    """A tool that cannot be loaded or called; the message says which tool (or file) and why."""

    def __init__(self, message: str, *, tool: str | None = None):
        self.tool = tool
        super().__init__(message)


# --------------------------------------------------------------------------- docstrings

_ARG_SECTIONS = ("args", "arguments", "parameters", "params", "keyword args", "keyword arguments")
_SECTION = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|returns?|yields?|raises|"
    r"examples?|notes?|attributes|see also|warnings?|todo|references)\s*:\s*$", re.I)
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {param: description}) from a Google-style (or Sphinx ``:param:``) docstring.

    The description is the first paragraph, joined into one line.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    desc: list[str] = []
    for line in lines:
        s = line.strip()
        if not s or _SECTION.match(s) or s.startswith(":"):
            break
        desc.append(s)
    params: dict[str, str] = {}
    in_args, current, base = False, None, None
    for line in lines:
        s = line.strip()
        indent = len(line) - len(line.lstrip())
        sphinx = _SPHINX_PARAM.match(s)
        if sphinx:
            current, in_args = sphinx.group(1), False
            params[current] = sphinx.group(2).strip()
            continue
        section = _SECTION.match(s)
        if section and indent == 0:
            in_args, current, base = section.group(1).lower() in _ARG_SECTIONS, None, None
            continue
        if not s:
            continue
        if indent == 0:  # unindented text closes a section (and continues nothing)
            in_args, current = False, None
            continue
        if not in_args and current is None:
            continue
        if base is None:
            base = indent
        m = _ARG_LINE.match(s) if in_args else None
        if m and indent <= base:
            current = m.group(1)
            params[current] = m.group(2).strip()
        elif current is not None:  # a wrapped description line
            params[current] = f"{params[current]} {s}".strip()
    return " ".join(desc), params


# --------------------------------------------------------------------------- type hints

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                           dict: "object", list: "array", tuple: "array", set: "array",
                           frozenset: "array"}
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable,
           collections.abc.Set, collections.abc.MutableSequence)
_OBJECTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def _enum_schema(values: list[Any]) -> dict:
    kinds = sorted({_json_type(v) for v in values})
    schema: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
    schema["enum"] = values
    return schema


def type_to_schema(tp: Any) -> dict:
    """JSON Schema for one type hint; raises TypeError for hints JSON cannot express."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {}
    if tp is type(None):
        return {"type": "null"}
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return type_to_schema(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(tp) if a is not type(None)]
        nullable = len(members) < len(get_args(tp))
        subs = [type_to_schema(a) for a in members]
        if len(subs) == 1:
            schema = dict(subs[0])
        elif all(set(s) == {"type"} and isinstance(s["type"], str) for s in subs):
            schema = {"type": [s["type"] for s in subs]}
        else:
            schema = {"anyOf": subs}
        if nullable:
            schema["nullable"] = True
        return schema
    if origin is Literal:
        return _enum_schema(list(get_args(tp)))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([m.value for m in tp])
    if origin in _ARRAYS:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        schema = {"type": "array"}
        if args and (len(set(args)) == 1 or origin is not tuple):
            item = type_to_schema(args[0])
            if item:
                schema["items"] = item
        return schema
    if origin in _OBJECTS:
        schema = {"type": "object"}
        args = get_args(tp)
        if len(args) == 2 and type_to_schema(args[1]):
            schema["additionalProperties"] = type_to_schema(args[1])
        return schema
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    raise TypeError(f"type hint {tp!r} has no JSON Schema equivalent")


# --------------------------------------------------------------------------- function -> tool

@dataclasses.dataclass(frozen=True)
class _Spec:
    tool: Tool
    enums: dict[str, type[enum.Enum]]  # parameters whose values become Enum members before a call


def _enum_class(tp: Any) -> type[enum.Enum] | None:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        found = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, enum.Enum)]
        return found[0] if len(found) == 1 else None
    return None


def _build_spec(fn: Callable) -> _Spec:
    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None)
    if not callable(fn) or not name:
        raise ToolError(f"{fn!r} is not a named function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise ToolError(f"tool {name!r}: cannot read its signature ({e})", tool=name) from None
    try:
        hints = typing.get_type_hints(fn)
    except Exception as e:  # unresolved forward references, typos in annotations
        raise ToolError(f"tool {name!r}: cannot resolve its type hints ({e})", tool=name) from None
    description, arg_docs = parse_docstring(inspect.getdoc(fn))
    props: dict[str, dict] = {}
    required: list[str] = []
    enums: dict[str, type[enum.Enum]] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # *args/**kwargs have no names a schema could list
        if p.kind is p.POSITIONAL_ONLY:
            raise ToolError(f"tool {name!r}: positional-only parameter {p.name!r} cannot be "
                            "passed by name", tool=name)
        tp = hints.get(p.name, inspect.Parameter.empty)
        if tp is inspect.Parameter.empty and p.default not in (inspect.Parameter.empty, None):
            tp = type(p.default)  # unannotated but defaulted: the default's type is the best guess
        try:
            schema = dict(type_to_schema(tp))
        except TypeError as e:
            raise ToolError(f"tool {name!r}, parameter {p.name!r}: {e}", tool=name) from None
        if arg_docs.get(p.name):
            schema["description"] = arg_docs[p.name]
        props[p.name] = schema
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        if (cls := _enum_class(tp)) is not None:
            enums[p.name] = cls
    params: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        params["required"] = required
    fn_schema: dict[str, Any] = {"name": name}
    if description:
        fn_schema["description"] = description
    fn_schema["parameters"] = params
    return _Spec({"type": "function", "function": fn_schema}, enums)


@functools.lru_cache(maxsize=512)
def _cached_spec(fn: Callable) -> _Spec:
    return _build_spec(fn)


def _spec(fn: Callable) -> _Spec:
    try:
        return _cached_spec(fn)
    except TypeError:  # an unhashable callable object: build it each time
        return _build_spec(fn)


def function_to_tool(fn: Callable) -> Tool:
    """The OpenAI tool schema for a Python function (a fresh dict each call)."""
    return copy.deepcopy(_spec(fn).tool)


# --------------------------------------------------------------------------- loading

def _load_py(path: Path) -> tuple[list[Tool], dict[str, Callable]]:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_name = f"tooltune_user_tools_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ToolError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and get_type_hints look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise ToolError(f"{path}: importing it failed ({type(e).__name__}: {e})") from None

    chosen: list[Callable] = []
    listed = getattr(module, "TOOLS", None)
    if listed is not None:
        if not isinstance(listed, (list, tuple)):
            raise ToolError(f"{path}: TOOLS must be a list of functions or names")
        for item in listed:
            obj = getattr(module, item, None) if isinstance(item, str) else item
            if not callable(obj):
                raise ToolError(f"{path}: TOOLS entry {item!r} is not a function defined there")
            chosen.append(obj)
    elif hasattr(module, "__all__"):
        for item in module.__all__:
            if not hasattr(module, item):
                raise ToolError(f"{path}: __all__ names {item!r}, which is not defined")
            obj = getattr(module, item)
            if inspect.isfunction(obj) or inspect.isbuiltin(obj):  # __all__ may list classes too
                chosen.append(obj)
    else:
        chosen = [obj for n, obj in vars(module).items()
                  if not n.startswith("_") and inspect.isfunction(obj)
                  and obj.__module__ == module.__name__]
    if not chosen:
        raise ToolError(f"{path}: defines no public functions to use as tools")
    try:
        return tools_from_functions(chosen)
    except ToolError as e:
        raise ToolError(f"{path}: {e}", tool=e.tool) from None


def tools_from_functions(functions: Sequence[Callable] | Mapping[str, Callable]) -> tuple[list[Tool], dict[str, Callable]]:
    """OpenAI tool schemas and a name -> function table."""
    fns = list(functions.values()) if isinstance(functions, Mapping) else list(functions)
    tools: list[Tool] = []
    table: dict[str, Callable] = {}
    for fn in fns:
        tool = function_to_tool(fn)
        name = tool["function"]["name"]
        if name in table:
            raise ToolError(f"two tools are named {name!r}", tool=name)
        tools.append(tool)
        table[name] = fn
    return tools, table


def _load_json(path: Path) -> list[Tool]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ToolError(f"{path}: not a readable JSON file ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    if not isinstance(data, list):
        raise ToolError(f"{path}: expected a JSON list of tools (or {{\"tools\": [...]}})")
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        try:
            tool = normalize_tool(item, where=f"tools[{i}]")
        except DataError as e:
            raise ToolError(f"{path}: {e}") from None
        name = tool["function"]["name"]
        if name in seen:
            raise ToolError(f"{path}: two tools are named {name!r}", tool=name)
        seen.add(name)
        tools.append(tool)
    return tools


def load_tools(path: str | Path) -> tuple[list[Tool], dict[str, Callable]]:
    """Tools from a ``.py`` file (with callables) or a ``.json`` file (schemas only).

    A ``.py`` file contributes the functions listed in its ``TOOLS`` list (functions or names),
    else the functions named in ``__all__``, else every public function defined in it.
    A ``.json`` file holds a list of OpenAI tools or bare function schemas.
    """
    p = Path(path)
    if not p.is_file():
        raise ToolError(f"tool file {p} not found")
    suffix = p.suffix.lower()
    if suffix == ".py":
        return _load_py(p)
    if suffix == ".json":
        return _load_json(p), {}
    raise ToolError(f"{p}: a tool file must be .py or .json")


# --------------------------------------------------------------------------- calling

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _check(schema: dict, value: Any, path: str) -> tuple[Any, list[str]]:
    """(value, problems); an integral float given for an integer becomes an int."""
    if value is None and schema.get("nullable"):
        return None, []
    if "anyOf" in schema:
        for sub in schema["anyOf"]:
            v, errs = _check(sub, value, path)
            if not errs:
                return v, []
        return value, [f"{path} matches none of the allowed types"]
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if kinds and not any(_TYPE_CHECKS.get(k, lambda v: True)(value) for k in kinds):
        if ("integer" in kinds and isinstance(value, float) and not isinstance(value, bool)
                and value.is_integer()):
            value = int(value)  # models often write 3.0 for 3
        else:
            return value, [f"{path} must be {' or '.join(kinds)}, got {_json_type_name(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
        return value, [f"{path} must be one of {allowed}, got {json.dumps(value, ensure_ascii=False)}"]
    problems: list[str] = []
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        out = []
        for i, item in enumerate(value):
            v, errs = _check(schema["items"], item, f"{path}[{i}]")
            out.append(v)
            problems += errs
        value = out
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        value = dict(value)
        for k, item in value.items():
            value[k], errs = _check(schema["additionalProperties"], item, f"{path}.{k}")
            problems += errs
    return value, problems


def _json_type_name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    return _json_type(value)


def check_arguments(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments checked against a tool's schema; raises ToolError listing every problem.

    A ``null`` for an optional, non-nullable parameter is dropped (the default applies): small
    models often spell out every parameter.
    """
    fn = tool["function"]
    name = fn["name"]
    params = fn.get("parameters") or {}
    props: dict[str, dict] = params.get("properties") or {}
    required = list(params.get("required") or [])
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in props:
            accepted = ", ".join(props) or "none"
            problems.append(f"unexpected argument {key!r} (accepted: {accepted})")
            continue
        if value is None and key not in required and not props[key].get("nullable"):
            continue
        out[key], errs = _check(props[key], value, key)
        problems += errs
    problems += [f"missing required argument {k!r}" for k in required if k not in arguments]
    if problems:
        raise ToolError(f"tool {name!r}: bad arguments: {'; '.join(problems)}", tool=name)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def format_result(value: Any) -> str:
    """A tool's return value as the text of a tool message.

    Strings pass through; dicts/lists (and dataclasses) become JSON; None and booleans become
    JSON ``null``/``true``/``false`` so the result always reads as JSON; other values use str().
    """
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        value = value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, (dict, list, tuple)) or value is None or isinstance(value, bool):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return str(value)


def call_tool(functions: Mapping[str, Callable], name: str,
              arguments: Mapping[str, Any] | str | None = None) -> str:
    """Check the arguments against the function's schema, run it, return its result as text.

    Raises ToolError for an unknown tool, bad arguments (missing, unknown, wrong type, not in an
    enum) or an exception inside the function (chained as ``__cause__``).
    """
    fn = functions.get(name)
    if fn is None:
        available = ", ".join(sorted(functions)) or "none"
        raise ToolError(f"unknown tool {name!r} (available: {available})", tool=name)
    try:
        args = parse_arguments(dict(arguments) if isinstance(arguments, Mapping) else arguments)
    except DataError as e:
        raise ToolError(f"tool {name!r}: {e.reason}", tool=name) from None
    spec = _spec(fn)
    kwargs = check_arguments(spec.tool, args)
    for key, cls in spec.enums.items():
        if kwargs.get(key) is not None:
            kwargs[key] = cls(kwargs[key])
    try:
        result = fn(**kwargs)
    except Exception as e:
        raise ToolError(f"tool {name!r} failed: {type(e).__name__}: {e}", tool=name) from e
    return format_result(result)
