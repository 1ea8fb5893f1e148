"""Tool families from real Python functions: documented functions of the standard library (their
schema from the signature and docstring, their results from running them), and the user's own
tools, whose parameters get values that fit them (enums, names, descriptions, examples).
"""
from __future__ import annotations

import calendar
import difflib
import functools
import html
import inspect
import math
import re
import shlex
import statistics
import string
import textwrap
import urllib.parse
from typing import Any, Callable, Sequence

from tooltune.data.synth import values as V
from tooltune.data.synth.catalog import Family, ParamSpec

# module.function | does (en) | does (zh) | param:kind:label|中文 ... (the signature's own names)
LIBRARY = """
math.factorial | calculate the factorial of a number | 计算一个数的阶乘 | n:int_small:number|数
math.comb | count the ways to choose k items from n | 计算从n个里选k个的组合数 | n:int_medium:number of items|总数, k:int_small:number chosen|选取个数
math.perm | count the ordered arrangements of k items out of n | 计算从n个里取k个的排列数 | n:int_medium:number of items|总数, k:int_small:number arranged|选取个数
math.isqrt | find the integer square root of a number | 求一个数的整数平方根 | n:int_large:number|数
math.sqrt | calculate the square root of a number | 计算一个数的平方根 | x:int_large:number|数
math.cbrt | calculate the cube root of a number | 计算一个数的立方根 | x:int_large:number|数
math.degrees | convert an angle from radians to degrees | 把弧度换算成角度 | x:rate_percent:angle in radians|弧度
math.radians | convert an angle from degrees to radians | 把角度换算成弧度 | x:int_large:angle in degrees|角度
math.log10 | calculate the base-10 logarithm of a number | 计算一个数以10为底的对数 | x:int_large:number|数
math.log2 | calculate the base-2 logarithm of a number | 计算一个数以2为底的对数 | x:int_large:number|数
math.dist | compute the Euclidean distance between two points | 计算两点之间的欧氏距离 | p:credit_list:first point|第一个点, q:credit_list:second point|第二个点
math.fsum | add up a list of numbers exactly | 精确地求一组数的和 | seq:number_list:numbers|数字
statistics.mean | calculate the mean of some data | 计算一组数据的平均值 | data:number_list:data|数据
statistics.median | find the median of some data | 求一组数据的中位数 | data:number_list:data|数据
statistics.mode | find the most common value in some data | 找出一组数据中出现最多的值 | data:score_list:data|数据
statistics.stdev | calculate the sample standard deviation of some data | 计算一组数据的样本标准差 | data:number_list:data|数据
statistics.pstdev | calculate the population standard deviation of some data | 计算一组数据的总体标准差 | data:number_list:data|数据
statistics.variance | calculate the sample variance of some data | 计算一组数据的样本方差 | data:number_list:data|数据
statistics.harmonic_mean | calculate the harmonic mean of some data | 计算一组数据的调和平均数 | data:price_list:data|数据
statistics.geometric_mean | calculate the geometric mean of some data | 计算一组数据的几何平均数 | data:price_list:data|数据
statistics.quantiles | split some data into quantiles | 计算一组数据的分位数 | data:number_list:data|数据, n?:int_small:number of groups|分组数
statistics.correlation | compute the correlation between two series | 计算两组数据的相关系数 | x:score_list:first series|第一组数据, y:score_list:second series|第二组数据
statistics.linear_regression | fit a straight line through two series | 对两组数据做线性回归 | x:score_list:x values|自变量, y:score_list:y values|因变量
calendar.isleap | check whether a year is a leap year | 判断某一年是不是闰年 | year:year:year|年份
calendar.leapdays | count the leap years between two years | 计算两个年份之间有多少个闰年 | y1:year:first year|起始年份, y2:year:last year|结束年份
calendar.monthrange | find the first weekday and the number of days of a month | 查询某个月的第一天是星期几以及有多少天 | year:year:year|年份, month:month:month|月份
calendar.weekday | find the day of the week of a date | 查询某天是星期几 | year:year:year|年份, month:month:month|月份, day:days:day|日
textwrap.shorten | shorten a text to a given width | 把一段文字缩短到指定长度 | text:sentence:text|文本, width:int_medium:width|长度
string.capwords | capitalize every word of a text | 把一段文字里每个单词的首字母大写 | s:sentence:text|文本
html.escape | escape a text for use in HTML | 把一段文字转义成HTML | s:sentence:text|文本
urllib.parse.quote | percent-encode a text for a URL | 把一段文字做URL编码 | string:keyword:text|文本
difflib.get_close_matches | find the closest matches to a word in a list | 在一个列表里找和某个词最接近的词 | word:first_name:word|词, possibilities:tag_list:candidates|候选词, n?:int_small:how many matches|返回个数
shlex.split | split a command line into its words | 把命令行拆分成单词 | s:sentence:command line|命令行
"""
_MODULES = {m.__name__: m for m in (math, statistics, calendar, textwrap, string, html, urllib.parse, difflib, shlex)}


def _first_line(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0].replace("\n", " ").strip()
    return text if text.endswith(".") else text + "."


def _keyword_call(fn: Callable) -> Callable:
    """Call `fn` by keyword even where its parameters are positional-only (most of math)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    positional = [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_ONLY]

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        args = [kwargs.pop(name) for name in positional if name in kwargs]
        return fn(*args, **kwargs)
    return run


def _schema(name: str, description: str, params: Sequence[ParamSpec]) -> dict:
    props = {}
    for p in params:
        schema = dict(p.value_kind.schema)
        schema["description"] = p.label["en"][:1].upper() + p.label["en"][1:] + "."
        props[p.name] = schema
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": props, "required": [p.name for p in params if p.required]}}}


@functools.lru_cache(maxsize=1)
def library_families() -> tuple[Family, ...]:
    """The standard library's documented functions as tools (skipped where this Python lacks one)."""
    from tooltune.data.synth.catalog import _params

    out = []
    for line in filter(None, (l.strip() for l in LIBRARY.strip().splitlines())):
        qual, en, zh, spec = (p.strip() for p in line.split("|", 3))
        module, _, attr = qual.rpartition(".")
        fn = getattr(_MODULES[module], attr, None)
        if fn is None:
            continue
        params = _params(spec)
        name = qual.replace(".", "_")
        out.append(Family(f"library.{qual}", module.split(".")[0], name, {"en": en, "zh": zh}, params,
                          function=_keyword_call(fn), schema=_schema(name, _first_line(fn.__doc__), params)))
    return tuple(out)


# --------------------------------------------------------------------------- the user's tools

_NAME_HINTS: tuple[tuple[str, str], ...] = (
    (r"e-?mail", "email"), (r"phone|mobile", "phone"), (r"city|location|origin|destination|town", "city"),
    (r"country|nation", "country"), (r"url|link|website", "url"), (r"\bip\b", "ip"),
    (r"restaurant|cafe|bistro", "restaurant"), (r"hotel|company|store|shop|vendor|venue", "company"), (r"ticker|symbol", "ticker"),
    (r"title|subject|event", "title"), (r"name|person|author|user|player|recipient", "person"),
    (r"message|text|body|content|note|sentence", "sentence"), (r"query|keyword|topic|search|term", "keyword"),
    (r"product|item", "product"), (r"song|track", "song"), (r"movie|film", "movie"), (r"book", "book"),
    (r"color|colour", "color"), (r"language", "language"),
)
_INT_HINTS = ((r"year", "year"), (r"month", "month"), (r"people|guests|party|persons|adults|seats", "n_people"),
              (r"night|day", "days"), (r"minute|duration", "minutes"), (r"age", "age"),
              (r"limit|max_results|top", "limit"), (r"count|number|quantity|num|n\b", "count"))
_NUM_HINTS = ((r"amount|price|cost|budget|salary|total", "amount"), (r"rate|percent|ratio", "rate_percent"),
              (r"weight|mass", "weight_kg"), (r"height", "height_cm"), (r"lat", "latitude"), (r"lon|lng", "longitude"),
              (r"temp", "temperature"), (r"speed|velocity", "speed"))


def _examples(description: str) -> list[str]:
    """Values a docstring gives as examples ("e.g. USD", "such as 'Paris' or 'Rome'")."""
    m = re.search(r"(?:e\.g\.|for example|such as|like)[:,]?\s+(.+?)(?:\)|\.\s|\.$|;|$)", description, re.I)
    if not m:
        return []
    words = re.split(r",\s*|\s+or\s+|\s+and\s+|/", m.group(1))
    return [w.strip(" '\"`") for w in words if 0 < len(w.strip(" '\"`")) <= 40]


def infer_kind(name: str, schema: dict, description: str = "") -> V.ValueKind:
    """A value kind for a parameter known by its schema, name and description."""
    lname, desc = name.lower(), (schema.get("description") or description or "")
    if schema.get("enum"):
        values = tuple(str(v) for v in schema["enum"])
        if all(isinstance(v, str) for v in schema["enum"]):
            return V.enum(values)
        return V.ValueKind({k: schema[k] for k in ("type", "enum") if k in schema},
                           lambda rng, lang, e=tuple(schema["enum"]): rng.choice(e))
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if kind == "boolean":
        return V.KINDS["flag"]
    if kind == "integer":
        key = next((k for pat, k in _INT_HINTS if re.search(pat, lname)), "int_medium")
        return V.KINDS[key]
    if kind == "number":
        key = next((k for pat, k in _NUM_HINTS if re.search(pat, lname)), None)
        return V.KINDS[key] if key else V.numbers(1, 100)
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        inner = infer_kind(name.rstrip("s"), items, desc)
        lo, hi = 2, 4
        return V.ValueKind({"type": "array", "items": dict(inner.schema)},
                           lambda rng, lang: [inner.sample(rng, lang) for _ in range(rng.randint(lo, hi))],
                           lambda v, rng, lang: V.say_list([inner.say(x, rng, lang) for x in v], rng, lang))
    if kind == "object":
        return V.ValueKind({"type": "object"}, lambda rng, lang: {}, lambda v, rng, lang: "{}")
    if schema.get("format") == "date" or re.search(r"date|birthday", lname) or "YYYY-MM-DD" in desc:
        return V.KINDS["date"]
    if re.search(r"time|hour", lname) or "HH:MM" in desc:
        return V.KINDS["time"]
    if re.search(r"currency", lname) or re.search(r"\bISO\b.*currenc|currency code", desc, re.I):
        return V.KINDS["currency"]
    examples = _examples(desc)
    if len(examples) >= 2:
        return V.strings(tuple(examples))
    key = next((k for pat, k in _NAME_HINTS if re.search(pat, lname)), None)
    if key:
        return V.KINDS[key]
    if len(examples) == 1:
        return V.strings((examples[0],))
    return V.KINDS["keyword"]


def _verb_phrase(description: str, name: str) -> str:
    text = _first_line(description).rstrip(".")
    if not text or text == name:
        return "use " + name.replace("_", " ")
    text = re.sub(r"^Returns?\b", "get", text)
    text = re.sub(r"^(\w+)s\b(?=\s)", lambda m: m.group(1) if m.group(1).lower() not in ("is", "has") else m.group(0), text)
    return text[:1].lower() + text[1:]


def _label(key: str, description: str) -> str:
    """What a person calls a parameter: its description when that is a short noun phrase
    ("Number of guests" -> "number of guests"), else its name in words."""
    text = re.split(r",?\s*(?:e\.g\.|for example|such as)|[.;(,]", description.strip(), maxsplit=1)[0].strip()
    text = re.sub(r"^(?:the|a|an)\s+", "", text, flags=re.I)
    words = text.split()
    if 0 < len(words) <= 6 and not re.match(r"(?i)(whether|if|how|which|what|when|where)\b", text):
        return text[:1].lower() + text[1:]
    return key.replace("_", " ")


def _is_chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def _zh_phrase(description: str) -> str:
    """A Chinese description's first clause ("根据课程成绩和学时计算 GPA", "课程成绩")."""
    return re.split(r"[。；;，,（(]|\s*(?:e\.g\.|例如|比如)", description.strip(), maxsplit=1)[0].strip()


def family_from_tool(tool: dict, function: Callable | None) -> Family:
    """The user's tool as a family: their schema kept exactly, values fitted to each parameter.
    Each language's words come from the descriptions written in it: a Chinese docstring gives the
    zh requests their verb and labels, and English ones fall back to the names."""
    fn = tool["function"]
    name, description = fn["name"], fn.get("description") or ""
    props: dict[str, dict] = (fn.get("parameters") or {}).get("properties") or {}
    required = set((fn.get("parameters") or {}).get("required") or [])
    params = []
    for key, schema in props.items():
        desc = schema.get("description") or ""
        if _is_chinese(desc):
            label = {"en": key.replace("_", " "), "zh": _zh_phrase(desc) or key}
        else:
            label = {"en": _label(key, desc), "zh": _label(key, desc)}
        params.append(ParamSpec(key, infer_kind(key, schema), label, None, key in required))
    if _is_chinese(description):
        does = {"en": "use " + name, "zh": _zh_phrase(description) or f"调用{name}"}
    else:
        does = {"en": _verb_phrase(description, name), "zh": f"调用{name}"}
    return Family(f"user.{name}", "user", name, does, tuple(params),
                  function=function, schema={"type": "function", "function": fn})


def families_from_tools(tools: Sequence[dict], functions: dict[str, Callable]) -> list[Family]:
    """Families for `tools`; those with a function run through ``call_tool`` (arguments checked
    against the schema, enums converted), as ``tooltune chat`` runs them."""
    from tooltune.functions import call_tool

    def runner(name: str) -> Callable | None:
        if name not in functions:
            return None
        return lambda **kwargs: call_tool(functions, name, kwargs)
    return [family_from_tool(t, runner(t["function"]["name"])) for t in tools]
