"""Pick each running sequence's next token from its logits row: greedy, or temperature/top-p
sampling from the request's own seeded generator, so a seeded request gives the same tokens
whatever else shares its batch. Constraints (grammars) mask the row first."""
from __future__ import annotations

import torch

from tooltune.engine.types import Constraint, SamplingParams


def sample_next(logits: torch.Tensor, params: list[SamplingParams], generators: list[torch.Generator | None],
                constraints: list[Constraint | None]) -> list[int]:
    """`logits`: ``[batch, vocab]`` float32 (modified in place by constraints)."""
    for row, c in enumerate(constraints):
        if c is not None:
            c.apply(logits[row])
    greedy = logits.argmax(dim=-1).tolist()
    out = []
    for row, p in enumerate(params):
        if p.temperature <= 0 or generators[row] is None:
            out.append(greedy[row])
            continue
        probs = torch.softmax(logits[row] / max(p.temperature, 1e-4), dim=-1)
        if p.top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            keep = sorted_p.cumsum(0) - sorted_p < p.top_p  # always keeps the most likely token
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
        if not torch.isfinite(probs).all() or float(probs.sum()) <= 0:  # degenerate settings: be greedy
            out.append(greedy[row])
            continue
        out.append(int(torch.multinomial(probs, 1, generator=generators[row])))
    return out
