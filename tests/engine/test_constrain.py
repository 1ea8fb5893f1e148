"""Constrained tool calls and JSON replies: whatever the logits, the text parses back.

Random logits (argmax after masking) stand in for a model: the grammar alone must make the
reply a valid call in the template's own layout. llama3/mistral/glm4 use the SmolLM2 tokenizer
(their own are not available offline); the grammar is text-level, so that is enough here.
"""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tooltune.errors import UserError
from tooltune.engine.constrain import (grammar_compiler, json_constraint, loops, strict_tool_call_constraint,
                                       tool_call_constraint)
from tooltune.templates.parsers import get_parser
from tooltune.templates.registry import get_template
from tooltune.templates.render import render, render_prompt

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 12},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "details": {"type": "boolean"}},
        "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search_docs", "description": "Search the docs",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "maxLength": 10},
        "filters": {"type": "object", "properties": {
            "lang": {"type": "string", "enum": ["en", "fr"]},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 5}}, "required": ["lang"]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 3}},
        "required": ["query", "filters"]}}}
NOW = {"type": "function", "function": {"name": "get_time", "description": "The time",
                                        "parameters": {"type": "object", "properties": {}}}}
PING = {"name": "ping", "description": "no parameters at all, bare (non-OpenAI) tool shape"}
TOOLS = [WEATHER, SEARCH, NOW]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
SMOL_FAMILIES = ["chatml", "llama3", "mistral", "glm4", "default"]


def check(value, schema: dict) -> None:
    """The subset of JSON-schema validation these tests' schemas use (jsonschema isn't installed)."""
    if "enum" in schema:
        assert value in schema["enum"]
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        props = schema.get("properties", {})
        assert set(schema.get("required", [])) <= set(value)
        for k, v in value.items():
            assert k in props, f"unexpected key {k!r}"
            check(v, props[k])
    elif kind == "string":
        assert isinstance(value, str) and len(value) <= schema.get("maxLength", 10**9)
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool)
        assert schema.get("minimum", -10**18) <= value <= schema.get("maximum", 10**18)
    elif kind == "boolean":
        assert isinstance(value, bool)
    elif kind == "array":
        assert isinstance(value, list) and len(value) <= schema.get("maxItems", 10**9)
        for v in value:
            check(v, schema["items"])


def stop_ids(tokenizer, template) -> list[int]:
    ids = {tokenizer.eos_token_id}
    for word in template.stop_words:
        tid = tokenizer.convert_tokens_to_ids(word)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return sorted(i for i in ids if i is not None)


def compiler_for(tokenizer, template):
    return grammar_compiler(tokenizer, len(tokenizer), stop_ids(tokenizer, template))


def drive(factory, tokenizer, seed: int, steps: int = 300, stop_bias: float = 0.0,
          stops: list[int] = ()) -> str:
    """Random logits, argmax after masking, until a stop token is chosen. `stop_bias` favours the
    `stops` (as a model that tends to end would), so open-ended repetition ends in time."""
    con, gen, ids = factory.make(), torch.Generator().manual_seed(seed), []
    for _ in range(steps):
        logits = torch.randn(len(tokenizer), generator=gen)
        con.apply(logits)
        logits[list(stops)] += stop_bias
        tok = int(logits.argmax())
        assert logits[tok] > float("-inf")
        con.accept(tok)
        if con.is_done():
            return tokenizer.decode(ids)
        ids.append(tok)
    pytest.fail(f"no stop token within {steps} steps: {tokenizer.decode(ids)!r}")


def rendered_reply(tokenizer, template, calls) -> str:
    """What the template renders for an assistant turn making `calls` (end tag stripped)."""
    user = [{"role": "user", "content": "hi"}]
    msg = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
    before = render(tokenizer, template, user, TOOLS, add_generation_prompt=True)
    body = render(tokenizer, template, user + [msg], TOOLS)[len(before):].rstrip()
    for end in (*template.stop_words, tokenizer.eos_token):
        if end and body.endswith(end):
            return body[: -len(end)]
    return body


def assert_valid_calls(text, tokenizer, template, schemas) -> list:
    result = get_parser(template.parser).parse(text)
    assert result.calls, f"no call parsed from {text!r}"
    assert result.content is None, f"stray content {result.content!r} in {text!r}"
    for call in result.calls:
        assert call.name in schemas
        check(call.arguments, schemas[call.name])
    # Exactly the template's own layout: re-rendering the parsed calls gives the same text.
    assert rendered_reply(tokenizer, template, result.calls) == text
    return result.calls


@pytest.fixture(params=SMOL_FAMILIES + ["gemma"])
def family(request, smol_tokenizer, gemma_tokenizer):
    template = get_template(request.param)
    tokenizer = gemma_tokenizer if request.param == "gemma" else smol_tokenizer
    return template, tokenizer, compiler_for(tokenizer, template)


def test_required_gives_valid_calls_in_every_family(family):
    template, tokenizer, compiler = family
    factory = tool_call_constraint(compiler, template, TOOLS, "required")
    counts, stops = [], stop_ids(tokenizer, template)
    for seed in range(6):  # one factory, a fresh constraint per sequence (n > 1)
        text = drive(factory, tokenizer, seed, steps=800, stop_bias=0.5, stops=stops)
        calls = assert_valid_calls(text, tokenizer, template, SCHEMAS)
        counts.append(len(calls))
    assert max(counts) >= 2, "parallel calls never repeated"


@pytest.mark.parametrize("name", ["chatml", "mistral", "glm4", "llama3"])
def test_no_parallel_gives_one_call(name, smol_tokenizer):
    template = get_template(name)
    factory = tool_call_constraint(compiler_for(smol_tokenizer, template), template, TOOLS,
                                   "required", parallel_tool_calls=False)
    for seed in range(4):
        text = drive(factory, smol_tokenizer, seed)
        assert len(assert_valid_calls(text, smol_tokenizer, template, SCHEMAS)) == 1


@pytest.mark.parametrize("name", ["chatml", "mistral", "glm4", "llama3", "default"])
def test_named_function(name, smol_tokenizer):
    template = get_template(name)
    choice = {"type": "function", "function": {"name": "search_docs"}}
    factory = tool_call_constraint(compiler_for(smol_tokenizer, template), template, TOOLS, choice)
    for seed in range(3):
        calls = assert_valid_calls(drive(factory, smol_tokenizer, seed), smol_tokenizer, template,
                                   SCHEMAS)
        assert [c.name for c in calls] == ["search_docs"]


@pytest.mark.parametrize("tool", [NOW, PING], ids=["empty-properties", "no-parameters"])
def test_tool_without_parameters_gives_empty_arguments(tool, smol_tokenizer):
    template = get_template("chatml")
    name = tool.get("function", tool)["name"]
    factory = tool_call_constraint(compiler_for(smol_tokenizer, template), template,
                                   [WEATHER, tool], {"type": "function", "function": {"name": name}})
    text = drive(factory, smol_tokenizer, 0)
    assert text == f'<tool_call>\n{{"name": "{name}", "arguments": {{}}}}\n</tool_call>'
    calls = get_parser("hermes").parse(text).calls
    assert [(c.name, c.arguments) for c in calls] == [(name, {})]


def test_json_schema_response_format(smol_tokenizer):
    compiler = compiler_for(smol_tokenizer, get_template("chatml"))
    schema = SEARCH["function"]["parameters"]
    factory = json_constraint(compiler, schema)
    for seed in range(3):
        text = drive(factory, smol_tokenizer, seed)
        check(json.loads(text), schema)
        assert text == json.dumps(json.loads(text), ensure_ascii=False)  # json.dumps layout


def test_json_object_response_format(smol_tokenizer):
    factory = json_constraint(compiler_for(smol_tokenizer, get_template("chatml")), None)
    objs = [json.loads(drive(factory, smol_tokenizer, seed, steps=600)) for seed in range(2)]
    assert all(isinstance(o, dict) for o in objs)


def test_bounded_strings_reject_control_characters(smol_tokenizer):
    # xgrammar lets maxLength strings hold a raw tab, which json.loads rejects: we close that.
    compiler = compiler_for(smol_tokenizer, get_template("chatml"))
    con = json_constraint(compiler, {"type": "object", "properties": {
        "c": {"type": "string", "maxLength": 8}}}).make()
    ids = smol_tokenizer.encode('{"c": "a\tb"}', add_special_tokens=False)
    with pytest.raises(ValueError, match="not allowed"):
        for tid in ids:
            con.accept(tid)


def test_logits_beyond_the_vocab_are_masked(smol_tokenizer):
    factory = json_constraint(compiler_for(smol_tokenizer, get_template("chatml")), None)
    logits = torch.zeros(len(smol_tokenizer) + 64)
    factory.make().apply(logits)
    assert torch.isinf(logits[len(smol_tokenizer):]).all()
    assert logits[smol_tokenizer.convert_tokens_to_ids("{")] == 0


def test_bad_schemas_and_choices_raise_user_error(smol_tokenizer):
    template = get_template("chatml")
    compiler = compiler_for(smol_tokenizer, template)
    bad = {"type": "function", "function": {"name": "broken", "parameters": {
        "type": "object", "properties": {"x": {"type": "integer", "minimum": 5, "maximum": 2}}}}}
    with pytest.raises(UserError, match="broken"):
        tool_call_constraint(compiler, template, [WEATHER, bad], "required")
    not_object = {"name": "scalar", "parameters": {"type": "string"}}
    with pytest.raises(UserError, match="scalar"):
        tool_call_constraint(compiler, template, [not_object], "required")
    with pytest.raises(UserError, match="nope"):
        tool_call_constraint(compiler, template, TOOLS, {"type": "function",
                                                         "function": {"name": "nope"}})
    with pytest.raises(UserError):
        tool_call_constraint(compiler, template, [], "required")
    with pytest.raises(UserError, match="response_format"):
        json_constraint(compiler, {"type": "object", "properties": {"x": {"type": "wat"}}})


def greedy(model, tok, prompt: str, con, steps: int) -> list[int]:
    """Greedy tokens under `con` until the grammar ends (or `steps` run out)."""
    ids = torch.tensor([tok.encode(prompt, add_special_tokens=False)])
    out, past = [], None
    with torch.no_grad():
        for _ in range(steps):
            res = model(input_ids=ids, past_key_values=past, use_cache=True)
            past, logits = res.past_key_values, res.logits[0, -1].clone()
            con.apply(logits)
            nxt = int(logits.argmax())
            con.accept(nxt)
            if con.is_done():
                break
            out.append(nxt)
            ids = torch.tensor([[nxt]])
    return out


@pytest.fixture(scope="module")
def smol_model(smollm2_path):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32).eval()


@pytest.mark.slow
def test_real_model_calls_a_tool_when_required(smol_model, smol_tokenizer):
    template, tok = get_template("chatml"), smol_tokenizer
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}}]
    prompt = render_prompt(tok, template, [{"role": "user", "content": "Tell me a joke about cats."}],
                           tools)
    compiler = grammar_compiler(tok, smol_model.config.vocab_size, stop_ids(tok, template))
    con = tool_call_constraint(compiler, template, tools, "required").make()
    out = greedy(smol_model, tok, prompt, con, 120)
    assert con.is_done(), tok.decode(out)
    schemas = {"get_weather": tools[0]["function"]["parameters"]}
    # Greedy SmolLM2 repeats the call when parallel calls are allowed; the repeat is cut short.
    calls = assert_valid_calls(tok.decode(out), tok, template, schemas)
    assert {c.name for c in calls} == {"get_weather"} and len(calls) <= 3


GPA = [{"type": "function", "function": {
    "name": "calculate_gpa", "description": "Calculate the Grade Point Average (GPA) based on grades and credit hours",
    "parameters": {"type": "object", "properties": {
        "grades": {"type": "array", "items": {"type": "string"}, "description": "The grades"},
        "hours": {"type": "array", "items": {"type": "integer"}, "description": "The credit hours"}},
        "required": ["grades", "hours"]}}}]


@pytest.mark.slow
def test_a_looping_forced_call_is_steered_to_its_end(smol_model, smol_tokenizer):
    """The reference article's GPA question to the untuned model under tool_choice required:
    without the loop check it fills `grades` past 300 tokens; with it the call ends soon after
    the loop shows, as a valid call."""
    template, tok = get_template("chatml"), smol_tokenizer
    prompt = render_prompt(tok, template, [{"role": "user", "content": "我的成绩是 A, A, B, C,学时是 3, 4, 3, 2"}], GPA)
    compiler = grammar_compiler(tok, smol_model.config.vocab_size, stop_ids(tok, template))
    factory = tool_call_constraint(compiler, template, GPA, "required")
    unchecked = dataclasses.replace(factory, closing=None).make()
    rambling = greedy(smol_model, tok, prompt, unchecked, 300)
    assert not unchecked.is_done(), tok.decode(rambling)   # the failure the check exists for
    con = factory.make()
    out = greedy(smol_model, tok, prompt, con, 300)
    assert con.is_done() and con.finishing and len(out) < 200, tok.decode(out)
    calls = assert_valid_calls(tok.decode(out), tok, template, {"calculate_gpa": GPA[0]["function"]["parameters"]})
    assert calls[0].name == "calculate_gpa"


def test_loops_tell_a_repeated_block_from_legitimate_repeats():
    assert not loops([5, 6, 5, 6, 7])                     # "A", "A", "B": a short repeat
    assert loops([1, 2, 3] * 9)                           # 27 tokens of one 3-token block
    assert not loops(list(range(40)))                     # counting: no block repeats
    cycle = list(range(30))                               # a 30-token cycle, twice
    assert loops(cycle * 2) and not loops(cycle + cycle[:29])


def feed(factory, tokenizer, text: str, stop: int) -> int | None:
    """Feed `text`'s tokens then `stop`; the index of the first token refused, None if all pass."""
    con = factory.make()
    for i, tok in enumerate([*tokenizer.encode(text, add_special_tokens=False), stop]):
        try:
            con.accept(tok)
        except ValueError:
            return i
    assert con.is_done()
    return None


def test_strict_auto_leaves_text_free_and_holds_calls_to_the_tools(family):
    """tool_choice auto with strict tools: plain text, and one or two calls of offered tools with
    fitting arguments, pass; a tool that was not offered, an argument the
    schema lacks or a missing required one are refused."""
    template, tokenizer, compiler = family
    if template.name == "glm4":  # its calls end with the turn: no closing text to hand back to free text
        with pytest.raises(UserError, match="glm4"):
            strict_tool_call_constraint(compiler, template, TOOLS)
        return
    factory = strict_tool_call_constraint(compiler, template, TOOLS)
    stop = stop_ids(tokenizer, template)[0]
    call = lambda name, args: type("Call", (), {"name": name, "arguments": args})  # noqa: E731
    assert feed(factory, tokenizer, "It is sunny in Paris, 21 degrees: a < b > c.", stop) is None
    good = rendered_reply(tokenizer, template, [call("get_weather", {"city": "Paris"})])
    assert feed(factory, tokenizer, good, stop) is None
    two = rendered_reply(tokenizer, template, [call("get_weather", {"city": "Paris"}), call("get_time", {})])
    assert feed(factory, tokenizer, two, stop) is None
    for bad in ([call("delete_files", {"path": "/"})], [call("get_weather", {"city": "Paris", "x": 1})],
                [call("get_weather", {"unit": "celsius"})]):
        assert feed(factory, tokenizer, rendered_reply(tokenizer, template, bad), stop) is not None, bad
    one = strict_tool_call_constraint(compiler, template, TOOLS, parallel_tool_calls=False)
    assert feed(one, tokenizer, good, stop) is None
    assert feed(one, tokenizer, two, stop) is not None
