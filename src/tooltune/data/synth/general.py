"""The general tool-use corpus: conversations over thousands of tools none of which the model has
to know in advance, in every case kind a tool-calling agent meets.

Kinds (``Conversation.meta["kind"]``), named as function-calling benchmarks name their categories:

* ``simple``: one tool offered, one call.
* ``multiple``: 2-4 tools offered (often of the same domain), one call of the right one.
* ``parallel``: one tool, several calls in one turn ("the weather in Paris, Rome and Oslo").
* ``parallel_multiple``: several tools, several calls in one turn.
* ``irrelevance``: no offered tool fits the request: the answer is text, no call.
* ``missing``: a required value is not in the request: the assistant asks, the user answers, the call.
* ``multi_turn``: a call, its real result, an answer that uses it, then a follow-up request.

Tools come from ``catalog.FAMILIES`` (hand-written and composed), each family offered under many
schemas (``variants.py``), and from real Python functions (``harvest.py``; the user's own with
``tools=``), which are run, so their results are real. The split is by job (split.py): with
``split="test"`` only the held-out families appear (as needed tools and as distractors), with
``split="train"`` none of them does, so a test row's tools are unseen in training.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from random import Random
from typing import Any, Sequence

from tooltune.functions import format_result
from tooltune.data.synth import asking as A
from tooltune.data.synth import phrases as P
from tooltune.data.synth.catalog import FAMILIES, Family, ParamSpec
from tooltune.data.synth.split import HOLDOUT, job_of, split_of
from tooltune.data.synth.variants import VARIANTS_PER_FAMILY, ToolVariant, make_variant
from tooltune.conversation import Conversation, Message, seeded_call_id, tool_call
from tooltune.errors import UserError

GENERAL_KINDS = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "missing", "multi_turn")
# Restraint needs the most rows: an untuned recipe calls a tool for nearly every question.
# Measured on held-out families with .24 / .08 / .12 / .10 (irrelevance / missing / parallel /
# parallel_multiple): restraint 92%, asking for a missing value 25%, parallel 50% and 17%, so
# the last three get more rows and irrelevance a little fewer.
GENERAL_MIX = {"simple": 0.16, "multiple": 0.16, "parallel": 0.14, "parallel_multiple": 0.12,
               "irrelevance": 0.22, "missing": 0.12, "multi_turn": 0.08}
OPTIONAL_RATE = 0.35   # how often a question gives an optional parameter's value
# How often the calls of a parallel request differ in every value, not in one (function-calling
# benchmarks ask both ways: "the BMI of two people, 70 kg and 175 cm, and 60 kg and 160 cm").
WHOLE_CALLS_RATE = 0.3
# How often a tool's plain value comes back as a JSON object named for it ({"gpa": 3.42}), as web
# APIs and the reference article's client return results: the model learns to read both.
WRAP_RATE = 0.4
_VERBS = ("get", "calculate", "calc", "compute", "find", "convert", "check", "count", "estimate",
          "generate", "search", "lookup", "fetch", "solve", "predict", "analyze", "measure")


@dataclass
class _Call:
    variant: ToolVariant
    values: dict[str, Any]   # spec name -> value
    said: dict[str, str]     # spec name -> value as the user wrote it

    def arguments(self) -> dict[str, Any]:
        """Keyed by the schema's own parameter names, in the schema's order."""
        by_spec = {p.name: k for k, p in self.variant.params.items()}
        return {by_spec[n]: self.values[n] for n in sorted(self.values, key=lambda n: list(by_spec).index(n))}


class _Pool:
    """The families of one split, with their schemas and functions."""

    def __init__(self, families: Sequence[Family], variants: int):
        if not families:
            raise UserError("no tool families to build rows from")
        self.families = list(families)
        self.variants = variants
        self.by_domain: dict[str, list[Family]] = {}
        for f in self.families:
            self.by_domain.setdefault(f.domain, []).append(f)
        self.runnable = [f for f in self.families if f.function is not None]
        self._cache: dict[tuple[str, int], ToolVariant] = {}

    def variant(self, family: Family, rng: Random | None) -> ToolVariant:
        """One of `family`'s schemas (rng None: the plain one, whose name is the family's own)."""
        index = 0 if family.schema is not None or rng is None else rng.randrange(self.variants)
        key = (family.id, index)
        if key not in self._cache:
            self._cache[key] = make_variant(family, index)
        return self._cache[key]

    def others(self, avoid: Sequence[Family], k: int, rng: Random, near: Family | None = None) -> list[Family]:
        """`k` families not in `avoid`, the first ones of `near`'s domain when it has any."""
        jobs = {job_of(f.id) for f in avoid}
        out: list[Family] = []
        if k <= 0:
            return []
        if near is not None and rng.random() < 0.6:
            same = [f for f in self.by_domain.get(near.domain, []) if job_of(f.id) not in jobs]
            out = rng.sample(same, min(len(same), rng.randint(1, max(1, k))))
        rest = [f for f in self.families if job_of(f.id) not in jobs and f not in out]
        out += rng.sample(rest, max(0, min(len(rest), k - len(out))))
        return out[:k]


class _Row:
    """One conversation; every random choice goes through self.rng."""

    def __init__(self, pool: _Pool, rng: Random, lang: str):
        self.pool, self.rng, self.lang = pool, rng, lang
        self.messages: list[Message] = []
        self.offered: list[ToolVariant] = []

    def say(self, role: str, text: str) -> None:
        self.messages.append({"role": role, "content": text})

    def offer(self, family: Family) -> ToolVariant:
        v = next((o for o in self.offered if o.family.id == family.id), None)
        if v is None:
            v = self.pool.variant(family, self.rng)
            if any(o.name == v.name for o in self.offered):  # two families, one spelling: the plain one
                v = self.pool.variant(family, None)
            self.offered.append(v)
        return v

    def sample(self, variant: ToolVariant, optional_rate: float = OPTIONAL_RATE) -> _Call:
        """Values for the required parameters and some optional ones. A real tool that rejects
        them gets new ones (a few times; then the row keeps the error as the tool's result)."""
        fn = variant.family.function
        for _ in range(20):
            values, said = {}, {}
            for spec in variant.params.values():
                if spec.required or self.rng.random() < optional_rate:
                    values[spec.name] = self._distinct(spec, values, variant)
            _same_length(values)
            for spec in variant.params.values():
                if spec.name in values:
                    said[spec.name] = A.surface(spec, values[spec.name], self.rng, self.lang)
            if fn is None or _runs(fn, values):
                break
        return _Call(variant, values, said)

    def _distinct(self, spec: ParamSpec, values: dict, variant: ToolVariant):
        """A value unlike those of the call's other parameters of the same kind (from and to
        currencies, origin and destination)."""
        kind = spec.value_kind
        taken = [values[p.name] for p in variant.params.values() if p.name in values and p.value_kind is kind]
        value = kind.sample(self.rng, self.lang)
        for _ in range(8):
            if value not in taken:
                break
            value = kind.sample(self.rng, self.lang)
        return value

    def call_turn(self, calls: Sequence[_Call]) -> list[str] | None:
        """The assistant's calls; for runnable tools also their results (None when none ran)."""
        turn, results = [], []
        for c in calls:
            cid = seeded_call_id(self.rng)
            turn.append(tool_call(c.variant.name, c.arguments(), cid))
            fn = c.variant.family.function
            if fn is not None:
                try:
                    content = format_result(self._shaped(c.variant.family.name, fn(**c.values)))
                except Exception as e:  # a tool error is a result the model must read, not a failed run
                    content = json.dumps({"error": f"{type(e).__name__}: {e}"}, ensure_ascii=False)
                results.append({"role": "tool", "tool_call_id": cid, "name": c.variant.name, "content": content})
        self.messages.append({"role": "assistant", "content": "", "tool_calls": turn})
        if results and len(results) == len(calls):
            self.messages.extend(results)
            return [r["content"] for r in results]
        return None

    def _shaped(self, name: str, value: Any) -> Any:
        """A plain value, or now and then the same value as {"<what it is>": value}."""
        if isinstance(value, str):  # a user's function runs through call_tool, which returns text
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or self.rng.random() >= WRAP_RATE:
            return value
        verb, _, rest = name.partition("_")
        return {rest if verb in _VERBS and rest else "result": value}

    def answer(self, calls: Sequence[_Call], results: list[str]) -> None:
        """The reply after the results: their values said in words (a JSON object's fields)."""
        parts = []
        for c, r in zip(calls, results):
            does = c.variant.family.does[self.lang]
            try:
                value = json.loads(r)
            except json.JSONDecodeError:
                value = r
            if isinstance(value, dict) and "error" in value:
                parts.append(f"调用失败：{value['error']}" if self.lang == "zh" else
                             f"I tried to {does}, but the tool reported an error: {value['error']}")
                continue
            fields_said = isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values())
            if fields_said:
                fields = [(k.replace("_", " "), v) for k, v in list(value.items())[:4]]
                shown = ("，".join(f"{k}为{v}" for k, v in fields) if self.lang == "zh"
                         else ", ".join(f"the {k} is {v}" for k, v in fields))
            else:
                shown = r if len(r) <= 160 else r[:157] + "..."
            if self.lang == "zh":
                said = ("{r}。", "好的，{r}。", "查好了：{r}。") if fields_said else ("结果：{r}。", "{vp}的结果：{r}。", "查询结果为{r}。")
                parts.append(self.rng.choice(said).format(r=shown, vp=does))
            else:
                parts.append(self.rng.choice(("{R}.", "Here is the result: {r}.", "Done: {r}.",
                                              "I got this: {r}.")).format(r=shown, R=shown[:1].upper() + shown[1:]))
        self.say("assistant", ("；" if self.lang == "zh" else " ").join(p.rstrip("。") for p in parts) + ("。" if self.lang == "zh" else ""))

    def act(self, calls: Sequence[_Call]) -> None:
        results = self.call_turn(calls)
        if results is not None:
            self.answer(calls, results)

    # ---- the kinds

    def simple(self) -> None:
        fam = self.rng.choice(self.pool.families)
        c = self.sample(self.offer(fam))
        self.say("user", A.request(fam, c.said, self.rng, self.lang))
        self.act([c])

    def multiple(self) -> None:
        fam = self.rng.choice(self.pool.families)
        c = self.sample(self.offer(fam))
        for other in self.pool.others([fam], self.rng.randint(1, 3), self.rng, near=fam):
            self.offer(other)
        self.say("user", A.request(fam, c.said, self.rng, self.lang))
        self.act([c])

    def _several(self, fam: Family, n: int) -> tuple[list[_Call], str]:
        """`n` calls of one tool that differ in one required value (or, now and then, in all of
        them: "one weighs 70 kg and is 175 cm, the other ..."), and the request for them."""
        v = self.offer(fam)
        first = self.sample(v)
        # one scalar value varies ("Paris, Rome and Oslo"); a list or a yes/no cannot be listed
        varying = [s for s in v.params.values() if s.required
                   and s.value_kind.schema.get("type") not in ("array", "boolean", "object")]
        if not varying:
            raise _Again
        if self.rng.random() < WHOLE_CALLS_RATE and sum(s.required for s in v.params.values()) >= 2:
            calls = [first]
            for _ in range(3 * n):
                c = self.sample(v)
                if len(calls) < n and all(c.values != o.values for o in calls):
                    calls.append(c)
            if len(calls) < 2:
                raise _Again
            text = A.request(fam, first.said, self.rng, self.lang)
            return calls, text + "".join(("" if self.lang == "zh" else " ") + A.again(fam, c.said, self.rng, self.lang)
                                         for c in calls[1:])
        spec = self.rng.choice(varying)
        calls, seen = [first], {json.dumps(first.values[spec.name], sort_keys=True)}
        seen |= {json.dumps(first.values[p.name], sort_keys=True) for p in v.params.values()
                 if p.name in first.values and p.value_kind is spec.value_kind}   # from USD to USD
        for _ in range(4 * n):
            if len(calls) == n:
                break
            value = spec.value_kind.sample(self.rng, self.lang)
            if json.dumps(value, sort_keys=True) in seen:
                continue
            seen.add(json.dumps(value, sort_keys=True))
            values = dict(first.values, **{spec.name: value})
            if fam.function is not None and not _runs(fam.function, values):
                continue                                # a value the real tool rejects
            said = dict(first.said, **{spec.name: A.surface(spec, value, self.rng, self.lang)})
            calls.append(_Call(v, values, said))
        if len(calls) < 2:
            raise _Again
        if self.rng.random() < 0.5:  # the values listed in one request, the list said last
            listed = A.say_list([c.said[spec.name] for c in calls], self.rng, self.lang)
            said = {k: s for k, s in first.said.items() if k != spec.name} | {spec.name: listed}
            text = A.request(fam, said, self.rng, self.lang)
        else:                        # one request, then "the same for ..."
            text = A.request(fam, first.said, self.rng, self.lang) + ("" if self.lang == "zh" else " ") + \
                A.also([c.said[spec.name] for c in calls[1:]], self.rng, self.lang)
        return calls, text

    def parallel(self) -> None:
        calls, text = self._several(self.rng.choice(self.pool.families), self.rng.choice((2, 2, 3, 3, 4)))
        self.say("user", text)
        self.act(calls)

    def parallel_multiple(self) -> None:
        first = self.rng.choice(self.pool.families)
        fams = [first] + self.pool.others([first], self.rng.choice((1, 1, 2)), self.rng, near=first)
        calls, texts = [], []
        for fam in fams:
            if self.rng.random() < 0.3:
                group, text = self._several(fam, 2)
            else:
                group = [self.sample(self.offer(fam))]
                text = A.request(fam, group[0].said, self.rng, self.lang)
            calls += group
            texts.append(text)
        for other in self.pool.others(fams, self.rng.randint(0, 2), self.rng, near=first):
            self.offer(other)
        self.say("user", A.join_requests(texts, self.rng, self.lang))
        self.act(calls)

    def irrelevance(self) -> None:
        wanted = self.rng.choice(self.pool.families)
        offered = self.pool.others([wanted], self.rng.randint(1, 3), self.rng, near=wanted)
        for f in offered:
            self.offer(f)
        if self.rng.random() < 0.35:  # a general question, answered directly
            question, answer = self.rng.choice(P.QA[self.lang])
            self.say("user", question)
            self.say("assistant", answer)
            return
        probe = self.sample(self.pool.variant(wanted, self.rng))
        self.say("user", A.request(wanted, probe.said, self.rng, self.lang, implicit=False))
        self.say("assistant", A.cannot(wanted, offered, self.rng, self.lang))

    def missing(self) -> None:
        fam = self.rng.choice(self.pool.families)
        v = self.offer(fam)
        c = self.sample(v)
        required = [s for s in v.params.values() if s.required]
        if not required:
            raise _Again
        spec: ParamSpec = self.rng.choice(required)
        for other in self.pool.others([fam], self.rng.randint(0, 2), self.rng, near=fam):
            self.offer(other)
        given = {k: s for k, s in c.said.items() if k != spec.name}
        self.say("user", A.request(fam, given, self.rng, self.lang))
        self.say("assistant", A.ask_missing(fam, spec, self.rng, self.lang))
        self.say("user", A.supply(spec, c.said[spec.name], self.rng, self.lang))
        self.act([c])

    def multi_turn(self) -> None:
        if not self.pool.runnable:
            raise _Again
        fam = self.rng.choice(self.pool.runnable)
        c = self.sample(self.offer(fam))
        self.say("user", A.request(fam, c.said, self.rng, self.lang))
        self.act([c])
        nxt = self.rng.choice(self.pool.runnable)
        c2 = self.sample(self.offer(nxt))
        prefix = self.rng.choice(P.FOLLOWUP_PREFIX[self.lang])
        self.say("user", prefix + A.request(nxt, c2.said, self.rng, self.lang))
        self.act([c2])
        for other in self.pool.others([fam, nxt], self.rng.randint(0, 1), self.rng):
            self.offer(other)


def _same_length(values: dict) -> None:
    """Lists given in one call describe the same items (grades and their credit hours, prices and
    their quantities, x and y): cut them to one length, so a model learns to end each list where
    the user's list ends rather than to run on (the GPA tool's grades overran by one or two)."""
    lists = [k for k, v in values.items() if isinstance(v, list)]
    if len(lists) > 1:
        n = min(len(values[k]) for k in lists)
        for k in lists:
            values[k] = values[k][:n]


def _runs(fn, values: dict) -> bool:
    try:
        fn(**values)
    except Exception:
        return False
    return True


class _Again(Exception):
    """This family cannot make this kind of row: draw again."""


def _build(pool: _Pool, kind: str, lang: str, seed: int, index: int, system_rate: float) -> Conversation:
    rng = Random(f"tooltune-general:{seed}:{index}:{kind}:{lang}")
    for _ in range(50):
        row = _Row(pool, rng, lang)
        try:
            getattr(row, kind)()
        except _Again:
            continue
        break
    else:
        row = _Row(pool, rng, lang)
        row.simple()
        kind = "simple"
    tools = [copy.deepcopy(v.tool) for v in row.offered]
    rng.shuffle(tools)
    messages = row.messages
    if rng.random() < system_rate:
        messages.insert(0, {"role": "system", "content": rng.choice(P.SYSTEM_PROMPTS[lang])})
    called = sorted({c["function"]["name"] for m in messages for c in m.get("tool_calls") or []})
    return Conversation(messages, tools, meta={
        "kind": kind, "lang": lang, "seed": seed, "index": index, "called": called,
        "families": sorted({v.family.id for v in row.offered})})


def parse_general_mix(mix: str | dict | None) -> dict[str, float]:
    if mix is None:
        return dict(GENERAL_MIX)
    if isinstance(mix, str):
        try:
            mix = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in mix.replace(" ", "").split(",") if p)}
        except ValueError:
            raise UserError(f"bad mix {mix!r}: expected kind=weight pairs, e.g. simple=0.3,irrelevance=0.2") from None
    unknown = sorted(set(mix) - set(GENERAL_KINDS))
    if unknown:
        raise UserError(f"unknown kind(s) {', '.join(unknown)} in mix; kinds: {', '.join(GENERAL_KINDS)}")
    total = sum(mix.values())
    if total <= 0 or any(v < 0 for v in mix.values()):
        raise UserError("mix weights must be >= 0 and not all 0")
    return {k: mix.get(k, 0.0) / total for k in GENERAL_KINDS}


def synthesize_general(n: int = 1000, seed: int = 0, langs: Sequence[str] = ("en", "zh"),
                       mix: str | dict | None = None, split: str = "train", holdout: float = HOLDOUT,
                       families: Sequence[Family] | None = None, variants: int = VARIANTS_PER_FAMILY,
                       system_rate: float = 0.5) -> list[Conversation]:
    """`n` general rows of `split` ("train", "test" or "all"), the same for the same arguments.

    `families` replaces the built-in catalog and library functions (the user's own tools); then
    the split is not applied, and irrelevance rows ask for the catalog's jobs instead.
    """
    from tooltune.data.synth.harvest import library_families

    if split not in ("train", "test", "all"):
        raise UserError(f"split must be train, test or all, not {split!r}")
    if families is None:
        pool_families = [f for f in (*FAMILIES, *library_families())
                         if split == "all" or split_of(f.id, holdout) == split]
    else:
        pool_families = list(families)
    pool = _Pool(pool_families, variants)
    weights = parse_general_mix(mix)
    counts = {k: int(weights[k] * n) for k in GENERAL_KINDS}
    for k in sorted(GENERAL_KINDS, key=lambda k: counts[k] - weights[k] * n)[: n - sum(counts.values())]:
        counts[k] += 1
    plan = [(k, langs[i % len(langs)]) for k in GENERAL_KINDS for i in range(counts[k])]
    Random(f"tooltune-general-plan:{seed}").shuffle(plan)
    if families is not None:  # the user's tools: no-fit questions come from the catalog
        outside = _Pool([f for f in FAMILIES if f.name not in {g.name for g in families}], variants)
    rows = []
    for i, (kind, lang) in enumerate(plan):
        if kind == "irrelevance" and families is not None:
            rows.append(_irrelevant_for_user(pool, outside, lang, seed, i, system_rate))
        else:
            rows.append(_build(pool, kind, lang, seed, i, system_rate))
    return rows


def _irrelevant_for_user(pool: _Pool, outside: _Pool, lang: str, seed: int, index: int,
                         system_rate: float) -> Conversation:
    """The user's tools offered, a request for a job none of them does."""
    rng = Random(f"tooltune-general:{seed}:{index}:irrelevance:{lang}")
    row = _Row(pool, rng, lang)
    offered = rng.sample(pool.families, min(len(pool.families), rng.randint(1, 3)))
    for f in offered:
        row.offer(f)
    wanted = rng.choice(outside.families)
    if rng.random() < 0.35:
        question, answer = rng.choice(P.QA[lang])
        row.say("user", question)
        row.say("assistant", answer)
    else:
        probe = row.sample(outside.variant(wanted, rng))
        row.say("user", A.request(wanted, probe.said, rng, lang, implicit=False))
        row.say("assistant", A.cannot(wanted, offered, rng, lang))
    if rng.random() < system_rate:
        row.messages.insert(0, {"role": "system", "content": rng.choice(P.SYSTEM_PROMPTS[lang])})
    return Conversation(row.messages, [copy.deepcopy(v.tool) for v in row.offered],
                        meta={"kind": "irrelevance", "lang": lang, "seed": seed, "index": index,
                              "called": [], "families": sorted(f.id for f in offered)})
