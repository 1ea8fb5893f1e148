"""One request inside the engine: the handle its caller iterates (or cancels), and the sequence
the engine decodes for it, which takes each sampled token, applies the stops (ids, the grammar,
max_tokens, stop strings) and sends the text that became visible."""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch

from tooltune.engine.detokenize import IncrementalDetokenizer
from tooltune.engine.types import Constraint, Output, SamplingParams

log = logging.getLogger("tooltune.engine")


class RequestHandle:
    """The stream of one request's outputs; iterate it (async or not), or cancel it."""

    def __init__(self, wake: Callable[[], None], loop: asyncio.AbstractEventLoop | None):
        self._wake, self._loop = wake, loop
        self._aq: asyncio.Queue | None = asyncio.Queue() if loop else None
        self._q: queue.Queue | None = None if loop else queue.Queue()
        self.cancelled = threading.Event()
        self._done = False

    def _push(self, out: Output) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._aq.put_nowait, out)
            except RuntimeError:  # the event loop is gone (server shutting down)
                self.cancelled.set()
        else:
            self._q.put(out)

    def cancel(self) -> None:
        self.cancelled.set()
        self._wake()

    def __aiter__(self):
        return self

    async def __anext__(self) -> Output:
        if self._done:
            raise StopAsyncIteration
        out = await self._aq.get()
        self._done = out.finish_reason is not None
        return out

    def __iter__(self):
        return self

    def __next__(self) -> Output:
        if self._done:
            raise StopIteration
        out = self._q.get()
        self._done = out.finish_reason is not None
        return out


@dataclass
class Sequence:
    handle: RequestHandle
    prompt: list[int]
    params: SamplingParams
    constraint: Constraint | None
    adapter: str | None
    generator: torch.Generator | None
    detok: IncrementalDetokenizer          # the reply's text, decoded a few tokens at a time
    generated: list[int] = field(default_factory=list)
    text_sent: int = 0
    cached_tokens: int = 0
    draft_pause: int = 0     # steps to go before drafting again, after drafts the model refused
    draft_backoff: int = 0
    # chunked prefill (prefill inside decode steps): the prompt's keys/values computed so far
    keys: list = field(default_factory=list)
    values: list = field(default_factory=list)

    def take(self, token: int, stop_token_ids: set[int], stop_strings: tuple[str, ...], max_model_len: int) -> bool:
        """Take a sampled token, send what became visible; True when the reply is finished."""
        finish = None
        if token in stop_token_ids:
            finish = "stop"
        else:
            self.generated.append(token)
            if self.constraint is not None:
                try:
                    self.constraint.accept(token)
                except ValueError:  # cannot happen after masking; never let it take the batch down
                    log.exception("a constrained sequence sampled a token its grammar refuses")
                    finish = "stop"
        if finish is None:
            if self.constraint is not None and self.constraint.is_done():
                finish = "stop"
            elif len(self.generated) >= self.params.max_tokens or \
                    len(self.prompt) + len(self.generated) >= max_model_len:
                finish = "length"
        text = self.detok.final(self.generated) if finish else self.detok.update(self.generated)
        visible = text
        stops = (*self.params.stop, *stop_strings) if stop_strings else self.params.stop
        if stops:  # a stop string ends the reply before any other reason would
            hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
            if hits:
                visible, finish = text[:min(hits)], "stop"
        if finish is None:
            visible = holding_back(visible, stops)
        delta = visible[self.text_sent:] if len(visible) > self.text_sent else ""
        self.text_sent = max(self.text_sent, len(visible))
        if delta or finish:
            self.handle._push(Output(delta, finish, len(self.prompt), len(self.generated), self.cached_tokens))
        return finish is not None


def holding_back(text: str, stops: tuple[str, ...]) -> str:
    """Text safe to send: no half-decoded character, no tail that may begin a stop string."""
    end = len(text)
    while end and text[end - 1] == "\ufffd":
        end -= 1
    for s in stops:
        for k in range(min(len(s) - 1, end), 0, -1):
            if text[:end].endswith(s[:k]):
                end -= k
                break
    return text[:end]


def prompt_lookup(context: list[int], room: int) -> list[int]:
    """Draft tokens for a greedy reply: the (up to `room`) tokens that followed the last earlier
    occurrence of the context's newest 3-gram (else 2-gram): tool names, arguments copied from
    the user's words, JSON keys."""
    for n in (3, 2):
        if len(context) <= n:
            continue
        tail = context[-n:]
        for i in range(len(context) - n - 1, -1, -1):
            if context[i:i + n] == tail:
                return context[i + n:i + n + room]
    return []
