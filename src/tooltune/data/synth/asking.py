"""How a person asks for a tool's job in words: the request, the values written into it, the
assistant asking for a missing value, and the reply when no offered tool fits.

Every value a question mentions is the call's value as a person writes it (``values.ValueKind.say``
plus the parameter's unit); a parameter the question does not mention is never in the call.
"""
from __future__ import annotations

from random import Random
from typing import Any, Sequence

from tooltune.data.synth.catalog import Family, ParamSpec
from tooltune.data.synth.questions import slots
from tooltune.data.synth.values import say_list

# (opening, end mark): the verb phrase goes in {vp}
INTROS = {
    "en": (("{Vp}", "."), ("{Vp}", "."), ("Can you {vp}", "?"), ("Please {vp}", "."), ("I need to {vp}", "."),
           ("Help me {vp}", "."), ("Could you {vp}", "?"), ("I'd like to {vp}", "."), ("I want to {vp}", "."),
           ("Hey, can you {vp}", "?"), ("Would you {vp} for me", "?")),
    "zh": (("{vp}", "。"), ("帮我{vp}", "。"), ("请{vp}", "。"), ("能不能帮我{vp}", "？"), ("我想{vp}", "。"),
           ("麻烦{vp}", "。"), ("可以帮我{vp}吗", "？")),
}
PREPOSITIONS = {"city": ("in", "for"), "date": ("on", "for"), "time": ("at",)}
ASK_MISSING = {
    "en": ("Sure, what {label} should I use?", "I can {vp} for you. What is the {label}?",
           "Could you tell me the {label}?", "Happy to help. Which {label} do you mean?",
           "To {vp}, I need the {label}. What is it?"),
    "zh": ("好的，请问{label}是多少？", "可以帮您{vp}。请提供{label}。", "请告诉我{label}。", "没问题，{label}是什么？"),
}
SUPPLY = {
    "en": ("{value}.", "The {label} is {value}.", "It's {value}.", "Oh, sorry: {value}.", "{Label}: {value}."),
    "zh": ("{value}。", "{label}是{value}。", "是{value}。", "不好意思，{label}为{value}。"),
}
CANNOT = {
    "en": ("I'm sorry, but none of the available tools can {vp}. I can only {can}.",
           "I can't {vp} with the tools I have here: they {can3}.",
           "Unfortunately I don't have a tool to {vp}. The functions available to me {can3}.",
           "None of the provided functions can help with that; they {can3}. Is there anything else I can do?"),
    "zh": ("抱歉，现有的工具无法{vp}。我只能{can}。", "很抱歉，我没有可以{vp}的工具。我目前可以{can}。",
           "提供的函数都不能{vp}，它们只能{can}。还有其他需要帮忙的吗？"),
}
ALSO = {"en": ("Then do the same for {rest}.", "Also for {rest}.", "And the same for {rest}, please.",
               "Do that for {rest} too."),
        "zh": ("再查一下{rest}。", "{rest}也一样。", "另外还有{rest}。", "同样帮我处理{rest}。")}
AGAIN = {"en": ("Then do the same {m}.", "And once more {m}.", "Also do it {m}.", "Next, {m}."),
         "zh": ("再按{m}来一次。", "另外，{m}也一样。", "还有一组：{m}。")}
JOIN = {"en": ("{a} {b}", "{a} Also, {b}", "{a} And {b}", "Two things: {a} {b}", "{a} After that, {b}"),
        "zh": ("{a}{b}", "{a}另外，{b}", "{a}还有，{b}", "两件事：{a}{b}")}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(label: str) -> str:
    return ("an " if label[:1].lower() in "aeiou" else "a ") + label


def surface(spec: ParamSpec, value: Any, rng: Random, lang: str) -> str:
    """A value as the user writes it, with its unit."""
    kind = spec.value_kind
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    text = kind.say(value, rng, lang)
    unit = (spec.unit or {}).get(lang)
    if not unit:
        return text
    if unit == "%":
        return text + "%"
    if unit == "dollars" and rng.random() < 0.5 and text.replace(",", "").replace(".", "").isdigit():
        return "$" + text
    return text + unit if lang == "zh" else f"{text} {unit}"


def _spoken_label(label: str, rng: Random, lang: str) -> str:
    """People shorten a four-character Chinese compound to its head noun (课程成绩 -> 成绩)."""
    if lang == "zh" and len(label) == 4 and all("\u4e00" <= ch <= "\u9fff" for ch in label) and rng.random() < 0.3:
        return label[2:]
    return label


def _mention(spec: ParamSpec, said: str, style: str, rng: Random, lang: str, first: bool) -> str:
    label = _spoken_label(spec.label[lang], rng, lang)
    if lang == "zh":
        if said[:1].isascii() and rng.random() < 0.3:  # "成绩是 A, B": a space before Latin text, as many type
            said = " " + said
        return rng.choice((f"{label}为{said}", f"{label}是{said}", f"{label}{said}"))
    if spec.value_kind.schema.get("type") == "boolean":
        return f"{label}: {said}"
    if style == "is":
        verb = "are" if spec.value_kind.schema.get("type") == "array" and label.endswith("s") else "is"
        return f"{rng.choice(('the ', '', 'my '))}{label} {verb} {said}"
    if style == "colon":
        return f"{label}: {said}"
    if isinstance(spec.kind, str) and spec.kind in PREPOSITIONS and label.split()[-1] in ("city", "location", "place", "date", "time"):
        return f"{rng.choice(PREPOSITIONS[spec.kind])} {said}"
    if spec.value_kind.schema.get("type") == "array":  # "numbers 3, 4 and 5", not "a numbers of"
        return ("with " if first else "") + rng.choice((f"{label} {said}", f"the {label} {said}"))
    return ("with " if first else "") + rng.choice((f"{_article(label)} of {said}", f"{label} {said}", f"the {label} {said}"))


def _join(parts: Sequence[str], rng: Random, lang: str) -> str:
    if lang == "zh":
        return "，".join(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + rng.choice((" and ", ", and ")) + parts[-1]


def _with_values(specs: dict[str, ParamSpec], said: dict[str, str], rng: Random, lang: str) -> list[str]:
    """The values as "with a base of 3, the height 4": "with" once, before the first mention
    that is not a preposition's ("in Paris")."""
    ms, first = [], True
    for k, v in said.items():
        m = _mention(specs[k], v, "of", rng, lang, first)
        first = first and not m.startswith("with ")
        ms.append(m)
    return ms


# How often a request only states its values ("我的成绩是 A, B，学时是 3, 4"): the job is left to
# be read off the offered tool, as the reference article's own question does.
IMPLICIT_RATE = 0.15
# How often a family with questions of its own (questions.py) is asked in them, not in its
# description's words: a tool is picked by what a request means, not by the words it shares.
OWN_WORDS_RATE = 0.5


def _own_words(family: Family, said: dict[str, str], rng: Random, lang: str) -> str | None:
    forms = [f for f in family.asks.get(lang, ()) if slots(f) <= said.keys()]
    if not forms:
        return None
    form = rng.choice(forms)
    named = slots(form)
    text = form.format(**{k: said[k] for k in named})
    specs = {p.name: p for p in family.params}
    rest = [_mention(specs[k], v, "is", rng, lang, False) for k, v in said.items() if k not in named]
    if not rest:
        return text
    if lang == "zh":
        return text + "，".join(rest) + "。"
    return text + " " + _cap(_join(rest, rng, lang)) + "."


def request(family: Family, said: dict[str, str], rng: Random, lang: str, implicit: bool = True) -> str:
    """The user's words asking for `family`'s job with `said` (spec name -> value as written).
    `implicit` lets a request of two or more values leave the job unsaid; a request no offered
    tool serves passes False, since there the unsaid job would be a guess."""
    if family.asks.get(lang) and rng.random() < OWN_WORDS_RATE and (own := _own_words(family, said, rng, lang)):
        return own
    vp = family.does[lang]
    opening, end = rng.choice(INTROS[lang])
    intro = opening.format(vp=vp, Vp=_cap(vp))
    specs = {p.name: p for p in family.params}
    if not said:
        return intro + end
    # Chinese typists mix half- and full-width commas ("A, A, B, C,学时是 3"): a list's end is
    # then read off the next label, not the comma (the article's own question; it made the
    # general agent run `grades` on to 7 items, P(close) 0.25 after ",", 0.98 after "，").
    comma = rng.choice(("，", "，", "，", ",", ", ")) if lang == "zh" else ", "
    if implicit and len(said) >= 2 and rng.random() < IMPLICIT_RATE:
        ms = [_mention(specs[k], v, "is", rng, lang, False) for k, v in said.items()]
        if lang == "zh":
            return "我的" + comma.join(ms) + "。"
        return _cap(_join(ms, rng, lang)) + "."
    if lang == "zh":
        ms = [_mention(specs[k], v, "", rng, lang, False) for k, v in said.items()]
        if rng.random() < 0.3:
            return f"{comma.join(ms)}{comma}{intro}{end}"
        return f"{intro}{comma}{comma.join(ms)}{end}"
    layout = rng.random()
    if layout < 0.6:
        return f"{intro} {_join(_with_values(specs, said, rng, lang), rng, lang)}{end}"
    if layout < 0.85:
        ms = [_mention(specs[k], v, "is", rng, lang, False) for k, v in said.items()]
        return f"{_cap(_join(ms, rng, lang))}. {intro}{end}"
    ms = [_mention(specs[k], v, "colon", rng, lang, False) for k, v in said.items()]
    return f"{intro}{end} " + "; ".join(_cap(m) for m in ms) + "."


def also(said_rest: list[str], rng: Random, lang: str) -> str:
    return rng.choice(ALSO[lang]).format(rest=say_list(said_rest, rng, lang))


def again(family: Family, said: dict[str, str], rng: Random, lang: str) -> str:
    """The same job once more with other values: "Then do the same with a weight of 60 kg and
    height 160 cm." (every value of the call said again)."""
    ms = _with_values({p.name: p for p in family.params}, said, rng, lang)
    return rng.choice(AGAIN[lang]).format(m=_join(ms, rng, lang))


def join_requests(parts: Sequence[str], rng: Random, lang: str) -> str:
    text = parts[0]
    for p in parts[1:]:
        b = p if lang == "zh" else (p[:1].lower() + p[1:] if rng.random() < 0.5 and not p.startswith("I") else p)
        text = rng.choice(JOIN[lang]).format(a=text, b=b)
    return text


def ask_missing(family: Family, spec: ParamSpec, rng: Random, lang: str) -> str:
    return rng.choice(ASK_MISSING[lang]).format(label=spec.label[lang], vp=family.does[lang])


def supply(spec: ParamSpec, said: str, rng: Random, lang: str) -> str:
    label = spec.label[lang]
    return rng.choice(SUPPLY[lang]).format(value=said, label=label, Label=_cap(label))


def cannot(wanted: Family, offered: Sequence[Family], rng: Random, lang: str) -> str:
    can = [f.does[lang] for f in offered]
    joined = "、".join(can) if lang == "zh" else _join(can, rng, lang)
    can3 = "can " + joined if lang == "en" else joined
    return rng.choice(CANNOT[lang]).format(vp=wanted.does[lang], can=joined, can3=can3)
