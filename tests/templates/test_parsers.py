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


LAYOUTS = [{"ensure_ascii": False}, {"ensure_ascii": True}, {"separators": (",", ":")}, {"indent": 1}]


def hermes_text(content, cs, layout=LAYOUTS[0]):
    blocks = [f'<tool_call>\n{json.dumps({"name": n, "arguments": a}, **layout)}\n</tool_call>'
              for n, a in cs]
    return "\n".join(([content] if content else []) + blocks)


@settings(max_examples=150, deadline=None)
@given(content=prose, cs=calls, chunks=st.lists(st.integers(1, 7), min_size=1, max_size=5),
       layout=st.sampled_from(LAYOUTS))
def test_streaming_equals_one_shot(content, cs, chunks, layout):
    parser = get_parser("hermes")
    text = hermes_text(content, cs, layout)
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


def test_stream_sends_name_first_then_arguments_in_pieces():
    sp = StreamingParser(get_parser("hermes"), id_factory=lambda: "call_1")
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris",\n "days": 3, "units": "°C"}}\n</tool_call>'
    by_prefix = []
    for k in range(len(text)):
        by_prefix.append(sp.feed(text[k]))
    deltas = [d for ds in by_prefix for d in ds] + sp.finish()
    opened = text.index('"arguments": {') + len('"arguments": {')
    first = [k for k, ds in enumerate(by_prefix) if ds][0]
    assert first == opened - 1  # the name goes out as the arguments object opens
    assert deltas[0] == {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                         "function": {"name": "get_weather", "arguments": ""}}]}
    pieces = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[1:]]
    assert all(set(d["tool_calls"][0]) == {"index", "function"} for d in deltas[1:])  # no name again
    assert len(pieces) > 5 and "".join(pieces) == '{"city": "Paris", "days": 3, "units": "°C"}'
    assert not sp.broken


def test_stream_sends_empty_object_for_no_params():
    sp = StreamingParser(get_parser("hermes"))
    deltas = [d for ch in '<tool_call>{"name": "now", "arguments": {}}</tool_call>' for d in sp.feed(ch)]
    content, calls = assemble(deltas + sp.finish())
    assert content is None and [(c["name"], c["arguments"]) for c in calls] == [("now", "{}")]


@pytest.mark.parametrize("name, text, content, want", [
    ("hermes", 'Let me check.\n<tool_call>{"name": "f", "arguments": {"city": "Par', "Let me check.",
     [("f", '{"city": "Par')]),
    ("hermes", '<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b", "arguments": {"x": 1',
     None, [("a", "{}"), ("b", '{"x": ')]),
    ("mistral", '[TOOL_CALLS] [{"name": "a", "arguments": {"q": "z"}}, {"name": "b", "arguments": {"n": [1, 2',
     None, [("a", '{"q": "z"}'), ("b", '{"n": [1, ')]),
    ("llama3_json", '{"name": "f", "parameters": {"a": tr', None, [("f", '{"a": ')]),
    ("glm4", 'f\n{"a": "\\u00e', None, [("f", '{"a": "')]),
])
def test_a_call_cut_short_stays_a_call_with_what_was_generated(name, text, content, want):
    sp = StreamingParser(get_parser(name))
    deltas = [d for ch in text for d in sp.feed(ch)] + sp.finish()
    got_content, calls = assemble(deltas)
    assert got_content == content and [(c["name"], c["arguments"]) for c in calls] == want
    assert sp.broken


def test_a_call_that_never_gets_its_arguments_object_is_text():
    sp = StreamingParser(get_parser("hermes"))
    text = '<tool_call>{"name": "f", "arguments": 5'
    deltas = [d for ch in text for d in sp.feed(ch)] + sp.finish()
    assert assemble(deltas) == (text, []) and not sp.broken


def test_arguments_written_as_a_string_or_before_the_name_come_whole():
    for text in ['<tool_call>{"name": "f", "arguments": "{\\"x\\": 2}"}</tool_call>',
                 '<tool_call>{"arguments": {"x": 2}, "name": "f"}</tool_call>']:
        sp = StreamingParser(get_parser("hermes"))
        deltas = [d for ch in text for d in sp.feed(ch)] + sp.finish()
        assert [d["tool_calls"][0]["function"] for d in deltas] == [
            {"name": "f", "arguments": ""}, {"arguments": '{"x": 2}'}]


def test_a_repeated_key_streams_as_written_and_stays_valid_json():
    sp = StreamingParser(get_parser("hermes"))
    text = '<tool_call>{"name": "f", "arguments": {"a": 1, "a": 2}}</tool_call>'
    deltas = [d for ch in text for d in sp.feed(ch)] + sp.finish()
    _, calls = assemble(deltas)
    assert calls[0]["arguments"] == '{"a": 1, "a": 2}' and json.loads(calls[0]["arguments"]) == {"a": 2}
    assert not sp.broken


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(list(PARSERS)), cs=calls.filter(bool), cut=st.integers(0, 400),
       junk=st.sampled_from(['', '"', '}', '{', ',', ']', '\n', '<tool_call>', '\\', 'x', '{"name": "g", "arguments": {']),
       chunks=st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_any_text_streams_without_error_and_a_clean_finish_equals_one_shot(name, cs, cut, junk, chunks):
    """Broken, cut or spliced calls: the stream never fails, and unless it had to leave a call
    unfinished, it assembles to exactly what the one-shot parse reads."""
    parser = get_parser(name)
    text = hermes_text("", cs) if name == "hermes" else "[TOOL_CALLS] " + json.dumps(
        [{"name": n, "arguments": a} for n, a in cs]) if name == "mistral" else "\n".join(
        json.dumps({"name": n, "parameters": a}) for n, a in cs) if name == "llama3_json" else "<|assistant|>".join(
        f"{n}\n{json.dumps(a)}" for n, a in cs)
    cut %= len(text) + 1
    text = text[:cut] + junk + text[cut:]
    sp, deltas, pos, i = StreamingParser(parser), [], 0, 0
    while pos < len(text):
        n = chunks[i % len(chunks)]
        deltas += sp.feed(text[pos:pos + n])
        pos, i = pos + n, i + 1
    content, got = assemble(deltas + sp.finish())
    assert all(c["id"] and c["name"] for c in got)
    if not sp.broken:
        want_content, want_calls = one_shot(parser, text)
        assert content == want_content and as_pairs(got) == want_calls
