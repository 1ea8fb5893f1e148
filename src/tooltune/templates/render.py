"""Render a conversation to token ids and a loss mask, with the template the model is served with.

The mask comes from the rendering itself: assistant turn k spans from the end of
``render(messages[:k], add_generation_prompt=True)`` to the end of ``render(messages[:k+1])``.
The whole conversation is rendered and tokenized once, so the ids are exactly what
``tokenizer.apply_chat_template(messages, tools=...)`` gives; messages are never rendered one by
one, so consecutive tool results stay one turn, as the model will see them when served.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tooltune.conversation import Conversation, Message, Tool
from tooltune.templates.registry import Template

LossOn = Literal["all", "last", "tool_calls"]


class TemplateError(ValueError):
    """The template cannot give a loss mask for this conversation (it is not prefix-stable)."""


@dataclass
class Encoded:
    ids: list[int]
    mask: list[bool]  # True where the token is trained
    # True where a trained token decides what a reply does next: its first token (a call or
    # text) and the first one after each call closes (another call, or the end)
    decisions: list[bool] | None = None

    @property
    def n_trained(self) -> int:
        return sum(self.mask)


def render(tokenizer, template: Template, messages: list[Message], tools: list[Tool] | None = None,
           add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=tools or None, chat_template=template.chat_template, tokenize=False,
        add_generation_prompt=add_generation_prompt)


def trained_char_spans(tokenizer, template: Template, conv: Conversation,
                       loss_on: LossOn = "all") -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the [start, end) character spans of the turns to train."""
    msgs, tools = conv.messages, conv.tools
    full = render(tokenizer, template, msgs, tools)
    assistant_idx = [k for k, m in enumerate(msgs) if m["role"] == "assistant"]
    if loss_on == "last":
        assistant_idx = assistant_idx[-1:]
    elif loss_on == "tool_calls":
        assistant_idx = [k for k in assistant_idx if msgs[k].get("tool_calls")]
    spans = []
    for k in assistant_idx:
        before = render(tokenizer, template, msgs[:k], tools, add_generation_prompt=True)
        through = render(tokenizer, template, msgs[: k + 1], tools)
        if not (full.startswith(through) and through.startswith(before)):
            raise TemplateError(f"template {template.name!r} renders message {k} differently once "
                                "later messages follow; it cannot be trained turn by turn")
        start, end = len(before), len(through)
        # Formats that end a reply with the next role's tag (GLM-4) train that tag as the stop.
        for stop in template.stop_words:
            if full.startswith(stop, end):
                end += len(stop)
                break
        while end > start and full[end - 1].isspace():  # the newline after an end tag isn't trained
            end -= 1
        if end > start:
            spans.append((start, end))
    return full, spans


def decision_chars(text: str, spans: list[tuple[int, int]], template: Template) -> set[int]:
    """Where, in each trained span, the reply decides what comes next: its first character, and
    the first non-space one after each call site (read with the template's own parser) closes."""
    from tooltune.templates.parsers import get_parser

    parser = get_parser(template.parser)
    out = set()
    for start, end in spans:
        out.add(start)
        reply = text[start:end]
        for call in parser.scan(reply):
            if call.span is not None:            # a site's span ends past its closing text
                after = call.span[1]
                while after < len(reply) and reply[after].isspace():
                    after += 1
                out.add(start + after)
    return out


def encode(tokenizer, template: Template, conv: Conversation, loss_on: LossOn = "all",
           cutoff_len: int | None = None) -> Encoded:
    """Token ids of the whole conversation, which of them are trained, and which of those decide."""
    text, spans = trained_char_spans(tokenizer, template, conv, loss_on)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    deciding = decision_chars(text, spans, template)
    mask, decisions, s = [], [], 0
    for a, b in offsets:
        while s < len(spans) and spans[s][1] <= a:
            s += 1
        # A token is trained when it starts inside a trained span (special tokens have a == b).
        trained = s < len(spans) and spans[s][0] <= a < spans[s][1]
        mask.append(trained)
        # a token that covers a deciding character decides (BPE may merge it with what precedes)
        decisions.append(trained and any(c in deciding for c in range(a, max(b, a + 1))))
    if cutoff_len and len(ids) > cutoff_len:
        ids, mask, decisions = ids[:cutoff_len], mask[:cutoff_len], decisions[:cutoff_len]
    return Encoded(ids, mask, decisions)


def render_prompt(tokenizer, template: Template, messages: list[Message],
                  tools: list[Tool] | None = None) -> str:
    """The text a model continues to answer `messages` (serving and evaluation use this)."""
    return render(tokenizer, template, messages, tools, add_generation_prompt=True)


def stop_token_ids(tokenizer, template: Template) -> list[int]:
    """The tokenizer's EOS plus every template stop word that is a single token (generation ends there)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for word in template.stop_words:
        tid = tokenizer.convert_tokens_to_ids(word)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    return ids


def stop_strings(tokenizer, template: Template) -> tuple[str, ...]:
    """The template's stop words that are not one token: generation ends at their text instead."""
    ids = set(stop_token_ids(tokenizer, template))
    return tuple(w for w in template.stop_words if w and tokenizer.convert_tokens_to_ids(w) not in ids)
