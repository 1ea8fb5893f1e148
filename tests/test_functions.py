"""function_to_tool, load_tools and call_tool."""
from __future__ import annotations

import json
from enum import Enum
from typing import Literal, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltune.functions import (ToolError, call_tool, format_result, function_to_tool,
                                      load_tools, parse_docstring)
from tooltune.errors import UserError


class Color(Enum):
    RED = "red"
    GREEN = "green"


def everything(name: str, count: int, ratio: float, flag: bool, tags: list[str], extra: dict,
               mode: Literal["fast", "slow"], note: Optional[str] = None, limit: int | None = None,
               color: Color = Color.RED, untyped=3, scores: dict[str, float] | None = None) -> dict:
    """Do everything at once.

    This second paragraph is not part of the description.

    Args:
        name: The name.
        count (int): How many, a description
            that wraps onto a second line.
        ratio: A ratio.
        flag: A flag.
        tags: Some tags.
        extra: Extra data.
        mode: The mode.
        note: An optional note.

    Returns:
        dict: Not a parameter.
    """
    return {"color": color.value, "count": count}


def props(fn) -> dict:
    return function_to_tool(fn)["function"]["parameters"]["properties"]


def test_schema_from_every_kind_of_hint():
    tool = function_to_tool(everything)
    assert tool["type"] == "function"
    fn = tool["function"]
    assert fn["name"] == "everything"
    assert fn["description"] == "Do everything at once."
    p = fn["parameters"]
    assert p["type"] == "object"
    assert p["required"] == ["name", "count", "ratio", "flag", "tags", "extra", "mode"]
    q = p["properties"]
    assert q["name"] == {"type": "string", "description": "The name."}
    assert q["count"] == {"type": "integer",
                          "description": "How many, a description that wraps onto a second line."}
    assert q["ratio"]["type"] == "number" and q["flag"]["type"] == "boolean"
    assert q["tags"]["type"] == "array" and q["tags"]["items"] == {"type": "string"}
    assert q["extra"]["type"] == "object"
    assert q["mode"]["enum"] == ["fast", "slow"] and q["mode"]["type"] == "string"
    assert q["note"]["type"] == "string" and q["note"]["nullable"] is True
    assert q["limit"] == {"type": "integer", "nullable": True}
    assert q["color"] == {"type": "string", "enum": ["red", "green"]}
    assert q["untyped"] == {"type": "integer"}  # inferred from the default
    assert q["scores"] == {"type": "object", "additionalProperties": {"type": "number"},
                           "nullable": True}
    assert "Returns" not in json.dumps(tool) and "Not a parameter" not in json.dumps(tool)


def test_schema_edge_cases():
    def nothing():
        pass

    def mixed(x: int | str, v: list[int | None] | None = None, *args, **kwargs):
        """:param x: Sphinx style works too."""

    assert function_to_tool(nothing)["function"] == {
        "name": "nothing", "parameters": {"type": "object", "properties": {}}}
    m = function_to_tool(mixed)["function"]
    assert m["parameters"]["properties"]["x"] == {"type": ["integer", "string"],
                                                  "description": "Sphinx style works too."}
    assert list(m["parameters"]["properties"]) == ["x", "v"]  # *args/**kwargs are not parameters
    assert function_to_tool(nothing) is not function_to_tool(nothing)  # callers may mutate it

    def bad(x: set[complex]):
        pass

    with pytest.raises(ToolError, match="bad.*'x'"):
        function_to_tool(bad)


def test_parse_docstring_sections():
    desc, args = parse_docstring("""Summary line
    continues here.

    Args:
        a: first.
        b (str, optional): second
            more.

    Raises:
        ValueError: not an argument.
    """)
    assert desc == "Summary line continues here."
    assert args == {"a": "first.", "b": "second more."}
    assert parse_docstring(None) == ("", {})


# --------------------------------------------------------------------------- load_tools

PY_TOOLS = '''
from enum import Enum
from typing import Literal
import os.path
from os.path import join

def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: First.
        b: Second.
    """
    return a + b

def greet(name: str, style: Literal["plain", "loud"] = "plain") -> dict:
    """Greet someone."""
    return {"text": ("HELLO " if style == "loud" else "hello ") + name}

def _private(x: int) -> int:
    return x
'''


def test_load_py_public_functions(tmp_path):
    path = tmp_path / "mytools.py"
    path.write_text(PY_TOOLS)
    tools, functions = load_tools(path)
    assert [t["function"]["name"] for t in tools] == ["add", "greet"]  # not imports or _private
    assert set(functions) == {"add", "greet"}
    assert call_tool(functions, "add", {"a": 3}) == "5"
    assert json.loads(call_tool(functions, "greet", {"name": "Li", "style": "loud"})) == {
        "text": "HELLO Li"}


@pytest.mark.parametrize("listing", ['TOOLS = [greet]', 'TOOLS = ["greet"]', '__all__ = ["greet", "Enum"]'])
def test_load_py_selected_functions(tmp_path, listing):
    path = tmp_path / "t.py"
    path.write_text(PY_TOOLS + "\n" + listing + "\n")
    tools, functions = load_tools(path)
    assert list(functions) == ["greet"] and len(tools) == 1


def test_load_json(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([
        {"type": "function", "function": {"name": "a", "description": "A.",
                                          "parameters": {"type": "object", "properties": {}}}},
        {"name": "b", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}},
    ]))
    tools, functions = load_tools(path)
    assert functions == {}
    assert [t["type"] for t in tools] == ["function", "function"]
    assert [t["function"]["name"] for t in tools] == ["a", "b"]


@pytest.mark.parametrize("name,text,match", [
    ("broken.py", "def f(:\n", "broken.py.*SyntaxError"),
    ("raises.py", "raise RuntimeError('boom')\n", "raises.py.*boom"),
    ("empty.py", "X = 1\n", "empty.py.*no public functions"),
    ("listed.py", "__all__ = ['nope']\n", "listed.py.*'nope'"),
    ("hint.py", "def f(x: 'Undefined'): pass\n", "hint.py.*type hints"),
    ("bad.json", "{not json", "bad.json.*JSON"),
    ("shape.json", '{"a": 1}', "shape.json.*list"),
    ("noname.json", '[{"parameters": {}}]', "noname.json.*no function name"),
    ("tools.yaml", "a: 1", "tools.yaml.*\\.py or \\.json"),
])
def test_load_errors_name_the_file(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ToolError, match=match):
        load_tools(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ToolError, match="nothere.py.*not found"):
        load_tools(tmp_path / "nothere.py")


# --------------------------------------------------------------------------- call_tool


def explode(x: int) -> int:
    """Always fails."""
    raise RuntimeError(f"kaboom {x}")


def paint(color: Color, times: int = 1, note: Optional[str] = None) -> dict:
    """Paint."""
    return {"color": color.value, "times": times, "enum_type": type(color).__name__, "note": note}


FUNCS = {"everything": everything, "explode": explode, "paint": paint,
         "text": lambda: "plain text", "nothing": lambda: None}


def test_call_tool_runs_and_formats():
    out = call_tool(FUNCS, "paint", {"color": "green", "times": 2.0})
    assert json.loads(out) == {"color": "green", "times": 2, "enum_type": "Color", "note": None}
    assert call_tool(FUNCS, "paint", '{"color": "red"}') == (
        '{"color": "red", "times": 1, "enum_type": "Color", "note": null}')
    assert call_tool(FUNCS, "text") == "plain text"
    assert call_tool(FUNCS, "nothing", {}) == "null"
    assert format_result({"城市": "北京"}) == '{"城市": "北京"}'  # no \\u escapes
    assert format_result(3.5) == "3.5" and format_result(True) == "true"


def test_call_tool_optional_null_is_dropped_and_nullable_kept():
    # `times` has a default and is not nullable: null means "use the default"
    assert json.loads(call_tool(FUNCS, "paint", {"color": "red", "times": None}))["times"] == 1
    assert json.loads(call_tool(FUNCS, "paint", {"color": "red", "note": None}))["note"] is None


@pytest.mark.parametrize("name,args,match", [
    ("nope", {}, "unknown tool 'nope'.*available: everything"),
    ("paint", {}, "missing required argument 'color'"),
    ("paint", {"color": "red", "times": "2"}, "times must be integer, got string"),
    ("paint", {"color": "red", "times": True}, "times must be integer, got boolean"),
    ("paint", {"color": "red", "times": 1.5}, "times must be integer, got number"),
    ("paint", {"color": "blue"}, 'color must be one of "red", "green"'),
    ("paint", {"color": "red", "size": 3}, "unexpected argument 'size'"),
    ("paint", "[1, 2]", "must be a JSON object"),
    ("paint", "{broken", "not JSON"),
    ("everything", {"name": "x", "count": 1, "ratio": 1, "flag": True, "tags": ["a", 2],
                    "extra": {}, "mode": "fast"}, r"tags\[1\] must be string"),
])
def test_call_tool_rejects_bad_calls(name, args, match):
    with pytest.raises(ToolError, match=match) as info:
        call_tool(FUNCS, name, args)
    assert isinstance(info.value, UserError) and info.value.tool == name


def test_call_tool_reports_all_problems_at_once():
    with pytest.raises(ToolError) as info:
        call_tool(FUNCS, "paint", {"times": "x", "bogus": 1})
    msg = str(info.value)
    assert "bogus" in msg and "times" in msg and "'color'" in msg


def test_call_tool_wraps_exceptions():
    with pytest.raises(ToolError, match="tool 'explode' failed: RuntimeError: kaboom 4") as info:
        call_tool(FUNCS, "explode", {"x": 4})
    assert isinstance(info.value.__cause__, RuntimeError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(args=st.dictionaries(st.sampled_from(["color", "times", "note", "other"]), json_values,
                            max_size=4))
def test_call_tool_any_json_arguments_run_or_raise_tool_error(args):
    """Whatever a model writes, the result is a string or a ToolError, never a crash inside."""
    try:
        out = call_tool(FUNCS, "paint", args)
    except ToolError:
        return
    result = json.loads(out)
    assert result["color"] == args["color"] and isinstance(result["times"], int)
