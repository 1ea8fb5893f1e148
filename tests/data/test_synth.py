"""The synthetic demo data: determinism, validity, faithfulness to the tools, file formats."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltune.data.formats import from_openai
from tooltune.functions import call_tool, function_to_tool, load_tools
from tooltune.data.synth import (KINDS, TOOLS, example_tools, parse_mix, synthesize,
                                 synthesize_to_file, to_sharegpt)
from tooltune.data.synth.scenarios import BY_TOOL
from tooltune.conversation import Conversation, validate_conversation
from tooltune.errors import UserError

FUNCTIONS = example_tools()[1]


@pytest.fixture(scope="module")
def sample() -> list[Conversation]:
    return synthesize(n=200, seed=11)


def rows_json(convs):
    return [json.dumps({**c.to_json(), "meta": c.meta}, ensure_ascii=False, sort_keys=True)
            for c in convs]


def calls_of(conv):
    return [c for m in conv.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]


# --------------------------------------------------------------------------- the example tools


def test_example_tools_are_many_documented_and_varied():
    tools, functions = example_tools()
    assert len(tools) >= 12 and set(functions) == {f.__name__ for f in TOOLS}
    assert set(BY_TOOL) == set(functions)  # every example tool has phrasing
    for t in tools:
        fn = t["function"]
        assert fn["description"]
        assert all(p.get("description") for p in fn["parameters"]["properties"].values()), fn["name"]
    kinds = [p for t in tools for p in t["function"]["parameters"]["properties"].values()]
    assert any("enum" in p for p in kinds) and any(p.get("nullable") for p in kinds)
    assert any(not t["function"]["parameters"]["properties"] for t in tools)  # a no-parameter tool
    assert any(len(t["function"]["parameters"].get("required", []))
               < len(t["function"]["parameters"]["properties"]) for t in tools)  # optional params


def test_example_tools_compute():
    f = FUNCTIONS
    assert f["convert_units"](5, "kilometers", "meters")["result"] == 5000
    assert f["convert_units"](100, "celsius", "fahrenheit")["result"] == 212
    assert f["calculate"]("12 * (3 + 4)")["result"] == 84
    assert f["days_between"]("2024-01-01", "2024-03-01")["days"] == 60
    assert f["day_of_week"]("2024-06-01")["day_of_week"] == "Saturday"
    assert f["add_days"]("2024-02-28", 2)["result_date"] == "2024-03-01"
    assert f["convert_currency"](100, "USD", "CNY")["result"] == 720
    assert f["calculate_bmi"](70, 175) == {"bmi": 22.9, "category": "normal"}
    assert f["loan_payment"](120000, 0, 10)["monthly_payment"] == 1000
    assert f["word_count"]("Hello world. 你好！")["words"] == 4
    assert f["translate_word"]("苹果", "French")["translation"] == "pomme"
    assert f["get_weather"]("Paris") == f["get_weather"]("Paris")  # deterministic, offline
    assert f["search_flights"]("北京", "Tokyo", "2025-01-01")["origin"] == "Beijing"
    with pytest.raises(ValueError):
        f["convert_units"](1, "kilograms", "miles")
    with pytest.raises(ValueError):
        f["calculate"]("__import__('os')")


# --------------------------------------------------------------------------- generated rows


def test_deterministic_by_seed():
    a, b = synthesize(n=60, seed=3), synthesize(n=60, seed=3)
    assert rows_json(a) == rows_json(b)
    assert rows_json(a) != rows_json(synthesize(n=60, seed=4))


def test_every_row_is_valid(sample):
    assert len(sample) == 200
    for conv in sample:
        validate_conversation(conv)
        ids = [c["id"] for c in calls_of(conv)]
        assert all(i.startswith("call_") for i in ids) and len(set(ids)) == len(ids)
        for m in conv.messages:
            if m["role"] == "tool":
                assert m["tool_call_id"] in ids and m["name"] in FUNCTIONS
                json.loads(m["content"])


def test_all_kinds_in_both_languages(sample):
    seen = Counter((c.meta["kind"], c.meta["lang"]) for c in sample)
    assert {(k, lang) for k in KINDS for lang in ("en", "zh")} <= set(seen)
    kinds = Counter(c.meta["kind"] for c in sample)
    assert kinds == {"single": 90, "parallel": 30, "multi_turn": 20, "no_tool": 40, "missing_arg": 20}


def test_kind_shapes(sample):
    for conv in sample:
        roles = [m["role"] for m in conv.messages if m["role"] != "system"]
        per_turn = [len(m["tool_calls"]) for m in conv.messages if m.get("tool_calls")]
        kind = conv.meta["kind"]
        if kind == "single":
            assert roles == ["user", "assistant", "tool", "assistant"]
        elif kind == "parallel":
            assert roles == ["user", "assistant", "tool", "tool", "assistant"] and per_turn == [2]
        elif kind == "multi_turn":
            assert roles == ["user", "assistant", "tool", "assistant"] * 2
        elif kind == "no_tool":
            assert roles == ["user", "assistant"] and not per_turn
        else:
            assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant"]
            assert per_turn == [1]


def test_tool_results_match_rerunning_the_calls(sample):
    for conv in sample:
        calls = {c["id"]: c["function"] for c in calls_of(conv)}
        for m in conv.messages:
            if m["role"] == "tool":
                fn = calls[m["tool_call_id"]]
                assert fn["name"] == m["name"]
                assert call_tool(FUNCTIONS, fn["name"], fn["arguments"]) == m["content"]


def test_offered_tools_cover_calls_plus_distractors(sample):
    schemas = {t["function"]["name"]: t for t in example_tools()[0]}
    for conv in sample:
        offered = [t["function"]["name"] for t in conv.tools]
        called = {c["function"]["name"] for c in calls_of(conv)}
        assert len(set(offered)) == len(offered)
        assert called <= set(offered)
        assert 1 <= len(set(offered) - called) <= 3
        assert all(t == schemas[t["function"]["name"]] for t in conv.tools)


def _surfaces(name: str, key: str, value) -> set[str]:
    sc = BY_TOOL[name]
    return {sc.surface(key, value, "en"), sc.surface(key, value, "zh")}


def test_single_call_arguments_are_in_the_user_text(sample):
    checked = 0
    for conv in (c for c in sample if c.meta["kind"] == "single"):
        text = next(m["content"] for m in conv.messages if m["role"] == "user")
        (call,) = calls_of(conv)
        name = call["function"]["name"]
        for key, value in call["function"]["arguments"].items():
            if isinstance(value, bool):  # a flag is a word ("nonstop"), not a value
                assert BY_TOOL[name].surface(key, value, conv.meta["lang"]) in text
                continue
            if conv.meta["lang"] == "en":
                assert str(value) in text, (text, key, value)
            else:  # Chinese may name an English enum value in Chinese ("公里" for kilometers)
                assert any(s in text for s in _surfaces(name, key, value)), (text, key, value)
            checked += 1
    assert checked > 50


def test_chinese_rows_are_chinese(sample):
    for conv in (c for c in sample if c.meta["lang"] == "zh"):
        first = next(m for m in conv.messages if m["role"] == "user")  # later may be "2025-01-01。"
        for m in [first] + [m for m in conv.messages if m["role"] == "system"]:
            assert any("\u4e00" <= ch <= "\u9fff" for ch in m["content"]), m["content"]


def test_every_example_tool_gets_called():
    convs = synthesize(n=400, seed=5)
    called = {c["function"]["name"] for conv in convs for c in calls_of(conv)}
    assert called == set(FUNCTIONS)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 25),
       langs=st.sampled_from([("en",), ("zh",), ("en", "zh")]))
def test_any_seed_gives_valid_rows(seed, n, langs):
    convs = synthesize(n=n, seed=seed, langs=langs)
    assert len(convs) == n
    for conv in convs:
        validate_conversation(conv)
        assert conv.meta["lang"] in langs
        row = to_sharegpt(conv)  # and every row converts
        assert row["conversations"]
    assert rows_json(convs) == rows_json(synthesize(n=n, seed=seed, langs=langs))


# --------------------------------------------------------------------------- options


def test_mix_and_languages():
    assert {c.meta["kind"] for c in synthesize(n=20, seed=1, mix={"no_tool": 1})} == {"no_tool"}
    assert {c.meta["lang"] for c in synthesize(n=20, seed=1, langs=("zh",))} == {"zh"}
    assert parse_mix("single=3, multi-turn=1") == {"single": 0.75, "parallel": 0.0,
                                                  "multi_turn": 0.25, "no_tool": 0.0,
                                                  "missing_arg": 0.0}
    with pytest.raises(UserError, match="unknown conversation kind"):
        parse_mix({"chat": 1})
    with pytest.raises(UserError):
        parse_mix("single=x")
    with pytest.raises(UserError, match="language"):
        synthesize(n=2, langs=("fr",))
    assert all(c.messages[0]["role"] != "system" for c in synthesize(n=20, seed=2, system_rate=0))


def test_user_tools_from_a_file(tmp_path):
    path = tmp_path / "shop.py"
    path.write_text('''
from typing import Literal

def stock_level(sku: str, warehouse: Literal["north", "south"] = "north") -> dict:
    """Look up how many units of a product are in stock.

    Args:
        sku: The product code.
        warehouse: Which warehouse to check.
    """
    return {"sku": sku, "warehouse": warehouse, "units": len(sku) * 7}

def ping() -> str:
    """Check the service is up."""
    return "pong"
''')
    convs = synthesize(str(path), n=40, seed=2)
    out = synthesize_to_file(tmp_path / "shop.json", n=40, seed=2, tools=load_tools(path))
    assert [to_sharegpt(c) for c in convs] == json.loads(out.read_text(encoding="utf-8"))
    tools, functions = load_tools(path)
    called = set()
    for conv in convs:
        validate_conversation(conv)
        calls = {c["id"]: c["function"] for c in calls_of(conv)}
        called |= {f["name"] for f in calls.values()}
        for m in conv.messages:
            if m["role"] == "tool":
                fn = calls[m["tool_call_id"]]
                assert call_tool(functions, fn["name"], fn["arguments"]) == m["content"]
    assert called == {"stock_level", "ping"}
    only_schemas = ([function_to_tool(FUNCTIONS["get_weather"])], {})
    with pytest.raises(UserError, match="no tool has a Python function"):
        synthesize(only_schemas, n=3)


# --------------------------------------------------------------------------- files


def test_sharegpt_file_follows_llamafactory(tmp_path):
    path = tmp_path / "out" / "demo.json"
    assert synthesize_to_file(path, n=80, seed=9) == path
    convs = synthesize(n=80, seed=9)
    rows = json.loads(path.read_text(encoding="utf-8"))
    assert len(rows) == len(convs) == 80
    assert [p.name for p in path.parent.iterdir()] == ["demo.json"]  # no temp file left behind
    for row, conv in zip(rows, convs):
        assert set(row) == {"conversations", "tools", "system"}
        turns = row["conversations"]
        # LLaMA-Factory: human/observation on even positions, gpt/function_call on odd ones
        for i, t in enumerate(turns):
            assert t["from"] in (("human", "observation") if i % 2 == 0 else ("gpt", "function_call"))
            assert isinstance(t["value"], str) and t["value"]
        assert turns[-1]["from"] == "gpt"
        tools = json.loads(row["tools"])
        assert [t["name"] for t in tools] == [t["function"]["name"] for t in conv.tools]
        assert all("type" not in t or t["type"] != "function" for t in tools)  # bare schemas
        has_system = conv.messages[0]["role"] == "system"
        assert row["system"] == (conv.messages[0]["content"] if has_system else "")
        for i, t in enumerate(turns):
            if t["from"] != "function_call":
                continue
            value = json.loads(t["value"])
            obs = turns[i + 1]
            assert obs["from"] == "observation"
            if isinstance(value, list):  # parallel: one observation holding a list of results
                results = json.loads(obs["value"])
                assert len(value) == len(results) == 2 and all(isinstance(r, str) for r in results)
                for call, result in zip(value, results):
                    assert call_tool(FUNCTIONS, call["name"], call["arguments"]) == result
            else:
                assert set(value) == {"name", "arguments"} and isinstance(value["arguments"], dict)
                assert call_tool(FUNCTIONS, value["name"], value["arguments"]) == obs["value"]
    assert any(isinstance(json.loads(t["value"]), list) for r in rows for t in r["conversations"]
               if t["from"] == "function_call")


def test_openai_jsonl_file(tmp_path):
    path = tmp_path / "demo.jsonl"
    synthesize_to_file(path, n=30, seed=9, include_meta=True)
    convs = synthesize(n=30, seed=9)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30
    for line, conv in zip(lines, convs):
        row = json.loads(line)
        assert set(row) == {"messages", "tools", "meta"} and row["meta"] == conv.meta
        assert row["tools"] == conv.tools
        for m, orig in zip(row["messages"], conv.messages):
            for c, oc in zip(m.get("tool_calls") or [], orig.get("tool_calls") or []):
                assert isinstance(c["function"]["arguments"], str)  # OpenAI's wire format
                assert json.loads(c["function"]["arguments"]) == oc["function"]["arguments"]
        from_openai(row)  # the file loads back through the data path
    with pytest.raises(UserError, match=r"\.json"):
        synthesize_to_file(tmp_path / "demo.csv", n=1)
