"""The general corpus: breadth, every case kind, a split by tool, values copied faithfully from
the question into typed arguments, real results, and the user's own tools."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from tooltune.functions import load_tools
from tooltune.data.synth.catalog import FAMILIES
from tooltune.data.synth.general import GENERAL_KINDS, synthesize_general
from tooltune.data.synth.split import split_of
from tooltune.data.synth.harvest import families_from_tools, library_families
from tooltune.data.synth.values import EN_NUMBERS, KINDS, MONTHS, zh_number

ZH_TERMS = {v: t for k in KINDS.values() for v, t in k.terms.items()}  # enum value -> 中文
from tooltune.conversation import validate_conversation
from tooltune.errors import UserError


@pytest.fixture(scope="module")
def rows():
    return synthesize_general(1500, seed=3)


def _calls(conv):
    return [(c["function"]["name"], c["function"]["arguments"])
            for m in conv.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]


def test_same_seed_same_rows_and_every_kind(rows):
    again = synthesize_general(1500, seed=3)
    assert [json.dumps(r.to_json(), sort_keys=True) for r in rows] == \
        [json.dumps(r.to_json(), sort_keys=True) for r in again]
    assert json.dumps(synthesize_general(50, seed=4)[0].to_json()) != json.dumps(rows[0].to_json())
    kinds = Counter(r.meta["kind"] for r in rows)
    assert set(kinds) == set(GENERAL_KINDS)
    assert 0.2 <= kinds["irrelevance"] / len(rows) <= 0.3       # restraint: about a quarter
    assert Counter(r.meta["lang"] for r in rows) == {"en": 750, "zh": 750}


def test_breadth_many_tools_and_every_schema_shape(rows):
    names = {t["function"]["name"] for r in rows for t in r.tools}
    assert len(FAMILIES) + len(library_families()) >= 250
    assert len(names) >= 700, len(names)
    shapes = Counter()
    for r in rows:
        for t in r.tools:
            for p in t["function"]["parameters"]["properties"].values():
                shapes[p["type"] if p["type"] != "array" else "array of " + p["items"]["type"]] += 1
                shapes["enum"] += "enum" in p
                shapes["default"] += "default" in p
                shapes["date"] += p.get("format") == "date"
            params = t["function"]["parameters"]
            shapes["optional"] += len(params["required"]) < len(params["properties"])
    for shape in ("string", "integer", "number", "boolean", "enum", "array of string", "array of integer",
                  "array of number", "default", "date", "optional"):
        assert shapes[shape] > 0, shape


def test_rows_are_valid_and_calls_fit_their_schemas(rows):
    for r in rows:
        validate_conversation(r)
        offered = {t["function"]["name"]: t["function"]["parameters"] for t in r.tools}
        assert len(offered) == len(r.tools)                      # no tool offered twice
        for name, args in _calls(r):
            jsonschema.validate(args, offered[name])              # types, enums, required
            assert set(args) <= set(offered[name]["properties"])  # no invented parameter
        kind = r.meta["kind"]
        calls = _calls(r)
        if kind == "irrelevance":
            assert not calls and r.messages[-1]["role"] == "assistant"
        elif kind == "simple":
            assert len(r.tools) == 1 and len(calls) == 1
        elif kind == "multiple":
            assert 2 <= len(r.tools) <= 4 and len(calls) == 1
        elif kind == "parallel":
            assert len(calls) >= 2 and len({n for n, _ in calls}) == 1
        elif kind == "parallel_multiple":
            assert len({n for n, _ in calls}) >= 2
        elif kind == "missing":
            first = next(m for m in r.messages if m["role"] == "assistant")
            assert not first.get("tool_calls") and first["content"].strip()


def _said(value, text: str) -> bool:
    """Whether the question states `value` in some way a person writes it."""
    if isinstance(value, bool):
        return True                                              # yes/no wording varies
    if isinstance(value, list):
        return all(_said(v, text) for v in value)
    if isinstance(value, (int, float)):
        forms = {str(value), f"{value:,}"}
        if isinstance(value, int) and 0 <= value <= 20:
            forms.add(EN_NUMBERS[value])
        if isinstance(value, int) and 0 <= value < 100:
            forms.add(zh_number(value))
        return any(f in text for f in forms)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        y, m, d = value.split("-")
        return value in text or (y in text and (MONTHS[int(m) - 1][:3] in text or f"{int(m)}月" in text))
    if re.fullmatch(r"\d{2}:\d{2}", value):
        h = int(value[:2])
        return value in text or str(h % 12 or 12) in text
    if value in ZH_TERMS and ZH_TERMS[value] in text:              # an enum said in Chinese
        return True
    return value.lower() in text.lower() or len(value) <= 12       # enums are said in the user's words


def test_lists_given_together_are_one_length_and_short_token_lists_are_taught(rows):
    """Grades and their hours, prices and their quantities: a call's lists share a length, so a
    model learns a list ends where the user's does (the GPA tool's grades used to run on)."""
    paired = short = 0
    for r in rows:
        for name, args in _calls(r):
            lists = [v for v in args.values() if isinstance(v, list)]
            if len(lists) > 1:
                paired += 1
                assert len({len(v) for v in lists}) == 1, (name, args)
            short += any(all(isinstance(x, str) and len(x) <= 3 for x in v) for v in lists)
    assert paired >= 10 and short >= 20, (paired, short)


def test_every_argument_is_in_the_users_words(rows):
    """The model is taught to copy values, never to invent them: each argument of each call is
    stated by the user (in digits or words, as a date or time people write)."""
    for r in rows:
        users = " ".join(m["content"] for m in r.messages if m["role"] == "user")
        for name, args in _calls(r):
            for key, value in args.items():
                assert _said(value, users), (r.meta["kind"], name, key, value, users)


def test_requests_are_asked_in_peoples_words_not_the_tools(rows):
    """A request that echoes its tool's description teaches matching words, not meanings (the
    agent then refused plain requests, run H): most of the corpus's requests name no family's
    own verb phrase, and tool descriptions reword it too."""
    echo = Counter()
    for r in rows:
        if r.meta["kind"] in ("simple", "multiple", "multi_turn"):
            first = next(m["content"] for m in r.messages if m["role"] == "user")
            echo[any(f.does["en"] in first or f.does["zh"] in first for f in FAMILIES)] += 1
    assert echo[True] / sum(echo.values()) < 0.5, echo
    openings = {form.split("{")[0] for f in FAMILIES for form in f.asks.get("en", ()) if len(form.split("{")[0]) > 12}
    firsts = [next(m["content"] for m in r.messages if m["role"] == "user") for r in rows]
    assert sum(t.startswith(tuple(openings)) for t in firsts) > 0.1 * len(rows)   # "What's the area of a triangle with"
    described = [t["function"]["description"] for r in rows for t in r.tools]
    reworded = sum(not any(f.does["en"].lower() in d.lower() for f in FAMILIES) for d in described)
    # harvested and user tools' docstrings never hold a catalog phrase: 30% before any rewording
    assert reworded / len(described) > 0.4, reworded / len(described)


def test_parallel_calls_differ_in_one_value_or_in_all(rows):
    """Benchmarks ask for several calls both ways: "Paris, Rome and Oslo", and "one weighs 70 kg
    and is 175 cm, the other ..."."""
    differ = Counter()
    for r in rows:
        if r.meta["kind"] == "parallel":
            calls = [args for _, args in _calls(r)]
            differ[max(sum(a.get(k) != calls[0].get(k) for k in calls[0]) for a in calls[1:])] += 1
    several = sum(n for k, n in differ.items() if k >= 2)
    assert differ[1] > several > 0.1 * sum(differ.values()), differ


def test_a_question_naming_no_parameter_of_its_family_is_refused():
    from tooltune.data.synth.catalog import Family, ParamSpec
    spec = ParamSpec("city", "city", {"en": "city", "zh": "城市"}, None, True)
    with pytest.raises(ValueError, match=r"weather.x: the question .*\['town'\]"):
        Family("weather.x", "weather", "x", {"en": "get it", "zh": "查"}, (spec,),
               asks={"en": ("Is it raining in {town}?",)})


def test_split_is_by_tool_family():
    train = synthesize_general(600, seed=5, split="train")
    test = synthesize_general(300, seed=5, split="test")
    fam_train = {f for r in train for f in r.meta["families"]}
    fam_test = {f for r in test for f in r.meta["families"]}
    assert fam_test and not fam_train & fam_test
    assert all(split_of(f) == "test" for f in fam_test)
    names_train = {t["function"]["name"] for r in train for t in r.tools}
    called_test = {n for r in test for n, _ in _calls(r)}
    assert len(called_test - names_train) / len(called_test) > 0.9   # a test call names a tool unseen in training


def test_real_tools_give_real_results_and_answers(rows):
    from tooltune.data.synth.implementations import gpa
    runnable = [r for r in rows if r.meta["kind"] == "multi_turn"]
    assert runnable
    for r in runnable:
        tools = [m for m in r.messages if m["role"] == "tool"]
        assert len(tools) >= 2 and r.messages[-1]["role"] == "assistant" and r.messages[-1]["content"]
    assert gpa(["A", "A", "B", "C"], [3, 4, 3, 2]) == {"gpa": 3.42}


USER_TOOLS = '''
from typing import Literal

RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.2, "CNY": 7.24}


def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict:
    """Convert money from one currency to another.

    Args:
        amount: How much money to convert.
        from_currency: ISO code of the currency to convert from, e.g. USD.
        to_currency: ISO code of the currency to convert to, e.g. EUR.
    """
    if from_currency not in RATES or to_currency not in RATES:
        raise ValueError(f"unknown currency {from_currency}/{to_currency}")
    return {"amount": round(amount / RATES[from_currency] * RATES[to_currency], 2)}


def book_table(restaurant: str, people: int, time: str,
               seating: Literal["indoor", "outdoor", "bar"] = "indoor") -> dict:
    """Book a table at a restaurant.

    Args:
        restaurant: Name of the restaurant.
        people: Number of guests.
        time: Time of the booking, HH:MM.
        seating: Where to sit.
    """
    return {"confirmed": True, "people": people, "time": time, "seating": seating}
'''


def test_the_users_own_tools(tmp_path):
    """Two ordinary typed, documented functions: every kind is built, values fit their parameters
    (ISO codes, a real restaurant name, HH:MM times, the enum), the run never fails on a value the
    tool rejects, and no Chinese word lands in an English row."""
    path = tmp_path / "my_tools.py"
    path.write_text(USER_TOOLS)
    tools, functions = load_tools(path)
    rows = synthesize_general(120, seed=1, langs=("en",), families=families_from_tools(tools, functions))
    called = Counter()
    for r in rows:
        validate_conversation(r)
        assert {t["function"]["name"] for t in r.tools} <= {"convert_currency", "book_table"}
        for name, args in _calls(r):
            called[name] += 1
            if name == "convert_currency":
                assert re.fullmatch(r"[A-Z]{3}", args["from_currency"]) and args["from_currency"] != args["to_currency"]
            else:
                assert re.fullmatch(r"\d{2}:\d{2}", args["time"]) and 1 <= args["people"] <= 10
                assert args.get("seating", "indoor") in ("indoor", "outdoor", "bar")
                assert not re.search(r"[\u4e00-\u9fff]", args["restaurant"])
        text = " ".join(m["content"] or "" for m in r.messages if m["role"] in ("user", "assistant"))
        assert not re.search(r"[\u4e00-\u9fff]", text)
    assert called["convert_currency"] >= 20 and called["book_table"] >= 20
    assert {r.meta["kind"] for r in rows} == set(GENERAL_KINDS)
    errors = sum('"error"' in (m["content"] or "") for r in rows for m in r.messages if m["role"] == "tool")
    results = sum(m["role"] == "tool" for r in rows for m in r.messages)
    assert errors / results < 0.05                     # rejected values are drawn again, not kept


def test_bad_arguments_are_named():
    with pytest.raises(UserError, match="split"):
        synthesize_general(3, split="dev")
    with pytest.raises(UserError, match="unknown kind"):
        synthesize_general(3, mix="simple=1,chat=2")


def test_cli_writes_a_file_llamafactory_reads(tmp_path, capsys):
    from tooltune.cli import main
    from tooltune.data.loader import load_conversations
    out = tmp_path / "general.json"
    assert main(["data", "synth", "-o", str(out), "-n", "60", "--langs", "en"]) == 0
    assert "distinct tools" in capsys.readouterr().out
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert len(rows) == 60 and all(set(r) == {"conversations", "tools", "system"} for r in rows)
    loaded = load_conversations(str(out), strict=True).train
    assert len(loaded) == 60 and sum(bool(_calls(c)) for c in loaded) > 30


GPA_TOOL = Path(__file__).resolve().parents[2] / "examples" / "gpa_tools.py"  # the article's tool


def test_a_chinese_docstring_gives_each_language_its_words():
    """The reference article's tool: zh requests take the docstring's verb and labels (and say
    them short, 成绩 for 课程成绩, or only state the values, as the article's question does), en
    requests keep Chinese out, and results come back both plain and as {"gpa": ...}."""
    tools, functions = load_tools(GPA_TOOL)
    rows = synthesize_general(200, seed=0, langs=("zh", "zh", "zh", "en"), families=families_from_tools(tools, functions))
    asks = {"zh": [], "en": []}
    for r in rows:
        if _calls(r):
            asks[r.meta["lang"]].append(next(m["content"] for m in r.messages if m["role"] == "user"))
    assert any("根据课程成绩和学时计算 GPA" in a for a in asks["zh"])
    assert not any("调用calculate_gpa" in a for a in asks["zh"])
    assert any(a.startswith("我的") and "计算" not in a for a in asks["zh"])        # values stated, the job unsaid
    assert any(re.search(r"(?<!课程)成绩", a) for a in asks["zh"])                   # 课程成绩 said short
    assert asks["en"] and not any(re.search(r"[\u4e00-\u9fff]", a) for a in asks["en"])
    results = [m["content"] for r in rows for m in r.messages if m["role"] == "tool"]
    shaped = [json.loads(x) for x in results]
    assert any(isinstance(x, dict) and set(x) == {"gpa"} for x in shaped) and any(isinstance(x, float) for x in shaped)
