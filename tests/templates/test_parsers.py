"""Parsers: tolerant one-shot parsing, and streaming that assembles to the one-shot result."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltune.templates.parsers import PARSERS, StreamingParser, assemble, get_parser


def stream(parser, text, chunk_sizes):
    sp, deltas, pos, i = StreamingParser(parser), [], 0, 0
    while pos < len(text):
        n = chunk_sizes[i % len(chunk_sizes)]
        deltas += sp.feed(text[pos:pos + n])
        pos, i = pos + n, i + 1
    return assemble(deltas + sp.finish())


def one_shot(parser, text):
    r = parser.parse(text)
    return r.content, [(c.name, c.arguments) for c in r.calls]


def as_pairs(calls):
    return [(c["name"], json.loads(c["arguments"])) for c in calls]


@pytest.mark.parametrize("text, content, calls", [
    ('<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>', None, [("f", {"a": 1})]),
    ('Sure.  <tool_call>{"name":"f","arguments":{}}</tool_call>', "Sure.", [("f", {})]),
    ('<tool_call>{"name": "f"}</tool_call>', None, [("f", {})]),  # no arguments at all
    ('<tool_call>{"name": "f", "arguments": "{\\"x\\": 2}"}</tool_call>', None, [("f", {"x": 2})]),
    ('<tool_call>{"name": "a", "arguments": {}}</tool_call>\n<tool_call>{"name": "b", "arguments": {"q": "z"}}</tool_call>',
     None, [("a", {}), ("b", {"q": "z"})]),
    ('<tool_call>{"name": "f", "arguments": {"a": 1}}', None, [("f", {"a": 1})]),  # stopped before close
    ('<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]</tool_call>', None,
     [("a", {}), ("b", {})]),
    ('I think <tool_call> is a tag', 'I think <tool_call> is a tag', []),  # nothing parses: untouched
    ('<tool_call>{"name": "f", "arguments": {"a": </tool_call>', '<tool_call>{"name": "f", "arguments": {"a": </tool_call>', []),
    ('', None, []),
])
def test_hermes_is_tolerant(text, content, calls):
    assert one_shot(get_parser("hermes"), text) == (content, calls)


@pytest.mark.parametrize("name, text, calls", [
    ("llama3_json", '{"name": "f", "parameters": {"a": 1}}', [("f", {"a": 1})]),
    ("llama3_json", '<|python_tag|>{"name": "f", "arguments": {}}; {"name": "g", "parameters": {"b": [1]}}',
     [("f", {}), ("g", {"b": [1]})]),
    ("mistral", '[TOOL_CALLS] [{"name": "f", "arguments": {"a": "x"}}]', [("f", {"a": "x"})]),
    ("glm4", 'get_weather\n{"city": "北京"}', [("get_weather", {"city": "北京"})]),
    ("glm4", '\nLooking.<|assistant|>f\n{}', [("f", {})]),
])
def test_other_formats(name, text, calls):
    assert one_shot(get_parser(name), text)[1] == calls


@pytest.mark.parametrize("name", list(PARSERS))
def test_plain_text_comes_back_untouched(name):
    text = "The weather in Paris is {sunny} today [really]."
    assert one_shot(get_parser(name), text) == (text, [])


prose = st.text(alphabet=st.characters(blacklist_characters="<[{}]>|", blacklist_categories=("Cs",)),
                max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
calls = st.lists(st.tuples(st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True),
                           st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)),
                 max_size=3)


def hermes_text(content, cs):
    blocks = [f'<tool_call>\n{json.dumps({"name": n, "arguments": a}, ensure_ascii=False)}\n</tool_call>'
              for n, a in cs]
    return "\n".join(([content] if content else []) + blocks)


@settings(max_examples=150, deadline=None)
@given(content=prose, cs=calls, chunks=st.lists(st.integers(1, 7), min_size=1, max_size=5))
def test_streaming_equals_one_shot(content, cs, chunks):
    parser = get_parser("hermes")
    text = hermes_text(content, cs)
    streamed_content, streamed_calls = stream(parser, text, chunks)
    want_content, want_calls = one_shot(parser, text)
    assert streamed_content == want_content
    assert as_pairs(streamed_calls) == want_calls == [(n, a) for n, a in cs]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["llama3_json", "mistral", "glm4"]), cs=calls.filter(bool),
       chunks=st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_streaming_equals_one_shot_other_formats(name, cs, chunks):
    parser = get_parser(name)
    if name == "llama3_json":
        text = "\n".join(json.dumps({"name": n, "parameters": a}, ensure_ascii=False) for n, a in cs)
    elif name == "mistral":
        text = "[TOOL_CALLS] " + json.dumps([{"name": n, "arguments": a} for n, a in cs], ensure_ascii=False)
    else:
        text = "<|assistant|>".join(f"{n}\n{json.dumps(a, ensure_ascii=False)}" for n, a in cs)
    streamed_content, streamed_calls = stream(parser, text, chunks)
    assert (streamed_content, as_pairs(streamed_calls)) == one_shot(parser, text)
    assert as_pairs(streamed_calls) == [(n, a) for n, a in cs]


def test_stream_sends_name_before_arguments_and_empty_object_for_no_params():
    sp = StreamingParser(get_parser("hermes"))
    deltas = []
    for ch in '<tool_call>{"name": "now", "arguments": {}}</tool_call>':
        deltas += sp.feed(ch)
    deltas += sp.finish()
    first, second = deltas[0]["tool_calls"][0], deltas[1]["tool_calls"][0]
    assert first["function"] == {"name": "now", "arguments": ""} and first["id"] and first["index"] == 0
    assert second == {"index": 0, "function": {"arguments": "{}"}}
    assert len(deltas) == 2  # the name is not repeated in later deltas
