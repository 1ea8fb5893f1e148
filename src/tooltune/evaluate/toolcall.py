"""Tool-call accuracy: does the model call a tool when it should, the right one, with the right
arguments? Each assistant turn of a held-out conversation is one case: the model sees the
conversation up to that turn and its reply is parsed with the template's own parser."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass

import torch

from tooltune.data.types import Conversation
from tooltune.templates import Template
from tooltune.templates.parsers import get_parser
from tooltune.templates.render import render_prompt


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


@torch.no_grad()
def generate_replies(model, tokenizer, template: Template, cases: list[Case], max_new_tokens: int = 96,
                     batch_size: int = 20) -> list[str]:
    """Greedy replies, batched with left padding, cut at the template's stop words."""
    prompts = [render_prompt(tokenizer, template, c.messages, c.tools) for c in cases]
    stop_ids = {tokenizer.eos_token_id}
    for word in template.stop_words:
        tid = tokenizer.convert_tokens_to_ids(word)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            stop_ids.add(tid)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    replies: list[str] = []
    model.eval()
    try:
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths batch well
        by_index: dict[int, str] = {}
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=sorted(i for i in stop_ids if i is not None),
                                 pad_token_id=tokenizer.pad_token_id)
            for i, seq in zip(idx, out[:, enc["input_ids"].shape[1]:]):
                text = tokenizer.decode(seq, skip_special_tokens=False)
                by_index[i] = cut_at_stop(text, [*template.stop_words, tokenizer.eos_token, tokenizer.pad_token])
        replies = [by_index[i] for i in range(len(prompts))]
    finally:
        tokenizer.padding_side = side
    return replies


def cut_at_stop(text: str, stops: list[str | None]) -> str:
    cut = min([i for s in stops if s and (i := text.find(s)) >= 0], default=len(text))
    return text[:cut]


def evaluate_toolcalls(model, tokenizer, template: Template, convs: list[Conversation], limit: int = 40,
                       max_new_tokens: int = 96, batch_size: int = 20) -> tuple[Scores, list[dict]]:
    """Scores plus one record per case (prompt's last user text, expected, predicted, raw reply)."""
    cases = cases_from(convs, limit)
    replies = generate_replies(model, tokenizer, template, cases, max_new_tokens, batch_size)
    parser = get_parser(template.parser)
    preds = [[(c.name, c.arguments) for c in parser.parse(r).calls] for r in replies]
    records = [{"user": next((m["content"] for m in reversed(c.messages) if m["role"] == "user"), ""),
                "expected": c.expected, "predicted": p, "reply": r}
               for c, p, r in zip(cases, preds, replies)]
    return score(cases, preds), records
