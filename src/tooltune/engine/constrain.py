"""Grammar-constrained decoding (xgrammar): valid tool calls and JSON replies by construction.

`tool_choice: "required"` or a named function must produce a call the template's own parser
reads back, in exactly the layout the model was trained on. That layout is never hand-coded:
it is cut out of the template's own rendering of probe conversations (see `_layout`), so every
family, present or future, gets its literal text, name quoting and separators from its Jinja.
The grammar is then a structural tag: literal head + the tool's parameters schema (compiled to
EBNF with the template's JSON separators), one alternative per tool, repeated with the
template's between-calls text when parallel calls are allowed, then the literal tail.
For `auto` with strict tools the same calls become a triggered tag: free text until the text
that opens a call, then calls as above up to the text that closes them.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

import xgrammar as xgr

from tooltune.errors import UserError
from tooltune.templates.registry import Template
from tooltune.templates.render import render

_USER = [{"role": "user", "content": "Hello"}]
_ARGS = "__TOOLTUNE_ARGS_{}__"
_ARGS_RE = re.compile(r"__TOOLTUNE_ARGS_\d+__")
_DEFAULT_SEPARATORS = (", ", ": ")
# xgrammar 0.2.8 lets length-bounded JSON strings hold raw control characters (invalid JSON).
_BOUNDED_CHAR, _SAFE_CHAR = r'[^\"\\\r\n]', r'[^\0-\x1f\"\\]'


# A reply that loops inside a grammar: the last LOOP_MIN_TOKENS tokens (or two whole periods,
# when the period is longer) repeat one block of at most LOOP_MAX_PERIOD tokens. A small model
# held to `tool_choice: required` otherwise fills an array ("A","B",...,"Z","A",...) or repeats
# its call until max_tokens. Legitimate repeats ("A", "A", "B") are far shorter than this.
LOOP_MIN_TOKENS, LOOP_MAX_PERIOD = 24, 128


def loops(tokens: list[int]) -> bool:
    """Whether `tokens` end in a repeated block (see LOOP_MIN_TOKENS)."""
    n = len(tokens)
    for period in range(1, min(LOOP_MAX_PERIOD, n // 2) + 1):
        span = max(LOOP_MIN_TOKENS, 2 * period)
        if span <= n and tokens[n - span:n - period] == tokens[n - span + period:]:
            return True
    return False


class GrammarConstraint:
    """One sequence's grammar state: the engine's per-sequence `Constraint`.

    Once the reply loops, it is steered to its end: where the grammar allows a stop token or a
    token that closes a string, array or object, only those are allowed, so the call ends within
    a few tokens as valid JSON instead of at max_tokens."""

    def __init__(self, compiled, vocab_size: int, closing=None):
        self._matcher = xgr.GrammarMatcher(compiled)
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self._vocab_size = vocab_size
        self._closing = closing          # bool[vocab]: tokens that end a JSON value or the reply
        self._tokens: list[int] = []
        self.finishing = False

    def apply(self, logits_row) -> None:
        if self._matcher.is_terminated():
            return
        if logits_row.shape[-1] > self._vocab_size:  # padding rows beyond the tokenizer's vocab
            logits_row[self._vocab_size:] = float("-inf")
        if not self._matcher.fill_next_token_bitmask(self._bitmask):
            return  # every token is allowed
        mask = self._bitmask[0]
        if self.finishing and self._closing is not None:
            ending = _unpack(mask, self._vocab_size) & self._closing
            if bool(ending.any()):
                logits_row[: self._vocab_size][~ending.to(logits_row.device)] = float("-inf")
                return
        if mask.device != logits_row.device:
            mask = mask.to(logits_row.device, non_blocking=True)
        xgr.apply_token_bitmask_inplace(logits_row, mask,
                                        vocab_size=min(self._vocab_size, logits_row.shape[-1]))

    def accept(self, token_id: int) -> None:
        if not self._matcher.accept_token(int(token_id)):
            raise ValueError(f"token {token_id} is not allowed by the grammar")
        if self._closing is not None and not self.finishing:
            self._tokens.append(int(token_id))
            self.finishing = loops(self._tokens)

    def is_done(self) -> bool:
        return self._matcher.is_terminated()


def _unpack(mask, vocab_size: int):
    """xgrammar's int32 bitmask (bit j of word i: token 32*i + j) as bool[vocab_size]."""
    import torch

    bits = torch.arange(32, dtype=torch.int32)
    return ((mask.unsqueeze(-1) >> bits) & 1).bool().flatten()[:vocab_size]


@dataclass
class ConstraintFactory:
    """A grammar compiled once per request; `make()` gives each sequence its own matcher."""
    compiled: object
    vocab_size: int
    closing: object = None

    def make(self) -> GrammarConstraint:
        return GrammarConstraint(self.compiled, self.vocab_size, self.closing)


@dataclass(eq=False)
class Compiler:
    """An xgrammar compiler for one tokenizer, plus what rendering probes needs (the tokenizer)."""
    tokenizer: object
    vocab_size: int
    xgr_compiler: object
    layouts: dict = field(default_factory=dict)
    stop_token_ids: tuple[int, ...] = ()
    _closing: object = None

    def closing(self):
        """bool[vocab]: stop tokens and tokens whose text begins by closing a JSON string,
        array or object: where a looping reply is steered (see GrammarConstraint)."""
        if self._closing is None:
            import torch

            closing = torch.zeros(self.vocab_size, dtype=torch.bool)
            for token_id in range(min(len(self.tokenizer), self.vocab_size)):
                if self.tokenizer.decode([token_id]).lstrip(" ")[:1] in ('"', "]", "}"):
                    closing[token_id] = True
            closing[[t for t in self.stop_token_ids if t < self.vocab_size]] = True
            self._closing = closing
        return self._closing


_COMPILERS: dict[tuple, Compiler] = {}
_LOCK = threading.Lock()


def grammar_compiler(tokenizer, vocab_size: int, stop_token_ids: list[int]) -> Compiler:
    """The compiler for `tokenizer` (cached): `vocab_size` is the model's logits width."""
    key = (id(tokenizer), vocab_size, tuple(sorted(set(stop_token_ids))))
    with _LOCK:
        if key not in _COMPILERS:
            info = xgr.TokenizerInfo.from_huggingface(
                tokenizer, vocab_size=vocab_size, stop_token_ids=list(key[2]))
            threads = max(1, min(8, os.cpu_count() or 1))
            _COMPILERS[key] = Compiler(tokenizer, vocab_size,
                                       xgr.GrammarCompiler(info, max_threads=threads), stop_token_ids=key[2])
        return _COMPILERS[key]


# ---- layouts, cut out of the template's own rendering ----

@dataclass(frozen=True)
class _Layout:
    heads: tuple[str, ...]        # text before tool i's arguments when it is the first call
    mids: tuple[str, ...] | None  # ... when it follows another call (None: no repetition)
    tails: tuple[str, ...]        # text after tool i's arguments when it is the last call
    separators: tuple[str, str]   # JSON item and key separators the template renders


def _reply(c: Compiler, template: Template, names: list[str], arguments=None) -> str:
    """The assistant reply making these calls, as the template renders it, minus its end tag."""
    tools = [{"type": "function", "function": {"name": n}} for n in dict.fromkeys(names)]
    calls = [{"type": "function", "function": {
        "name": n, "arguments": _ARGS.format(k) if arguments is None else arguments}}
        for k, n in enumerate(names)]
    before = render(c.tokenizer, template, _USER, tools, add_generation_prompt=True)
    full = render(c.tokenizer, template,
                  _USER + [{"role": "assistant", "content": "", "tool_calls": calls}], tools)
    if not full.startswith(before):
        raise UserError(f"template {template.name!r} renders a reply that does not continue its "
                        "generation prompt; it cannot constrain tool calls")
    body = full[len(before):].rstrip()
    for end in (*template.stop_words, getattr(c.tokenizer, "eos_token", None)):
        if end and body.endswith(end):  # the engine stops on these: the grammar ends before
            return body[: -len(end)]
    return body


def _layout(c: Compiler, template: Template, names: tuple[str, ...]) -> _Layout:
    key = (template, names)
    if key in c.layouts:
        return c.layouts[key]
    heads, tails = [], []
    for name in names:
        pieces = _ARGS_RE.split(_reply(c, template, [name]))
        if len(pieces) != 2:
            raise UserError(f"template {template.name!r} does not render tool-call arguments "
                            "verbatim; it cannot constrain tool calls")
        heads.append(pieces[0])
        tails.append(pieces[1])
    # Two or more calls: [t0, t0, t1, ...] gives the text before each tool as a later call.
    pieces = _ARGS_RE.split(_reply(c, template, [names[0], *names]))
    mids = None
    if (len(pieces) == len(names) + 2 and pieces[0] == heads[0]
            and all(t == pieces[-1] for t in tails)):
        mids = tuple(pieces[1:-1])
    seps = _DEFAULT_SEPARATORS
    probe = _reply(c, template, [names[0]], {"k": 0, "l": 0})
    if m := re.search(r'"k"(\s*:\s*)0(\s*,\s*)"l"', probe):
        seps = (m.group(2), m.group(1))
    layout = _Layout(tuple(heads), mids, tuple(tails), seps)
    if len(c.layouts) > 256:
        c.layouts.clear()
    c.layouts[key] = layout
    return layout


# ---- grammars ----

def _schema_ebnf(schema: dict, separators: tuple[str, str], strict: bool = True) -> str:
    grammar = xgr.Grammar.from_json_schema(schema, any_whitespace=False, separators=separators,
                                           strict_mode=strict)
    return str(grammar).replace(_BOUNDED_CHAR, _SAFE_CHAR)


def _error_text(e: Exception) -> str:
    # xgrammar's C++ errors read "[12:00:00] /project/cpp/file.cc:123: message".
    return re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", str(e).strip()) or type(e).__name__


def _is_empty(params) -> bool:
    """Parameters that admit no keys: the call's arguments are exactly `{}`."""
    if not params:
        return True
    content = ("properties", "patternProperties", "additionalProperties", "anyOf", "oneOf",
               "allOf", "$ref", "items", "enum", "const")
    return params.get("type", "object") == "object" and not any(params.get(k) for k in content)


def _args_format(fn: dict, separators: tuple[str, str]) -> dict:
    params = fn.get("parameters")
    if _is_empty(params):
        return {"type": "const_string", "value": "{}"}
    if not isinstance(params, dict) or params.get("type", "object") != "object":
        raise UserError(f"tool {fn.get('name')!r}: parameters must be a JSON schema of an object")
    try:
        return {"type": "grammar", "grammar": _schema_ebnf(params, separators)}
    except Exception as e:  # xgrammar raises RuntimeError/ValueError for schemas it can't compile
        raise UserError(f"tool {fn.get('name')!r}: its parameters JSON schema cannot be used "
                        f"for constrained decoding: {_error_text(e)}") from e


def _seq(*elements) -> dict:
    return {"type": "sequence", "elements": list(elements)}


def _lit(text: str) -> dict:
    return {"type": "const_string", "value": text}


def _either(elements: list[dict]) -> dict:
    return elements[0] if len(elements) == 1 else {"type": "or", "elements": elements}


def tool_call_constraint(compiler: Compiler, template: Template, tools: list[dict],
                         tool_choice: str | dict, parallel_tool_calls: bool = True
                         ) -> ConstraintFactory:
    """Calls of the offered tools, in the template's layout: `"required"` forces one call (or
    several when parallel), a named function exactly one call of that tool."""
    offered = _offered(tools)
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        chosen = [f for f in offered if f["name"] == name][:1]
        if not chosen:
            raise UserError(f"tool_choice names function {name!r}, which is not in `tools` "
                            f"(offered: {', '.join(f['name'] for f in offered)})")
        parallel = False
    elif tool_choice == "required":
        chosen = list({f["name"]: f for f in offered}.values())
        parallel = parallel_tool_calls
    else:
        raise UserError(f"tool_choice {tool_choice!r} does not constrain the reply")
    layout = _layout(compiler, template, tuple(f["name"] for f in chosen))
    args = [_args_format(f, layout.separators) for f in chosen]
    if parallel and layout.mids is not None:
        fmt = _seq(_calls(layout, args), _lit(layout.tails[0]))
    else:
        fmt = _either([_seq(_lit(h), a, _lit(t))
                       for h, a, t in zip(layout.heads, args, layout.tails)])
    return _compile(compiler, fmt)


def strict_tool_call_constraint(compiler: Compiler, template: Template, tools: list[dict],
                                parallel_tool_calls: bool = True) -> ConstraintFactory:
    """`tool_choice: "auto"` with strict tools: the reply is free until it opens a call with the
    text every call of the template begins with (`<tool_call>` for Hermes, `[TOOL_CALLS]` for
    Mistral); from there on it is calls of offered tools, arguments fitting their schemas, in the
    trained layout, up to the calls' closing text. Free text may follow."""
    chosen = list({f["name"]: f for f in _offered(tools)}.values())
    layout = _layout(compiler, template, tuple(f["name"] for f in chosen))
    opener = re.match(r"\s*\S+", os.path.commonprefix(list(layout.heads)))
    if opener is None or len(set(layout.tails)) != 1 or not layout.tails[0].strip():
        raise UserError(f"template {template.name!r} has no fixed text that opens and closes its tool "
                        "calls; strict tools need tool_choice required or a named function")
    trigger, n = opener.group(0), len(opener.group(0))
    args = [_args_format(f, layout.separators) for f in chosen]
    parallel = parallel_tool_calls and layout.mids is not None
    heads = _Layout(tuple(h[n:] for h in layout.heads), layout.mids, layout.tails, layout.separators)
    content = _calls(heads, args) if parallel else _either([_seq(_lit(h), a) for h, a in zip(heads.heads, args)])
    # The tag ends with the calls' closing text: xgrammar needs a non-empty end after content
    # of unbounded length.
    fmt = {"type": "triggered_tags", "triggers": [trigger], "at_least_one": False, "stop_after_first": not parallel,
           "tags": [{"type": "tag", "begin": trigger, "content": content, "end": layout.tails[0]}]}
    return _compile(compiler, fmt)


def _offered(tools: list[dict] | None) -> list[dict]:
    fns = [t.get("function", t) if isinstance(t, dict) else {} for t in tools or []]
    offered = [f for f in fns if isinstance(f.get("name"), str) and f["name"]]
    if not offered:
        raise UserError("tool_choice needs at least one tool in `tools`")
    return offered


def _calls(layout: _Layout, args: list[dict]) -> dict:
    """One call of any tool, then any number more (parallel calls), without the closing text."""
    return _seq(_either([_seq(_lit(h), a) for h, a in zip(layout.heads, args)]),
                {"type": "star", "content": _either([_seq(_lit(m), a) for m, a in zip(layout.mids, args)])})


def _compile(compiler: Compiler, fmt: dict) -> ConstraintFactory:
    try:
        compiled = compiler.xgr_compiler.compile_structural_tag({"type": "structural_tag", "format": fmt})
    except Exception as e:
        raise UserError(f"the tools' schemas cannot be used for constrained decoding: "
                        f"{_error_text(e)}") from e
    return ConstraintFactory(compiled, compiler.vocab_size, compiler.closing())


def json_constraint(compiler: Compiler, schema: dict | None) -> ConstraintFactory:
    """A reply that is one JSON value matching `schema`; None means any JSON object."""
    try:
        if schema is None:
            ebnf = _schema_ebnf({"type": "object"}, _DEFAULT_SEPARATORS, strict=False)
        elif not isinstance(schema, dict):
            raise ValueError("the schema must be a JSON object")
        else:
            ebnf = _schema_ebnf(schema, _DEFAULT_SEPARATORS)
        compiled = compiler.xgr_compiler.compile_grammar(xgr.Grammar.from_ebnf(ebnf))
    except Exception as e:
        raise UserError(f"response_format: the JSON schema cannot be used for constrained "
                        f"decoding: {_error_text(e)}") from e
    return ConstraintFactory(compiled, compiler.vocab_size)
