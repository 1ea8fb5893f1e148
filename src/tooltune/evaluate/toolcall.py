"""Tool-call accuracy: does the model call a tool when it should, the right one, with the right
arguments? Each assistant turn of a held-out conversation is one case: the model sees the
conversation up to that turn and its reply is parsed with the template's own parser.

Arguments are scored twice: exactly (the JSON equal to the expected one) and by AST matching as
function-calling benchmarks do (``ast_match.py``); each case has a category read from its shape,
and the scores are also given per category."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from tooltune.conversation import Conversation, new_call_id, tool_call
from tooltune.evaluate.ast_match import CATEGORIES, calls_match, category
from tooltune.templates import Template
from tooltune.templates.parsers import get_parser
from tooltune.templates.render import encode, render_prompt


@dataclass
class Case:
    messages: list[dict]
    tools: list[dict]
    expected: list[tuple[str, dict]]  # [] = the model should answer without a call
    category: str = "simple"          # see ast_match.CATEGORIES


@dataclass
class Scores:
    cases: int
    decision: float   # called a tool exactly when it should
    name: float       # among cases that expect calls: the right function names
    arguments: float  # among cases that expect calls: names and arguments exactly right
    overall: float    # every case fully right (no call when none is due, exact calls otherwise)
    ast: float = 0.0  # every case right, calls judged by AST matching (the benchmarks' way)
    # category -> {"cases", "ast", "exact"}; for no-call categories "ast" is the share not calling
    by_category: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def cases_from(convs: list[Conversation], limit: int | None = None) -> list[Case]:
    """Every assistant turn offered tools is a case. With `limit`, cases are taken round-robin
    across categories (in the order they first appear), so a small sample covers each kind."""
    out = []
    for conv in convs:
        turns = [(k, [(c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or []])
                 for k, m in enumerate(conv.messages) if m["role"] == "assistant"]
        if not conv.tools:
            continue
        for i, (k, expected) in enumerate(turns):
            later = any(calls for _, calls in turns[i + 1:])
            out.append(Case(conv.messages[:k], conv.tools, expected,
                            category(conv.messages[:k], expected, len(conv.tools), later)))
    if not limit or limit >= len(out):
        return out
    groups: dict[str, list[Case]] = {}
    for c in out:
        groups.setdefault(c.category, []).append(c)
    picked: list[Case] = []
    for i in range(limit):
        for g in groups.values():
            if i < len(g) and len(picked) < limit:
                picked.append(g[i])
        if len(picked) >= limit:
            break
    return picked


def _canon(calls: list[tuple[str, dict]]) -> Counter:
    return Counter((n, json.dumps(a, sort_keys=True, ensure_ascii=False)) for n, a in calls)


def case_right(case: Case, pred: list[tuple[str, dict]]) -> tuple[bool, bool]:
    """(right by AST matching, right as exact JSON) for one case."""
    if not case.expected:
        return not pred, not pred
    return calls_match(case.expected, pred, case.tools), _canon(case.expected) == _canon(pred)


def score(cases: list[Case], predictions: list[list[tuple[str, dict]]]) -> Scores:
    decision = name = args = overall = ast = 0
    calling = 0
    per: dict[str, list[int]] = {}
    for case, pred in zip(cases, predictions):
        decision += bool(case.expected) == bool(pred)
        right_ast, exact = case_right(case, pred)
        if case.expected:
            calling += 1
            name += Counter(n for n, _ in case.expected) == Counter(n for n, _ in pred)
            args += exact
        overall += exact
        ast += right_ast
        row = per.setdefault(case.category, [0, 0, 0])
        row[0] += 1
        row[1] += right_ast
        row[2] += exact
    n = max(len(cases), 1)
    by_category = {c: {"cases": per[c][0], "ast": round(per[c][1] / per[c][0], 4), "exact": round(per[c][2] / per[c][0], 4)}
                   for c in CATEGORIES if c in per}
    return Scores(len(cases), decision / n, name / max(calling, 1), args / max(calling, 1), overall / n,
                  ast / n, by_category)


def format_table(scores: Scores) -> str:
    """The per-category scores as a text table."""
    lines = [f"{'category':<18} {'cases':>5} {'AST':>7} {'exact':>7}"]
    for cat, row in scores.by_category.items():
        lines.append(f"{cat:<18} {row['cases']:>5} {row['ast']:>7.1%} {row['exact']:>7.1%}")
    lines.append(f"{'all':<18} {scores.cases:>5} {scores.ast:>7.1%} {scores.overall:>7.1%}")
    return "\n".join(lines)


def generate_replies(model, tokenizer, template: Template, cases: list[Case], max_new_tokens: int = 96,
                     batch_size: int = 32, strict_tools: bool | None = None) -> list[str]:
    """Greedy replies from the serving engine (continuous batching, shared tool prompts prefilled
    once), ended at the template's stop words: what `tooltune api` would answer. `strict_tools`:
    a call the model opens is held to the offered tools and their schemas, as `tooltune api`
    holds it by default (None: where the template can; True: fail where it cannot; False: off)."""
    from tooltune.engine.engine import Engine
    from tooltune.kernels.half_linear import serving_linear_layers
    from tooltune.engine.types import SamplingParams

    prompts = [tokenizer(render_prompt(tokenizer, template, c.messages, c.tools), add_special_tokens=False)["input_ids"]
               for c in cases]
    budgets = [reply_budget(tokenizer, template, c, max_new_tokens) for c in cases]
    was_training = model.training
    model.eval()
    try:
        with serving_linear_layers(model):  # the server's weights; the model's own stay put
            engine = Engine.for_template(model, tokenizer, template, max_batch=batch_size,
                                         max_waiting=max(len(prompts), 1))
            constraints = (_strict_constraints(engine, tokenizer, template, cases, required=strict_tools is True)
                           if strict_tools is not False else None)
            # decodes in this thread (the engine's own thread is never started)
            replies = engine.generate_all(prompts, [SamplingParams(max_tokens=b, temperature=0) for b in budgets],
                                          constraints)
    finally:
        model.train(was_training)
    return replies


def _strict_constraints(engine, tokenizer, template: Template, cases: list[Case], required: bool) -> list:
    """One constraint per case; where the template or a schema cannot be held (no fixed text
    opens the template's calls, a schema xgrammar cannot compile) the case is free, unless
    `required` (strict_tools=true), which fails instead, as `tooltune api --strict-tools true`."""
    from tooltune.errors import UserError
    from tooltune.engine.constrain import grammar_compiler, strict_tool_call_constraint

    head = engine.model.get_output_embeddings()
    compiler = grammar_compiler(tokenizer, getattr(head, "out_features", None) or head.weight.shape[0],
                                sorted(engine.stop_token_ids))
    factories: dict[str, object] = {}   # cases of one conversation offer the same tools
    out = []
    for c in cases:
        key = json.dumps(c.tools, sort_keys=True)
        if key not in factories:
            try:
                factories[key] = strict_tool_call_constraint(compiler, template, c.tools)
            except UserError:
                if required:
                    raise
                factories[key] = None
        out.append(factories[key].make() if factories[key] is not None else None)
    return out


def reply_budget(tokenizer, template: Template, case: Case, floor: int) -> int:
    """Tokens a case may generate: `floor`, or its expected answer's length where that is more.
    A right answer of two or three parallel calls runs past a budget sized for one, and a reply cut
    inside its last call would count against the model. The answer is measured as the template
    renders it (the trained tokens of that turn)."""
    if not case.expected:
        return floor
    answer = {"role": "assistant", "content": None,
              "tool_calls": [tool_call(n, a, new_call_id(str(i))) for i, (n, a) in enumerate(case.expected)]}
    conv = Conversation([*case.messages, answer], tools=case.tools)
    return max(floor, encode(tokenizer, template, conv, loss_on="last").n_trained + 8)


def evaluate_toolcalls(model, tokenizer, template: Template, convs: list[Conversation], limit: int = 40,
                       max_new_tokens: int = 96, batch_size: int = 32,
                       strict_tools: bool | None = None) -> tuple[Scores, list[dict]]:
    """Scores plus one record per case (prompt's last user text, expected, predicted, raw reply)."""
    cases = cases_from(convs, limit)
    replies = generate_replies(model, tokenizer, template, cases, max_new_tokens, batch_size, strict_tools)
    parser = get_parser(template.parser)
    preds = [[(c.name, c.arguments) for c in parser.parse(r).calls] for r in replies]
    records = [{"user": next((m["content"] for m in reversed(c.messages) if m["role"] == "user"), ""),
                "category": c.category, "expected": c.expected, "predicted": p, "reply": r,
                "right": case_right(c, p)[0]}
               for c, p, r in zip(cases, preds, replies)]
    return score(cases, preds), records
