"""Tool-call accuracy: does the model call a tool when it should, the right one, with the right
arguments? Each assistant turn of a held-out conversation is one case: the model sees the
conversation up to that turn and its reply is parsed with the template's own parser."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass


from tooltune.data.types import Conversation, tool_call
from tooltune.templates import Template
from tooltune.templates.parsers import get_parser
from tooltune.templates.render import encode, render_prompt


@dataclass
class Case:
    messages: list[dict]
    tools: list[dict]
    expected: list[tuple[str, dict]]  # [] = the model should answer without a call


@dataclass
class Scores:
    cases: int
    decision: float   # called a tool exactly when it should
    name: float       # among cases that expect calls: the right function names
    arguments: float  # among cases that expect calls: names and arguments exactly right
    overall: float    # every case fully right (no call when none is due, exact calls otherwise)

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def cases_from(convs: list[Conversation], limit: int | None = None) -> list[Case]:
    out = []
    for conv in convs:
        for k, m in enumerate(conv.messages):
            if m["role"] != "assistant" or not conv.tools:
                continue
            expected = [(c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or []]
            out.append(Case(conv.messages[:k], conv.tools, expected))
    return out[:limit] if limit else out


def _canon(calls: list[tuple[str, dict]]) -> Counter:
    return Counter((n, json.dumps(a, sort_keys=True, ensure_ascii=False)) for n, a in calls)


def score(cases: list[Case], predictions: list[list[tuple[str, dict]]]) -> Scores:
    decision = name = args = overall = 0
    calling = 0
    for case, pred in zip(cases, predictions):
        decision += bool(case.expected) == bool(pred)
        if case.expected:
            calling += 1
            name += Counter(n for n, _ in case.expected) == Counter(n for n, _ in pred)
            exact = _canon(case.expected) == _canon(pred)
            args += exact
            overall += exact
        else:
            overall += not pred
    n = max(len(cases), 1)
    return Scores(len(cases), decision / n, name / max(calling, 1), args / max(calling, 1), overall / n)


def generate_replies(model, tokenizer, template: Template, cases: list[Case], max_new_tokens: int = 96,
                     batch_size: int = 32) -> list[str]:
    """Greedy replies from the serving engine (continuous batching, shared tool prompts prefilled
    once), ended at the template's stop words: what `tooltune api` would answer."""
    from tooltune.serve.engine import Engine
    from tooltune.serve.half_linear import serving_linear_layers
    from tooltune.serve.types import SamplingParams
    from tooltune.templates.render import stop_token_ids

    prompts = [tokenizer(render_prompt(tokenizer, template, c.messages, c.tools), add_special_tokens=False)["input_ids"]
               for c in cases]
    budgets = [reply_budget(tokenizer, template, c, max_new_tokens) for c in cases]
    was_training = model.training
    model.eval()
    try:
        with serving_linear_layers(model):  # the server's weights; the model's own stay put
            engine = Engine(model, tokenizer, stop_token_ids=stop_token_ids(tokenizer, template),
                            max_batch=batch_size, max_waiting=max(len(prompts), 1))
            # decodes in this thread (the engine's own thread is never started)
            replies = engine.generate_all(prompts, [SamplingParams(max_tokens=b, temperature=0) for b in budgets])
    finally:
        model.train(was_training)
    return [cut_at_stop(r, [*template.stop_words, tokenizer.eos_token]) for r in replies]


def reply_budget(tokenizer, template: Template, case: Case, floor: int) -> int:
    """Tokens a case may generate: `floor`, or its expected answer's length where that is more.
    A right answer of two or three parallel calls runs past a budget sized for one, and a reply cut
    inside its last call would count against the model. The answer is measured as the template
    renders it (the trained tokens of that turn)."""
    if not case.expected:
        return floor
    answer = {"role": "assistant", "content": None,
              "tool_calls": [tool_call(n, a, f"call_{i}") for i, (n, a) in enumerate(case.expected)]}
    conv = Conversation([*case.messages, answer], tools=case.tools)
    return max(floor, encode(tokenizer, template, conv, loss_on="last").n_trained + 8)


def cut_at_stop(text: str, stops: list[str | None]) -> str:
    cut = min([i for s in stops if s and (i := text.find(s)) >= 0], default=len(text))
    return text[:cut]


def evaluate_toolcalls(model, tokenizer, template: Template, convs: list[Conversation], limit: int = 40,
                       max_new_tokens: int = 96, batch_size: int = 32) -> tuple[Scores, list[dict]]:
    """Scores plus one record per case (prompt's last user text, expected, predicted, raw reply)."""
    cases = cases_from(convs, limit)
    replies = generate_replies(model, tokenizer, template, cases, max_new_tokens, batch_size)
    parser = get_parser(template.parser)
    preds = [[(c.name, c.arguments) for c in parser.parse(r).calls] for r in replies]
    records = [{"user": next((m["content"] for m in reversed(c.messages) if m["role"] == "user"), ""),
                "expected": c.expected, "predicted": p, "reply": r}
               for c, p, r in zip(cases, preds, replies)]
    return score(cases, preds), records
