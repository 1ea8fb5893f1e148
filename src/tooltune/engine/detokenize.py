"""The text of a reply that grows a token at a time, decoded a few tokens at a time.

Decoding the whole reply again after every token costs time that grows with its length (~0.6 ms
for 2,048 tokens with SmolLM2's tokenizer, per row, per step). As vLLM does, this decodes only a
short window: the tokens since the last complete piece of text, twice (with and without the new
ones), and keeps the difference. Starting the window a few tokens back matters for tokenizers that
drop a leading space at the start of a decode (SentencePiece): that token is in both decodes, so
the difference is right. A character whose bytes span several tokens waits until it is whole.
"""
from __future__ import annotations


class IncrementalDetokenizer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.text = ""                # the text of tokens[:read]
        self._prefix = self._read = 0  # tokens[prefix:read]: the window decoded last time

    def update(self, tokens: list[int]) -> str:
        """The text of `tokens` (a list that only grows) up to its last complete character."""
        if len(tokens) > self._read:
            before, after = self._window(tokens)
            if len(after) > len(before) and not after.endswith("\ufffd"):
                self.text += after[len(before):]
                self._prefix, self._read = self._read, len(tokens)
        return self.text

    def final(self, tokens: list[int]) -> str:
        """The whole text of `tokens`, an unfinished character's replacement mark included."""
        text = self.update(tokens)
        if len(tokens) > self._read:
            before, after = self._window(tokens)
            text += after[len(before):]
        return text

    def _window(self, tokens: list[int]) -> tuple[str, str]:
        decode = self.tokenizer.decode
        return (decode(tokens[self._prefix:self._read], skip_special_tokens=False),
                decode(tokens[self._prefix:], skip_special_tokens=False))
