"""Synthetic tool-calling conversations, deterministic by seed, in English and Chinese.

Five kinds of row (``Conversation.meta["kind"]``):

* ``single``: request -> one call -> result -> answer built from the result.
* ``parallel``: two requests in one message -> one turn with two calls -> two results -> answer.
* ``multi_turn``: a single exchange, then a follow-up needing another call.
* ``no_tool``: chit-chat or general knowledge answered directly, tools offered but not needed.
* ``missing_arg``: a request lacking a required argument -> the assistant asks -> the user
  answers -> call -> result -> answer.

Every result comes from really running the tool, so rows can be checked by re-running the call.
Each row offers the tools it uses plus 1 to `distractors` (default 3) others, shuffled.

Files: ``.json`` is LLaMA-Factory's sharegpt format (``conversations``/``tools``/``system``).
A turn with several calls is a ``function_call`` whose value is a JSON list of
``{"name", "arguments"}``; LLaMA-Factory has no standard for several results, so they become one
``observation`` whose value is a JSON list of the result strings, in call order (an importer
splits it only when the preceding ``function_call`` held a list of that many calls).
``.jsonl`` is OpenAI's ``{"messages", "tools"}`` with arguments as JSON strings.
LLaMA-Factory's ``dataset_info.json`` entry for a ``.json`` file::

    {"file_name": "demo.json", "formatting": "sharegpt",
     "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
"""
from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any, Callable, Mapping, Sequence

from tooltune.functions import ToolError, call_tool, load_tools
from tooltune.data.synth import phrases as P
from tooltune.data.synth import tools as T
from tooltune.data.synth.scenarios import BY_TOOL, Missing, Scenario, slots
from tooltune.conversation import (Conversation, DataError, Message, Tool, parse_arguments, seeded_call_id,
                                 tool_call)
from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text

KINDS = ("single", "parallel", "multi_turn", "no_tool", "missing_arg")
DEFAULT_MIX = {"single": 0.45, "parallel": 0.15, "multi_turn": 0.10, "no_tool": 0.20,
               "missing_arg": 0.10}
LANGS = ("en", "zh")
ToolsAndFunctions = tuple[Sequence[Tool], Mapping[str, Callable]]


class _Retry(Exception):
    """A sampled call was rejected by a user-supplied tool: sample the row again."""


# --------------------------------------------------------------------------- tools in use


@dataclass
class _Toolbox:
    tools: dict[str, Tool]  # every offered tool by name, callable or not
    functions: Mapping[str, Callable]
    scenarios: list[Scenario]  # tools the generator can call


def _generic_value(name: str, schema: dict, rng: Random, lang: str) -> Any:
    """A plausible value for a parameter known only by its schema (and name)."""
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    lname = name.lower()
    if kind == "integer":
        return rng.randint(1, 20)
    if kind == "number":
        return rng.choice((1, 2.5, 10, 12.5, 42, 99.9))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_generic_value(name, schema.get("items") or {"type": "string"}, rng, lang)]
    if kind == "object":
        return {}
    if "city" in lname or "location" in lname:
        return rng.choice(P.WEATHER_CITIES[lang])
    if "date" in lname:
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if "time" in lname:
        return rng.choice(P.EVENT_TIMES)
    if "email" in lname:
        return rng.choice(("alex@example.com", "li.wei@example.cn"))
    return rng.choice({"en": ("hello", "report", "apple", "blue", "Alice", "weekly summary"),
                       "zh": ("你好", "报告", "苹果", "蓝色", "小明", "周报")}[lang])


def generic_scenario(tool: Tool) -> Scenario | None:
    """A plain scenario for a user-supplied tool ("use X with a 1 and b 2"); None if impossible."""
    fn = tool["function"]
    name, desc = fn["name"], (fn.get("description") or "").strip().rstrip(".")
    props: dict[str, dict] = (fn.get("parameters") or {}).get("properties") or {}
    required = [k for k in (fn.get("parameters") or {}).get("required") or [] if k in props]
    if not all(k.isidentifier() for k in props):
        return None  # str.format slots must be identifiers
    optional = [k for k in props if k not in required]

    def pairs(keys: Sequence[str], lang: str) -> str:
        sep, fmt_ = ("，", "{k}为{{{k}}}") if lang == "zh" else (", ", "{k} {{{k}}}")
        return sep.join(fmt_.format(k=k) for k in keys)

    def ask(keys: Sequence[str], lang: str) -> tuple[str, ...]:
        if not keys:
            return ((f"请调用{name}。",) if lang == "zh"
                    else (f"Please run {name}.", f"{desc}, please." if desc else f"Use {name}."))
        if lang == "zh":
            return (f"请调用{name}，{pairs(keys, lang)}。", f"用{name}查一下：{pairs(keys, lang)}。")
        out = (f"Please use {name} with {pairs(keys, lang)}.", f"Run {name}: {pairs(keys, lang)}.")
        return out + ((f"{desc} ({pairs(keys, lang)}).",) if desc else ())

    asks = {lang: ask(required, lang) + (ask(required + optional, lang) if optional else ())
            for lang in LANGS}
    missing = {}
    for k in required:
        rest = [r for r in required if r != k]
        missing[k] = Missing(
            ask={lang: ask(rest, lang) for lang in LANGS},
            clarify={"en": (f"What {k} should I use?", f"Sure. Which {k}?"),
                     "zh": (f"请问{k}是什么？", f"好的，{k}填什么？")},
            supply={"en": ("{%s}." % k, "%s {%s}." % (k, k)), "zh": ("{%s}。" % k, "%s是{%s}。" % (k, k))})
    return Scenario(
        name, lambda rng, lang: {k: _generic_value(k, s, rng, lang) for k, s in props.items()},
        ask=asks,
        answer={"en": (f"Here is the result from {name}: {{_raw}}", f"{name} returned: {{_raw}}"),
                "zh": (f"{name}的结果：{{_raw}}", f"调用{name}得到：{{_raw}}")},
        missing=missing, generic=True)


def _toolbox(source: ToolsAndFunctions | str | os.PathLike | None) -> _Toolbox:
    if source is None:
        tools, functions = T.example_tools()
    elif isinstance(source, (str, os.PathLike)):
        tools, functions = load_tools(source)
    else:
        tools, functions = source
    by_name = {t["function"]["name"]: t for t in tools}
    scenarios = []
    for name, tool in by_name.items():
        if name not in functions:
            continue  # schema only: it can still be offered as a distractor
        if name in BY_TOOL and functions[name] is getattr(T, name, None):
            scenarios.append(BY_TOOL[name])
        elif (sc := generic_scenario(tool)) is not None:
            scenarios.append(sc)
    if not scenarios:
        raise UserError("no tool has a Python function to call, so no tool calls can be made; "
                        "pass tools from a .py file")
    return _Toolbox(by_name, functions, scenarios)


# --------------------------------------------------------------------------- one row


class _Row:
    """Builds one conversation; every random choice goes through self.rng."""

    def __init__(self, box: _Toolbox, rng: Random, lang: str):
        self.box, self.rng, self.lang = box, rng, lang
        self.messages: list[Message] = []
        self.called: list[str] = []

    def say(self, role: str, text: str) -> None:
        self.messages.append({"role": role, "content": text})

    def pick(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(list(options))

    def render(self, sc: Scenario, template: str, values: dict) -> tuple[str, dict]:
        """The user's words and the call's arguments: exactly the slots the template uses."""
        args = {k: values[k] for k in slots(template)}
        return template.format(**{k: sc.surface(k, v, self.lang) for k, v in args.items()}), args

    def request(self, sc: Scenario) -> tuple[str, dict]:
        return self.render(sc, self.pick(sc.ask[self.lang]), sc.sample(self.rng, self.lang))

    def calls(self, jobs: Sequence[tuple[Scenario, dict]]) -> list[dict]:
        """One assistant turn calling every job, then its results; returns each answer's context."""
        turn, results, contexts = [], [], []
        for sc, args in jobs:
            order = list(self.box.tools[sc.tool]["function"].get("parameters", {})
                         .get("properties", {}))
            args = {k: args[k] for k in sorted(args, key=lambda k: order.index(k))}
            try:
                content = call_tool(self.box.functions, sc.tool, args)
            except ToolError:
                if sc.generic:
                    raise _Retry from None
                raise
            cid = seeded_call_id(self.rng)
            turn.append(tool_call(sc.tool, args, cid))
            results.append({"role": "tool", "tool_call_id": cid, "name": sc.tool, "content": content})
            contexts.append(self.context(sc, args, content))
            self.called.append(sc.tool)
        self.messages.append({"role": "assistant", "content": "", "tool_calls": turn})
        self.messages.extend(results)
        return contexts

    def context(self, sc: Scenario, args: dict, content: str) -> dict:
        try:
            result = json.loads(content)
        except json.JSONDecodeError:
            result = content
        ctx: dict[str, Any] = {}
        if isinstance(result, dict):
            ctx.update({k: ("" if v is None else sc.surface(k, v, self.lang))
                        for k, v in result.items() if not isinstance(v, (list, dict))})
        ctx.update({k: sc.surface(k, v, self.lang) for k, v in args.items()})
        ctx["_result"], ctx["_raw"] = result, content
        if sc.derive:
            ctx.update(sc.derive(ctx, self.lang))
        return ctx

    def answer(self, sc: Scenario, ctx: dict) -> str:
        if callable(sc.answer):
            return sc.answer(ctx, self.lang, self.rng)
        return self.pick(sc.answer[self.lang]).format(**ctx)

    # ---- the kinds

    def single(self) -> None:
        sc = self.pick(self.box.scenarios)
        text, args = self.request(sc)
        self.say("user", text)
        self.say("assistant", self.answer(sc, self.calls([(sc, args)])[0]))

    def parallel(self) -> None:
        first = self.pick(self.box.scenarios)
        others = [s for s in self.box.scenarios if s is not first]
        same = not others or self.rng.random() < 0.4  # e.g. the weather in two cities
        second = first if same else self.pick(others)
        text_a, args_a = self.request(first)
        for _ in range(10):  # two identical calls would teach nothing
            text_b, args_b = self.request(second)
            if second is not first or args_b != args_a:
                break
        else:
            second = self.pick(others) if others else first
            text_b, args_b = self.request(second)
        self.say("user", self.pick(P.PARALLEL_JOIN[self.lang]).format(a=text_a, b=text_b))
        ctx_a, ctx_b = self.calls([(first, args_a), (second, args_b)])
        self.say("assistant", self.pick(P.PARALLEL_ANSWER[self.lang]).format(
            a=self.answer(first, ctx_a), b=self.answer(second, ctx_b)))

    def multi_turn(self) -> None:
        sc = self.pick(self.box.scenarios)
        text, args = self.request(sc)
        self.say("user", text)
        self.say("assistant", self.answer(sc, self.calls([(sc, args)])[0]))
        if sc.followup.get(self.lang) and self.rng.random() < 0.5:
            template = self.pick(sc.followup[self.lang])
            for _ in range(10):  # a follow-up repeating the same value would be odd
                text2, changed = self.render(sc, template, sc.sample(self.rng, self.lang))
                if any(args.get(k) != v for k, v in changed.items()):
                    break
            sc2, args2 = sc, {**args, **changed}
        else:
            others = [s for s in self.box.scenarios if s is not sc] or [sc]
            sc2 = self.pick(others)
            text2, args2 = self.request(sc2)
            text2 = self.pick(P.FOLLOWUP_PREFIX[self.lang]) + text2
        self.say("user", text2)
        self.say("assistant", self.answer(sc2, self.calls([(sc2, args2)])[0]))

    def missing_arg(self) -> None:
        choices = [s for s in self.box.scenarios if s.missing]
        if not choices:
            return self.single()
        sc = self.pick(choices)
        param = self.pick(sorted(sc.missing))
        how = sc.missing[param]
        values = sc.sample(self.rng, self.lang)
        text, args = self.render(sc, self.pick(how.ask[self.lang]), values)
        self.say("user", text)
        given = {k: sc.surface(k, v, self.lang) for k, v in args.items()}
        self.say("assistant", self.pick(how.clarify[self.lang]).format(**given))
        word = sc.surface(param, values[param], self.lang)
        supply = self.pick((how.supply or P.SUPPLY)[self.lang])
        self.say("user", supply.format(**{param: word, "value": word}))
        self.say("assistant", self.answer(sc, self.calls([(sc, {**args, param: values[param]})])[0]))

    def no_tool(self, offered: Sequence[str]) -> None:
        if self.rng.random() < 0.15:  # "what can you do?" answered from the offered tools
            self.say("user", self.pick(P.CAPABILITY_Q[self.lang]))
            if self.lang == "zh":
                items = "、".join(offered)
            else:
                items = "; ".join(
                    f"{n} ({d})" if (d := (self.box.tools[n]["function"].get("description") or "")
                                     .strip().rstrip(".")) else n for n in offered)
            self.say("assistant", P.CAPABILITY_A[self.lang].format(items=items))
            return
        question, answer = self.pick(P.QA[self.lang])
        self.say("user", question)
        self.say("assistant", answer)


def _build_row(box: _Toolbox, kind: str, lang: str, seed: int, index: int,
               system_rate: float, distractors: int = 3) -> Conversation:
    rng = Random(f"tooltune-synth:{seed}:{index}:{kind}:{lang}")
    names = sorted(box.tools)
    for _ in range(20):
        row = _Row(box, rng, lang)
        try:
            if kind == "no_tool":
                offered = rng.sample(names, min(len(names), rng.randint(1, max(1, distractors))))
                row.no_tool(offered)
            else:
                getattr(row, kind)()
                used = list(dict.fromkeys(row.called))
                rest = [n for n in names if n not in used]
                offered = used + rng.sample(rest, min(len(rest), rng.randint(min(1, distractors), distractors)))
        except _Retry:
            continue
        break
    else:
        raise UserError(f"could not build a {kind} row: the supplied tools kept rejecting "
                        "sampled arguments")
    rng.shuffle(offered)
    messages = row.messages
    if rng.random() < system_rate:
        messages.insert(0, {"role": "system", "content": rng.choice(P.SYSTEM_PROMPTS[lang])})
    return Conversation(messages, [copy.deepcopy(box.tools[n]) for n in offered],
                        meta={"kind": kind, "lang": lang, "seed": seed, "index": index})


# --------------------------------------------------------------------------- public API


def parse_mix(mix: str | Mapping[str, float] | None) -> dict[str, float]:
    """Kind weights, normalized; from a mapping or "single=0.5,no_tool=0.2" (unnamed kinds get 0)."""
    if mix is None:
        return dict(DEFAULT_MIX)
    if isinstance(mix, str):
        parts = [p.split("=", 1) for p in re.split(r"[,\s]+", mix.strip()) if p]
        try:
            mix = {k.strip(): float(v) for k, v in parts}
        except ValueError:
            raise UserError(f"bad mix {mix!r}: expected kind=weight pairs, e.g. single=0.5,"
                            "no_tool=0.2") from None
    weights = {k.replace("-", "_"): float(v) for k, v in mix.items()}
    unknown = sorted(set(weights) - set(KINDS))
    if unknown:
        raise UserError(f"unknown conversation kind(s) {', '.join(unknown)} in mix; "
                        f"kinds: {', '.join(KINDS)}")
    if any(v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
        raise UserError("mix weights must be >= 0 and not all 0")
    total = sum(weights.values())
    return {k: weights.get(k, 0.0) / total for k in KINDS}


def _plan(n: int, mix: dict[str, float], langs: Sequence[str], seed: int) -> list[tuple[str, str]]:
    """(kind, lang) per row: counts by largest remainder, languages round-robin within a kind,
    so every kind with weight appears in every language as soon as n allows."""
    exact = {k: mix[k] * n for k in KINDS}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(KINDS, key=lambda k: (counts[k] - exact[k], KINDS.index(k)))[: n - sum(counts.values())]:
        counts[k] += 1
    rng = Random(f"tooltune-synth-plan:{seed}")
    plan = [(k, langs[i % len(langs)]) for k in KINDS for i in range(counts[k])]
    rng.shuffle(plan)
    return plan


def synthesize(tools_and_functions: ToolsAndFunctions | str | os.PathLike | None = None,
               n: int = 100, seed: int = 0, langs: Sequence[str] = LANGS,
               mix: str | Mapping[str, float] | None = None,
               system_rate: float = 0.5, distractors: int = 3) -> list[Conversation]:
    """``n`` conversations, the same for the same arguments.

    Args:
        tools_and_functions: ``(tools, {name: function})`` as ``load_tools`` returns, or a path
            for it; None uses the example tools. Tools without a function are only distractors.
        n: How many rows.
        seed: Everything random derives from it.
        langs: Languages to write in, from "en" and "zh"; rows are split evenly.
        mix: Weights of the kinds (see ``KINDS``); default ``DEFAULT_MIX``.
        system_rate: Share of rows that start with a system prompt.
        distractors: At most this many unneeded tools offered beside the needed ones (fewer
            make shorter prompts: each tool schema costs ~100 tokens).
    """
    if n < 0:
        raise UserError("n must be >= 0")
    langs = tuple(dict.fromkeys(langs))
    bad = [lang for lang in langs if lang not in LANGS]
    if bad or not langs:
        raise UserError(f"unsupported language(s) {bad or langs}; choose from {', '.join(LANGS)}")
    weights = parse_mix(mix)
    box = _toolbox(tools_and_functions)
    return [_build_row(box, kind, lang, seed, i, system_rate, distractors)
            for i, (kind, lang) in enumerate(_plan(n, weights, langs, seed))]


def to_sharegpt(conv: Conversation) -> dict:
    """One row in LLaMA-Factory's sharegpt format (see the module docstring for parallel calls)."""
    turns: list[dict[str, str]] = []
    system = ""
    msgs = conv.messages
    i = 0
    while i < len(msgs):
        m = msgs[i]
        role, text = m["role"], m.get("content") or ""
        if role == "system":
            system = text
        elif role == "user":
            turns.append({"from": "human", "value": text})
        elif role == "assistant" and m.get("tool_calls"):
            if text.strip():
                raise DataError("sharegpt cannot hold text and tool calls in one turn",
                                field=f"messages[{i}]")
            items = [{"name": c["function"]["name"],
                      "arguments": parse_arguments(c["function"].get("arguments"))}
                     for c in m["tool_calls"]]
            value = items[0] if len(items) == 1 else items
            turns.append({"from": "function_call", "value": json.dumps(value, ensure_ascii=False)})
        elif role == "assistant":
            turns.append({"from": "gpt", "value": text})
        else:  # a run of tool results is one observation
            j = i
            while j + 1 < len(msgs) and msgs[j + 1]["role"] == "tool":
                j += 1
            group = [msgs[k].get("content") or "" for k in range(i, j + 1)]
            value = group[0] if len(group) == 1 else json.dumps(group, ensure_ascii=False)
            turns.append({"from": "observation", "value": value})
            i = j
        i += 1
    tools = [t["function"] if t.get("type") == "function" else t for t in conv.tools]
    return {"conversations": turns, "tools": json.dumps(tools, ensure_ascii=False), "system": system}


def to_openai(conv: Conversation) -> dict:
    """One row as OpenAI chat messages, tool-call arguments as JSON strings."""
    messages = copy.deepcopy(conv.messages)
    for m in messages:
        for c in m.get("tool_calls") or []:
            if not isinstance(c["function"].get("arguments"), str):
                c["function"]["arguments"] = json.dumps(c["function"].get("arguments") or {},
                                                        ensure_ascii=False)
    out: dict[str, Any] = {"messages": messages}
    if conv.tools:
        out["tools"] = copy.deepcopy(conv.tools)
    return out


def write_conversations(path: str | os.PathLike, convs: Sequence[Conversation],
                        include_meta: bool = False) -> Path:
    """Write rows atomically: ``.json`` as sharegpt, ``.jsonl`` as OpenAI messages."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".json", ".jsonl"):
        raise UserError(f"{p}: output must end in .json (sharegpt) or .jsonl (OpenAI messages)")
    rows = [to_openai(c) if suffix == ".jsonl" else to_sharegpt(c) for c in convs]
    if include_meta:
        for row, c in zip(rows, convs):
            row["meta"] = c.meta
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        text = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(p, text)
    return p


def synthesize_to_file(path: str | os.PathLike, n: int = 100, seed: int = 0,
                       tools_and_functions: ToolsAndFunctions | str | os.PathLike | None = None,
                       langs: Sequence[str] = LANGS, mix: str | Mapping[str, float] | None = None,
                       system_rate: float = 0.5, include_meta: bool = False, *,
                       tools: ToolsAndFunctions | str | os.PathLike | None = None,
                       distractors: int = 3) -> Path:
    """``synthesize`` then ``write_conversations``; returns the path written.

    ``tools`` is an alias of ``tools_and_functions`` (the CLI's spelling).
    """
    if tools is not None and tools_and_functions is not None:
        raise UserError("pass tools or tools_and_functions, not both")
    convs = synthesize(tools_and_functions if tools is None else tools, n=n, seed=seed,
                       langs=langs, mix=mix, system_rate=system_rate, distractors=distractors)
    return write_conversations(path, convs, include_meta=include_meta)
