"""Rendering: ids equal apply_chat_template's, masks cover exactly the assistant turns, and what a
template renders for a call parses back to that call."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tooltune.conversation import Conversation, tool_call
from tooltune.templates import TEMPLATES, get_template
from tooltune.templates.parsers import get_parser
from tooltune.templates.render import encode, render, trained_char_spans

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def parallel_conv() -> Conversation:
    return Conversation(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and 北京?"},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            tool_call("get_weather", {"city": "Paris"}, "c1"), tool_call("get_weather", {"city": "北京"}, "c2")]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 20}'},
        {"role": "tool", "tool_call_id": "c2", "content": '{"temp": 5}'},
        {"role": "assistant", "content": "Paris 20, Beijing 5."},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You're welcome."},
    ], tools=[WEATHER])


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_ids_equal_apply_chat_template(smol_tokenizer, name):
    t, conv = get_template(name), parallel_conv()
    want = smol_tokenizer.apply_chat_template(conv.messages, tools=conv.tools, chat_template=t.chat_template,
                                              tokenize=True, return_dict=False)
    assert encode(smol_tokenizer, t, conv).ids == list(want)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_mask_covers_assistant_turns_only(smol_tokenizer, name):
    t, conv = get_template(name), parallel_conv()
    enc = encode(smol_tokenizer, t, conv)
    trained = smol_tokenizer.decode([i for i, m in zip(enc.ids, enc.mask) if m])
    for text in ("Checking both.", "Paris 20, Beijing 5.", "You're welcome.", '"city": "Paris"'):
        assert text in trained
    for text in ("Be brief", "Weather in Paris and", "Thanks", '"temp": 20', "get_weather\", \"description"):
        assert text not in trained


@pytest.mark.parametrize("name", ["chatml", "gemma", "llama3", "mistral"])
def test_decisions_are_each_replys_first_token_and_the_one_after_each_call(smol_tokenizer, name):
    """What decides a turn: its first token (text or a call), and after each call closes the
    token that opens the next call or ends the reply; those tokens are all trained."""
    t, conv = get_template(name), parallel_conv()
    enc = encode(smol_tokenizer, t, conv)
    assert all(m for m, d in zip(enc.mask, enc.decisions) if d)
    firsts = [i for i, d in enumerate(enc.decisions) if d]
    # three turns open; a site after which more follows or the reply ends: at least one more each
    assert 4 <= len(firsts) <= 6
    starts = [k for k, (m, prev) in enumerate(zip(enc.mask, [False] + enc.mask)) if m and not prev]
    assert set(starts) <= set(firsts)
    after_call = smol_tokenizer.decode([enc.ids[i] for i in firsts if i not in starts])
    assert after_call.strip() != ""


def test_chatml_decisions_read_as_the_choices_they_are(smol_tokenizer):
    enc = encode(smol_tokenizer, get_template("chatml"), parallel_conv())
    picked = [smol_tokenizer.decode([i]) for i, d in zip(enc.ids, enc.decisions) if d]
    # "Checking both." opens turn 1 (text before the calls), then "<" opens call 2, "<|im_end|>" ends
    # the turn after call 2; "Paris" and "You" open the text turns
    assert picked == ["Che", "<", "<|im_end|>", "Paris", "You"]


def test_chatml_trains_the_end_token_not_the_prompt(smol_tokenizer):
    enc = encode(smol_tokenizer, get_template("chatml"), parallel_conv())
    trained = [smol_tokenizer.convert_ids_to_tokens(i) for i, m in zip(enc.ids, enc.mask) if m]
    assert trained.count("<|im_end|>") == 3  # one per assistant turn
    assert "<|im_start|>" not in trained


def test_loss_on_options(smol_tokenizer):
    t, conv = get_template("chatml"), parallel_conv()
    _, spans_all = trained_char_spans(smol_tokenizer, t, conv, "all")
    text, spans_last = trained_char_spans(smol_tokenizer, t, conv, "last")
    _, spans_calls = trained_char_spans(smol_tokenizer, t, conv, "tool_calls")
    assert len(spans_all) == 3 and spans_last == spans_all[-1:]
    assert len(spans_calls) == 1 and "<tool_call>" in text[slice(*spans_calls[0])]


def test_same_tokens_as_the_models_own_template(smol_tokenizer, gemma_tokenizer):
    """Where a model's shipped template has no tools, ours renders plain chat identically."""
    conv = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}]
    for tok, name in ((smol_tokenizer, "chatml"), (gemma_tokenizer, "gemma")):
        if not tok.chat_template:
            continue
        own = tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=True, return_dict=False)
        ours = tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=True, return_dict=False,
                                       chat_template=get_template(name).chat_template)
        assert list(ours) == list(own), name


def test_truncation_keeps_the_mask_aligned(smol_tokenizer):
    enc = encode(smol_tokenizer, get_template("chatml"), parallel_conv(), cutoff_len=50)
    assert len(enc.ids) == len(enc.mask) == 50


names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
values = st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(min_size=0, max_size=10),
                   st.lists(st.integers(0, 9), max_size=3))
args = st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), values, max_size=3)
reply = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd", "Zs"), max_codepoint=0x9FFF),
                min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(TEMPLATES)), content=st.one_of(st.none(), reply),
       calls=st.lists(st.tuples(names, args), min_size=1, max_size=3))
def test_render_then_parse_returns_the_calls(smol_tokenizer, name, content, calls):
    t = get_template(name)
    msg = {"role": "assistant", "content": content,
           "tool_calls": [tool_call(n, a, f"c{i}") for i, (n, a) in enumerate(calls)]}
    conv = Conversation([{"role": "user", "content": "do it"}, msg], tools=[WEATHER])
    text, spans = trained_char_spans(smol_tokenizer, t, conv)
    generated = text[slice(*spans[-1])]
    for stop in (*t.stop_words, smol_tokenizer.eos_token):  # generation stops before these
        if stop and generated.endswith(stop):
            generated = generated[: -len(stop)]
    result = get_parser(t.parser).parse(generated)
    assert [(c.name, c.arguments) for c in result.calls] == calls
    assert (result.content or "").strip() == (content or "")


def test_arguments_given_as_json_strings_render_the_same(smol_tokenizer):
    t = get_template("chatml")
    a = Conversation([{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": json.dumps({"k": "v"})}}]}])
    b = Conversation([{"role": "user", "content": "x"}, {"role": "assistant", "content": None,
                                                         "tool_calls": [tool_call("f", {"k": "v"})]}])
    assert render(smol_tokenizer, t, a.messages) == render(smol_tokenizer, t, b.messages)
