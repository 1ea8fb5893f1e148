"""What the engine takes and gives, shared by the engine, the constraint builders and the API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "abort"]


@dataclass
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0          # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None           # same seed + same prompt = same tokens, batched or not
    stop: tuple[str, ...] = ()        # strings that end the reply (not included in it)


@dataclass
class Output:
    """One event on a request's stream; the last one carries finish_reason."""
    text: str                          # new visible text since the previous event (may be "")
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0             # prompt tokens served from the prefix cache


class Constraint(Protocol):
    """Restricts one sequence's next tokens (a grammar); the engine calls it every step.

    `apply` masks disallowed entries of this sequence's logits row in place (-inf);
    `accept` advances the grammar by the sampled token. Stop tokens are only allowed once the
    grammar is complete, so a constrained sequence ends by a stop token like any other.
    """

    def apply(self, logits_row) -> None: ...
    def accept(self, token_id: int) -> None: ...
    def is_done(self) -> bool: ...


class EngineFull(Exception):
    """The waiting queue is full: the API answers 429 with Retry-After."""

    def __init__(self, retry_after: float = 1.0):
        super().__init__("the server is busy: too many requests waiting")
        self.retry_after = retry_after


@dataclass
class EngineStats:
    running: int = 0
    waiting: int = 0
    max_batch: int = 0
    max_waiting: int = 0
    generated_tokens: int = 0
    prefix_cache_hits: int = 0
    extra: dict = field(default_factory=dict)
