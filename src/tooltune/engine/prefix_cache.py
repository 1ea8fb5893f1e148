"""Prompt prefixes already computed, so a shared system prompt and tool list is prefilled once.

Agent traffic repeats itself: every request of a session carries the same tool list, and each
turn extends the previous prompt. Entries hold one prompt's keys/values per layer; a new prompt
reuses the longest common prefix of any entry (for the same adapter). Least recently used
entries go first once the total passes `max_tokens`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch

MIN_REUSE = 16  # shorter matches are not worth a copy


class CachedPrefix(NamedTuple):
    """A prompt prefix's keys and values, one ``[1, kv_heads, tokens, head_dim]`` tensor a layer."""
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    tokens: int  # 0: nothing cached


class PrefixCache:
    def __init__(self, max_tokens: int = 16384):
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple, tuple[torch.Tensor, list, list]] = OrderedDict()
        self._tokens = 0
        self.hits = 0  # prompts that used a cached prefix (counted by the engine when it does)

    def lookup(self, prompt: list[int], adapter: str | None) -> CachedPrefix:
        """The cached state of prompt[:n]; n < len(prompt) so one token is left to run."""
        if not self._entries or self.max_tokens <= 0:
            return CachedPrefix([], [], 0)
        ids = torch.tensor(prompt)
        best, best_key = 0, None
        for key, (entry_ids, _, _) in self._entries.items():
            if key[0] != adapter:
                continue
            m = min(len(entry_ids), len(ids))
            same = (entry_ids[:m] == ids[:m]).to(torch.int8)
            n = int(same.cumprod(0).sum())
            if n > best:
                best, best_key = n, key
        best = min(best, len(prompt) - 1)
        if best < MIN_REUSE:
            return CachedPrefix([], [], 0)
        self._entries.move_to_end(best_key)
        _, keys, values = self._entries[best_key]
        return CachedPrefix([k[:, :, :best] for k in keys], [v[:, :, :best] for v in values], best)

    def store(self, prompt: list[int], adapter: str | None, keys: list, values: list) -> None:
        if len(prompt) > self.max_tokens:
            return
        key = (adapter, tuple(prompt))
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        # An entry that is a prefix of this prompt is now redundant.
        ids = torch.tensor(prompt)
        for old in [k for k, (e, _, _) in self._entries.items()
                    if k[0] == adapter and len(e) <= len(ids) and torch.equal(e, ids[:len(e)])]:
            self._tokens -= len(self._entries.pop(old)[0])
        self._entries[key] = (ids, keys, values)
        self._tokens += len(prompt)
        while self._tokens > self.max_tokens and len(self._entries) > 1:
            _, (e, _, _) = self._entries.popitem(last=False)
            self._tokens -= len(e)
