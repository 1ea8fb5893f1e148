"""One tool family -> many tool schemas: the same meaning under different function names, parameter
names, descriptions, defaults and optional parameters, as different APIs would write it. A model
trained on one spelling of each tool learns the spelling; trained on many, it learns to read the
schema."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from random import Random
from typing import Any

from tooltune.data.synth.catalog import Family, ParamSpec

VARIANTS_PER_FAMILY = 8

SYNONYMS = {"calculate": ("compute", "calc", "get"), "get": ("fetch", "retrieve", "lookup"),
            "find": ("search", "get", "lookup"), "search": ("find", "query", "list"),
            "create": ("add", "new", "make"), "cancel": ("delete", "remove", "void"),
            "update": ("edit", "modify", "change"), "convert": ("transform", "change"),
            "send": ("post", "deliver"), "estimate": ("predict", "calculate"), "book": ("reserve",),
            "set": ("configure", "update"), "count": ("tally", "get"), "check": ("verify", "get")}


@dataclass(frozen=True)
class ToolVariant:
    family: Family
    index: int
    tool: dict                      # OpenAI tool schema
    params: dict[str, ParamSpec]    # schema's parameter name -> the family's spec

    @property
    def name(self) -> str:
        return self.tool["function"]["name"]

    def key_of(self, spec_name: str) -> str:
        return next(k for k, p in self.params.items() if p.name == spec_name)


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _function_name(family: Family, rng: Random, index: int) -> str:
    words = family.name.split("_")
    if index == 0:
        return family.name
    style = rng.choice(("synonym", "namespace", "camel", "short", "namespace_camel", "synonym"))
    if style == "synonym" and words[0] in SYNONYMS:
        words = [rng.choice(SYNONYMS[words[0]])] + words[1:]
    elif style == "namespace":
        words = [family.domain] + (words[1:] if len(words) > 2 and rng.random() < 0.5 else words)
    elif style == "short" and len(words) > 2 and words[0] in ("calculate", "get", "find"):
        words = words[1:]
    if style in ("camel", "namespace_camel"):
        if style == "namespace_camel":
            return family.domain + "_" + _camel(words)
        return _camel(words)
    return "_".join(words)


def _param_name(spec: ParamSpec, camel: bool) -> str:
    return _camel(spec.name.split("_")) if camel else spec.name


def _describe_param(spec: ParamSpec, rng: Random, default: Any) -> str:
    label = spec.label["en"]
    text = rng.choice((f"The {label}", f"The {label}", label[0].upper() + label[1:], f"{label.capitalize()} to use"))
    unit = spec.unit["en"] if spec.unit else None
    if unit and unit not in ("%",):
        text += f" in {unit}"
    elif unit == "%":
        text += " as a percentage"
    kind = spec.value_kind
    if kind.schema.get("format") == "date":
        text += ", in the format YYYY-MM-DD"
    elif spec.kind == "time":
        text += " (HH:MM, 24-hour clock)"
    elif kind.schema.get("type") == "string" and "enum" not in kind.schema and rng.random() < 0.35:
        example = kind.sample(Random(f"{spec.name}-example"), "en")
        text += f", e.g. {example}"
    if default is not None and rng.random() < 0.6:
        text += f". Default is {default}" if not isinstance(default, bool) else f". Default is {str(default).lower()}"
    return text + "."


def _default_for(spec: ParamSpec, rng: Random) -> Any:
    schema = spec.value_kind.schema
    if "enum" in schema:
        return schema["enum"][0]
    return {"boolean": False, "integer": None, "number": None}.get(schema.get("type"))


# Other verbs for a description's first word: requests say "calculate", the schema may say
# "determine", so the model matches a request to a tool by meaning, not by a shared word.
REWORDINGS = {"calculate": ("compute", "determine", "work out"), "compute": ("calculate", "determine"),
              "get": ("retrieve", "return", "fetch"), "find": ("look up", "return", "determine"),
              "search for": ("look for", "find"), "search": ("look through", "query"),
              "check": ("verify", "look up"), "estimate": ("approximate", "predict"),
              "look up": ("find", "retrieve"), "list": ("return", "give"), "create": ("make", "add"),
              "cancel": ("call off", "delete"), "convert": ("change", "translate"),
              "recommend": ("suggest",), "count": ("tally",), "send": ("deliver",)}


def _reworded(does: str, rng: Random) -> str:
    for verb in sorted(REWORDINGS, key=len, reverse=True):
        if does.startswith(verb + " "):
            return rng.choice(REWORDINGS[verb]) + does[len(verb):]
    return does


def _description(family: Family, rng: Random, params: list[ParamSpec], index: int) -> str:
    does = family.does["en"]
    if index > 0 and rng.random() < 0.5:
        does = _reworded(does, rng)
    head = does[0].upper() + does[1:]
    req = [p.label["en"] for p in params if p.required]
    forms = [f"{head}.", f"{head}."]
    if req:
        given = ", ".join(req[:-1]) + (" and " if len(req) > 1 else "") + req[-1]
        forms += [f"{head} given the {given}.", f"{head} based on the {given}."]
    verb = does.split()[0]
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        third = verb[:-1] + "ies"   # query -> queries
    else:
        third = verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s")
    forms.append(f"{third.capitalize()} {does[len(verb) + 1:]}.")
    return rng.choice(forms)


def make_variant(family: Family, index: int) -> ToolVariant:
    """The `index`-th schema of `family` (index 0 is the plain spelling), the same every time."""
    if family.schema is not None:  # the user's own tool: offered exactly as they wrote it
        return ToolVariant(family, 0, copy.deepcopy(family.schema), {p.name: p for p in family.params})
    rng = Random(f"tooltune-variant:{family.id}:{index}")
    camel = index > 0 and rng.random() < 0.25
    specs = [p for p in family.params if p.required or index == 0 or rng.random() < 0.8]
    props: dict[str, dict] = {}
    by_name: dict[str, ParamSpec] = {}
    for spec in specs:
        key = _param_name(spec, camel)
        schema = copy.deepcopy(spec.value_kind.schema)
        default = None if spec.required else _default_for(spec, rng)
        schema["description"] = _describe_param(spec, rng, default)
        if default is not None and rng.random() < 0.5:
            schema["default"] = default
        props[key], by_name[key] = schema, spec
    params = {"type": "object", "properties": props,
              "required": [k for k, s in by_name.items() if s.required]}
    tool = {"type": "function", "function": {"name": _function_name(family, rng, index),
                                             "description": _description(family, rng, specs, index),
                                             "parameters": params}}
    return ToolVariant(family, index, tool, by_name)
