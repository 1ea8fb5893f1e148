"""One definition per model family: its Jinja chat template, tool-call parser and stop words.

Training renders with the template, serving renders with it and export writes it into the
tokenizer, so the tokens a model was trained on are the tokens it is served with.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from tooltune.errors import UserError


@dataclass(frozen=True)
class Template:
    name: str
    parser: str                     # a name in tooltune.templates.parsers
    stop_words: tuple[str, ...]     # generation ends at any of these (besides the tokenizer's EOS)
    description: str = ""

    @property
    def chat_template(self) -> str:
        return _read_jinja(self.name)


@lru_cache
def _read_jinja(name: str) -> str:
    return resources.files("tooltune.templates").joinpath(f"jinja/{name}.jinja").read_text("utf-8")


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("chatml", "hermes", ("<|im_end|>",), "ChatML (SmolLM2, Qwen, Yi) with Hermes tool calls"),
    Template("gemma", "hermes", ("<end_of_turn>",), "Gemma 2/3 turns with Hermes tool calls"),
    Template("llama3", "llama3_json", ("<|eot_id|>", "<|eom_id|>"), "Llama 3.x with JSON tool calls"),
    Template("mistral", "mistral", ("</s>",), "Mistral v3 with [TOOL_CALLS]"),
    Template("glm4", "glm4", ("<|user|>", "<|observation|>"), "GLM-4 with name-then-JSON calls"),
    Template("default", "hermes", (), "Plain Human/Assistant turns for base models"),
)}

# LLaMA-Factory's template names, so its configs run unchanged.
ALIASES = {
    "qwen": "chatml", "qwen2": "chatml", "qwen2_5": "chatml", "qwen3": "chatml", "yi": "chatml",
    "smollm": "chatml", "smollm2": "chatml", "hermes": "chatml",
    "gemma2": "gemma", "gemma3": "gemma", "llama3": "llama3", "llama3.1": "llama3",
    "llama3_2": "llama3", "mistral": "mistral", "ministral": "mistral", "glm4": "glm4",
    "empty": "default", "vanilla": "default", "alpaca": "default",
}


def get_template(name: str) -> Template:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in TEMPLATES:
        return TEMPLATES[key]
    known = sorted(set(TEMPLATES) | set(ALIASES))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown template {name!r}.{hint} Known: {', '.join(known)}")
