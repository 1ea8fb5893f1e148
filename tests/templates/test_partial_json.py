"""Reading JSON as it is generated: the settled rewrite only grows, and ends as json.dumps."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltune.templates.parsers.partial_json import InvalidJson, Rewriter, rewrite

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["😀", "a\\b", 'q"', "\n\t\x01", "\u2028"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10)
layouts = st.sampled_from([{}, {"ensure_ascii": False}, {"separators": (",", ":")}, {"indent": 2},
                           {"indent": "\t", "ensure_ascii": False}])


@settings(max_examples=300, deadline=None)
@given(value=values, layout=layouts, trailer=st.sampled_from(["", " ", "}", "</tool_call>"]))
def test_every_prefix_settles_a_prefix_of_the_rewrite(value, layout, trailer):
    raw = json.dumps(value, **layout)
    want = json.dumps(json.loads(raw), ensure_ascii=False)
    text = "  " + raw + trailer
    before, reader = "", Rewriter(0)
    for k in range(2, len(text) + 1):
        r = rewrite(text[:k], 0)
        assert reader.read(text[:k]) == r  # resumed as the text grows, or read afresh: the same
        assert want.startswith(r.text) and r.text.startswith(before)
        before = r.text
        if r.end is not None:
            assert r.end == len(text) - len(trailer) and r.text == want
            break
    else:
        # Only a bare number or literal at the very end of the text can stay open.
        assert not isinstance(value, (dict, list, str)) and trailer == ""


@settings(max_examples=400, deadline=None)
@given(value=values, cut=st.integers(0, 200), junk=st.sampled_from(list("{}[],:\"\\ x0-.eEtn")))
def test_broken_json_is_refused_or_left_open_as_json_loads_would(value, cut, junk):
    raw = json.dumps(value)
    cut = cut % (len(raw) + 1)
    text = raw[:cut] + junk + raw[cut:]
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        loaded = None
    try:
        r = rewrite(text, 0)
    except InvalidJson:
        assert loaded is None
        return
    if r.end is not None and not text[r.end:].strip():
        assert r.text == json.dumps(loaded, ensure_ascii=False)
    elif r.end is None and isinstance(loaded, (int, float)):
        pass  # a bare number at the end of the text may still grow
    else:
        assert loaded is None  # still open, or more text after the value: not one JSON value


@pytest.mark.parametrize("text, settled", [
    ('{"city": "Par', '{"city": "Par'),
    ('{"a":1', '{"a": '),                    # 1 may become 10
    ('{"a": [1, 2.50, tr', '{"a": [1, 2.5, '),
    ('{"a": "x\\ud83d', '{"a": "x'),          # a high surrogate waits for its pair
    ('{"a": "x\\u00', '{"a": "x'),
    ('{"a": 1.', '{"a": '),
    ('[', '['),
])
def test_open_values_settle_what_cannot_change(text, settled):
    r = rewrite(text, 0)
    assert (r.text, r.end) == (settled, None)


@pytest.mark.parametrize("text", ['[[], [],]', '{"a": {},}', '[{"a": 1},]', '{"a" 1}', '{"a": "x\ny"}', '{"a": "\\x"}', '{,}', '[1 2]', '{"a": 01}',
                                  '{"a": tx', "{'a': 1}", '{"a": 1]'])
def test_what_cannot_become_json_is_refused(text):
    with pytest.raises(InvalidJson):
        rewrite(text, 0)
