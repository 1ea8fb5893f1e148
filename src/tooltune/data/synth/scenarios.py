"""One scenario per example tool: how users ask for it, and how the assistant reports its result.

Request templates name slots as ``{param}``; the slots a template uses are exactly the arguments of
the call, and each slot is rendered with the value the tool receives (or, in Chinese, the word
for it from ``ZH_TERMS``), so a model learns to copy arguments out of the user's words.
Answer templates see the result's fields, the arguments as the user said them, and ``derive``'s
extras.
"""
from __future__ import annotations

import datetime as dt
import json
import string
from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable

from tooltune.data.synth import phrases as P
from tooltune.data.synth import tools as T

Templates = dict[str, tuple[str, ...]]  # language -> paraphrases


@dataclass(frozen=True)
class Missing:
    """How a request that leaves out one required argument goes."""
    ask: Templates  # the request without the slot
    clarify: Templates  # the assistant asking for it (may use the slots already given)
    supply: Templates | None = None  # the user's reply; defaults to phrases.SUPPLY


@dataclass(frozen=True)
class Scenario:
    tool: str
    sample: Callable[[Random, str], dict[str, Any]]  # a value for every slot the templates use
    ask: Templates
    answer: Templates | Callable[[dict, str, Random], str]
    derive: Callable[[dict, str], dict] | None = None
    followup: Templates = field(default_factory=dict)  # same tool, some slots changed
    missing: dict[str, Missing] = field(default_factory=dict)
    terms: dict[str, dict[str, str]] = field(default_factory=dict)  # param -> value -> zh word
    flags: dict[str, dict[str, str]] = field(default_factory=dict)  # bool param -> lang -> word
    generic: bool = False  # built from a schema: sampled arguments may be rejected, so retry

    def surface(self, param: str, value: Any, lang: str) -> str:
        """How the user (or the answer) writes a value."""
        if isinstance(value, bool):
            return self.flags.get(param, {}).get(lang, "yes" if value else "no")
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False)
        if lang == "zh" and isinstance(value, str):
            return self.terms.get(param, {}).get(value) or P.ZH_TERMS.get(value, value)
        return fmt(value)


def fmt(value: Any) -> str:
    """Numbers as people write them: 12, 3.5 (no trailing .0)."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)  # shortest exact form, so 60.9 stays 60.9
        return f"{value:.12f}".rstrip("0").rstrip(".") if "e" in text else text
    return str(value)


def slots(template: str) -> list[str]:
    """The {slot} names a template uses, in order."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


# --------------------------------------------------------------------------- samplers


def _date(rng: Random) -> str:
    return (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 1100))).isoformat()


def _number(rng: Random, lo: int, hi: int) -> int | float:
    """Mostly whole numbers, sometimes one decimal (never x.0, which would read as x)."""
    n = rng.randint(lo, hi)
    return n if rng.random() < 0.75 else n + rng.randint(1, 9) / 10


def _units(rng: Random, lang: str) -> dict:
    dim = rng.choice(("length", "mass", "volume", "temperature"))
    a, b = rng.sample([u for u, d in T.UNIT_DIMENSIONS.items() if d == dim], 2)
    if dim == "temperature":  # a plausible reading in the unit the user starts from
        value = rng.randint(*{"celsius": (-20, 40), "fahrenheit": (0, 105), "kelvin": (250, 320)}[a])
    else:
        value = _number(rng, 1, 500)
    return {"value": value, "from_unit": a, "to_unit": b}


def _expression(rng: Random, lang: str) -> dict:
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 12)
    form = rng.choice(("{a} + {b}", "{a} * {b}", "{a} - {b} * {c}", "({a} + {b}) * {c}",
                       "{a} / {c}", "{c} ** 3", "{a} * {b} + {c}", "({a} - {b}) / {c}", "{a} % {c}"))
    return {"expression": form.format(a=a, b=b, c=c)}


def _two_dates(rng: Random, lang: str) -> dict:
    start = _date(rng)
    end = (dt.date.fromisoformat(start) + dt.timedelta(days=rng.randint(2, 900))).isoformat()
    return {"start_date": start, "end_date": end}


def _currencies(rng: Random, lang: str) -> dict:
    a, b = rng.sample(list(T.USD_RATES), 2)
    return {"amount": rng.choice((20, 50, 100, 250, 500, 1000, 1200, 3000, 5000, 9.99, 49.5)),
            "from_currency": a, "to_currency": b}


def _translation(rng: Random, lang: str) -> dict:
    source = "English" if lang == "en" else "Chinese"
    entry = rng.choice(T.DICTIONARY)
    target = rng.choice([x for x in ("English", "Chinese", "French", "Spanish", "Japanese")
                         if x != source])
    return {"word": entry[source], "target_language": target}


def _flight(rng: Random, lang: str) -> dict:
    a, b = rng.sample(list(T.FLIGHT_CITIES), 2)
    if lang == "zh":
        a, b = T.FLIGHT_CITIES[a][0], T.FLIGHT_CITIES[b][0]
    return {"origin": a, "destination": b, "date": _date(rng),
            "max_price": rng.choice((200, 300, 500, 800, 1000)), "nonstop_only": True}


def _product(rng: Random, lang: str) -> dict:
    query = rng.choice(P.PRODUCT_QUERIES[lang])
    hits = T.search_products(query)["results"] or [{"category": "home", "price": 50}]
    return {"query": query, "category": hits[0]["category"],
            "max_price": rng.choice((20, 50, 100, 150, 300, 1000))}


def _event(rng: Random, lang: str) -> dict:
    return {"title": rng.choice(P.EVENT_TITLES[lang]), "date": _date(rng),
            "time": rng.choice(P.EVENT_TIMES), "duration_minutes": rng.choice((30, 45, 60, 90, 120)),
            "location": rng.choice(P.EVENT_LOCATIONS[lang])}


# --------------------------------------------------------------------------- answer helpers


def _forecast(ctx: dict, lang: str) -> dict:
    days = ctx["_result"]["forecast"]
    if lang == "zh":
        parts = [f"第{d['day']}天{P.ZH_TERMS.get(d['condition'], d['condition'])}，"
                 f"{d['low']}~{d['high']}°C" for d in days]
        return {"summary": "；".join(parts), "n": len(days)}
    parts = [f"day {d['day']}: {d['condition']}, {d['low']} to {d['high']}°C" for d in days]
    return {"summary": "; ".join(parts), "n": len(days)}


def _currency_list(ctx: dict, lang: str) -> dict:
    codes = ctx["_result"]["currencies"]
    if lang == "zh":
        return {"items": "、".join(f"{P.ZH_TERMS.get(c, c)}（{c}）" for c in codes)}
    return {"items": ", ".join(codes)}


def _flights_answer(ctx: dict, lang: str, rng: Random) -> str:
    r = ctx["_result"]
    if not r["flights"]:
        return rng.choice({
            "en": ("I couldn't find any flights from {origin} to {destination} on {date} that match.",
                   "Sorry, there are no matching flights from {origin} to {destination} on {date}."),
            "zh": ("抱歉，没有找到{date}从{origin}到{destination}符合条件的航班。",
                   "{date}从{origin}飞往{destination}暂时没有符合条件的航班。")}[lang]).format(**ctx)
    f = r["flights"][0]
    stops = ({"en": "nonstop", "zh": "直飞"} if f["stops"] == 0
             else {"en": "1 stop", "zh": "经停1次"})[lang]
    ctx = {**ctx, **f, "stops_text": stops, "count": r["count"],
           "hours": f"{f['duration_min'] // 60}h{f['duration_min'] % 60:02d}m"}
    return rng.choice({
        "en": ("I found {count} flights from {origin} to {destination} on {date}. The cheapest is "
               "{airline} {flight_no}, departing at {depart} for ${price} ({stops_text}, {hours}).",
               "Cheapest option on {date}: {airline} {flight_no} at {depart}, ${price}, "
               "{stops_text}. There are {count} flights in total."),
        "zh": ("{date}从{origin}到{destination}共有{count}个航班。最便宜的是{airline} {flight_no}，"
               "{depart}起飞，票价${price}（{stops_text}，{hours}）。",
               "为您找到{count}个航班，最便宜的是{flight_no}（{airline}），{depart}出发，"
               "${price}，{stops_text}。")}[lang]).format(**ctx)


def _products_answer(ctx: dict, lang: str, rng: Random) -> str:
    hits = ctx["_result"]["results"]
    if not hits:
        return rng.choice({
            "en": ("Sorry, I couldn't find any {query} matching that.",
                   "No {query} matched your search."),
            "zh": ("抱歉，没有找到符合条件的{query}。", "没有搜到符合要求的{query}。")}[lang]).format(**ctx)
    top = hits[0]
    name = top["name_zh"] if lang == "zh" else top["name"]
    ctx = {**ctx, "name": name, "price": fmt(top["price"]), "rating": top["rating"],
           "count": len(hits)}
    return rng.choice({
        "en": ("I found {count} matching products. Top pick: {name} for ${price} (rated {rating}/5).",
               "The best-rated match is the {name} at ${price}, rated {rating} out of 5."),
        "zh": ("找到{count}件商品。推荐：{name}，售价${price}，评分{rating}/5。",
               "评分最高的是{name}，价格${price}，评分{rating}分（满分5分）。")}[lang]).format(**ctx)


# --------------------------------------------------------------------------- the scenarios

_CITY_Q = Missing(
    ask={"en": ("What's the weather like today?", "Can you check the weather for me?"),
         "zh": ("今天天气怎么样？", "帮我查一下天气。")},
    clarify={"en": ("Sure — which city?", "Which city would you like the weather for?"),
             "zh": ("好的，请问是哪个城市？", "您想查询哪个城市的天气？")},
    supply={"en": ("{city}.", "In {city}.", "I'm in {city}."), "zh": ("{city}。", "在{city}。")})

SCENARIOS: list[Scenario] = [
    Scenario(
        "get_weather",
        lambda rng, lang: {"city": rng.choice(P.WEATHER_CITIES[lang]),
                           "unit": rng.choice(("celsius", "fahrenheit"))},
        ask={"en": ("What's the weather like in {city}?", "How's the weather in {city} right now?",
                    "Can you check the current weather in {city}?",
                    "What's the weather in {city} in {unit}?",
                    "I'm heading to {city} today. What's the temperature there in {unit}?"),
             "zh": ("{city}现在天气怎么样？", "帮我查一下{city}的天气。", "今天{city}天气如何？",
                    "{city}现在多少度？用{unit}表示。", "我要去{city}，那边天气怎么样？")},
        answer={"en": ("It's currently {temperature}°{u} and {condition} in {city}, with "
                       "{humidity}% humidity.",
                       "The weather in {city} is {condition}, {temperature}°{u} (humidity {humidity}%)."),
                "zh": ("{city}现在{condition}，气温{temperature}°{u}，湿度{humidity}%。",
                       "{city}当前天气：{condition}，{temperature}°{u}，湿度{humidity}%。")},
        derive=lambda ctx, lang: {"u": "C" if ctx["_result"]["unit"] == "celsius" else "F"},
        followup={"en": ("What about {city}?", "And in {city}?", "How about {city}?"),
                  "zh": ("那{city}呢？", "{city}呢？", "再查一下{city}。")},
        missing={"city": _CITY_Q}),
    Scenario(
        "get_forecast",
        lambda rng, lang: {"city": rng.choice(P.WEATHER_CITIES[lang]), "days": rng.randint(1, 7)},
        ask={"en": ("What's the forecast for {city}?", "Give me the {days}-day forecast for {city}.",
                    "What will the weather be like in {city} over the next {days} days?",
                    "Show me the weather forecast for {city} for the next {days} days."),
             "zh": ("{city}未来{days}天的天气预报是什么？", "帮我看看{city}接下来{days}天的天气。",
                    "{city}这几天天气怎么样？", "查一下{city}的天气预报。")},
        answer={"en": ("Here's the {n}-day forecast for {city}: {summary}.",
                       "Forecast for {city} — {summary}."),
                "zh": ("{city}未来{n}天天气预报：{summary}。", "以下是{city}未来{n}天的天气：{summary}。")},
        derive=_forecast,
        followup={"en": ("And for {city}?", "What about {city}?"), "zh": ("那{city}呢？",)},
        missing={"city": Missing(
            ask={"en": ("What's the forecast for the next {days} days?",),
                 "zh": ("未来{days}天天气怎么样？",)},
            clarify={"en": ("Which city should I get the forecast for?",),
                     "zh": ("请问要查哪个城市的天气预报？",)},
            supply=_CITY_Q.supply)}),
    Scenario(
        "convert_units", _units,
        ask={"en": ("Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?",
                    "What is {value} {from_unit} in {to_unit}?", "I need {value} {from_unit} expressed in {to_unit}."),
             "zh": ("把{value}{from_unit}换算成{to_unit}。", "{value}{from_unit}等于多少{to_unit}？",
                    "{value}{from_unit}是多少{to_unit}？", "请帮我把{value}{from_unit}转换为{to_unit}。")},
        answer={"en": ("{value} {from_unit} is {result} {to_unit}.", "That's {result} {to_unit}."),
                "zh": ("{value}{from_unit}等于{result}{to_unit}。", "换算结果：{result}{to_unit}。")},
        missing={"to_unit": Missing(
            ask={"en": ("Can you convert {value} {from_unit} for me?",), "zh": ("帮我换算一下{value}{from_unit}。",)},
            clarify={"en": ("Sure — which unit should I convert {value} {from_unit} to?",),
                     "zh": ("好的，要把{value}{from_unit}换算成什么单位？",)},
            supply={"en": ("To {to_unit}.", "{to_unit}, please."), "zh": ("换算成{to_unit}。", "{to_unit}。")})}),
    Scenario(
        "calculate_bmi",
        lambda rng, lang: {"weight_kg": _number(rng, 45, 110), "height_cm": rng.randint(150, 195)},
        ask={"en": ("Calculate my BMI: I weigh {weight_kg} kg and I'm {height_cm} cm tall.",
                    "What's the BMI for someone who is {height_cm} cm and {weight_kg} kg?",
                    "I'm {height_cm} cm tall and weigh {weight_kg} kg. What's my BMI?"),
             "zh": ("我身高{height_cm}厘米，体重{weight_kg}公斤，BMI是多少？",
                    "帮我算一下BMI：体重{weight_kg}公斤，身高{height_cm}厘米。",
                    "身高{height_cm}cm、体重{weight_kg}kg的人BMI是多少？")},
        answer={"en": ("The BMI is {bmi}, which falls in the {category} range.",
                       "A BMI of {bmi} — that's considered {category}."),
                "zh": ("BMI是{bmi}，属于{category}范围。", "BMI为{bmi}，体重{category}。")},
        missing={"height_cm": Missing(
            ask={"en": ("I weigh {weight_kg} kg. What's my BMI?",), "zh": ("我体重{weight_kg}公斤，BMI是多少？",)},
            clarify={"en": ("To calculate your BMI I also need your height. How tall are you, in cm?",),
                     "zh": ("计算BMI还需要您的身高，请问您身高多少厘米？",)},
            supply={"en": ("I'm {height_cm} cm tall.", "{height_cm} cm."), "zh": ("{height_cm}厘米。", "身高{height_cm}厘米。")})}),
    Scenario(
        "calculate", _expression,
        ask={"en": ("What is {expression}?", "Calculate {expression}.", "Can you compute {expression} for me?",
                    "Quick math: {expression} = ?"),
             "zh": ("{expression}等于多少？", "帮我算一下{expression}。", "计算：{expression}", "请问{expression}的结果是多少？")},
        answer={"en": ("{expression} = {result}.", "The answer is {result}."),
                "zh": ("{expression} = {result}。", "结果是{result}。")},
        followup={"en": ("And {expression}?", "Now what about {expression}?"),
                  "zh": ("那{expression}呢？", "再算一下{expression}。")}),
    Scenario(
        "compound_interest",
        lambda rng, lang: {"principal": rng.choice((1000, 2500, 5000, 10000, 25000, 50000)),
                           "annual_rate": rng.choice((2, 3.5, 4, 5, 6.5, 7)), "years": rng.randint(1, 30),
                           "compounds_per_year": rng.choice((1, 4, 12, 365))},
        ask={"en": ("If I invest {principal} at {annual_rate}% annual interest for {years} years, how much will I have?",
                    "Compound interest on {principal} at {annual_rate}% for {years} years?",
                    "How much does {principal} grow to in {years} years at {annual_rate}% a year, compounded "
                    "{compounds_per_year} times per year?"),
             "zh": ("我存{principal}元，年利率{annual_rate}%，{years}年后有多少钱？",
                    "本金{principal}，年利率{annual_rate}%，存{years}年，复利计算最终是多少？",
                    "{principal}元按年利率{annual_rate}%、每年复利{compounds_per_year}次，{years}年后本息合计多少？")},
        answer={"en": ("After {years} years you'd have {final_amount}, of which {interest_earned} is interest.",
                       "{principal} grows to {final_amount} — that's {interest_earned} in interest."),
                "zh": ("{years}年后本息合计{final_amount}，其中利息{interest_earned}。",
                       "最终金额为{final_amount}，利息收入{interest_earned}。")},
        missing={"years": Missing(
            ask={"en": ("If I invest {principal} at {annual_rate}% interest, how much will I end up with?",),
                 "zh": ("我有{principal}元，年利率{annual_rate}%，最后能有多少钱？",)},
            clarify={"en": ("For how many years do you plan to invest it?",), "zh": ("请问您打算存多少年？",)},
            supply={"en": ("{years} years.", "For {years} years."), "zh": ("{years}年。", "存{years}年。")})}),
    Scenario(
        "loan_payment",
        lambda rng, lang: {"principal": rng.choice((20000, 35000, 100000, 250000, 300000, 500000)),
                           "annual_rate": rng.choice((3, 3.5, 4.2, 5, 6)), "years": rng.choice((3, 5, 10, 15, 20, 30))},
        ask={"en": ("What's the monthly payment on a {principal} loan at {annual_rate}% for {years} years?",
                    "I'm borrowing {principal} over {years} years at {annual_rate}% interest. What will I pay each month?",
                    "Calculate the monthly payment for a {years}-year loan of {principal} at {annual_rate}%."),
             "zh": ("贷款{principal}元，年利率{annual_rate}%，{years}年还清，每月还多少？",
                    "帮我算一下房贷：本金{principal}，利率{annual_rate}%，期限{years}年。",
                    "借{principal}，{years}年，年利率{annual_rate}%，月供多少？")},
        answer={"en": ("Your monthly payment would be {monthly_payment}. Over {years} years you'd pay {total_paid} "
                       "in total, including {total_interest} of interest.",
                       "The monthly payment is {monthly_payment} (total interest: {total_interest})."),
                "zh": ("每月还款{monthly_payment}，{years}年共还{total_paid}，其中利息{total_interest}。",
                       "月供为{monthly_payment}，总利息{total_interest}。")},
        missing={"years": Missing(
            ask={"en": ("What's the monthly payment on a {principal} loan at {annual_rate}%?",),
                 "zh": ("贷款{principal}元，年利率{annual_rate}%，月供是多少？",)},
            clarify={"en": ("What's the loan term — how many years?",), "zh": ("请问贷款期限是多少年？",)},
            supply={"en": ("{years} years.", "Over {years} years."), "zh": ("{years}年。", "贷{years}年。")})}),
    Scenario(
        "days_between", _two_dates,
        ask={"en": ("How many days are there between {start_date} and {end_date}?",
                    "Count the days from {start_date} to {end_date}.",
                    "How long is it from {start_date} until {end_date}, in days?"),
             "zh": ("{start_date}到{end_date}之间有多少天？", "从{start_date}到{end_date}一共几天？",
                    "帮我算一下{start_date}和{end_date}相差多少天。")},
        answer={"en": ("There are {days} days between {start_date} and {end_date}.", "That's {days} days."),
                "zh": ("{start_date}到{end_date}相隔{days}天。", "一共{days}天。")}),
    Scenario(
        "add_days", lambda rng, lang: {"date": _date(rng), "days": rng.randint(2, 365)},
        ask={"en": ("What date is {days} days after {date}?", "If today is {date}, what's the date in {days} days?",
                    "Add {days} days to {date}."),
             "zh": ("{date}之后{days}天是几号？", "从{date}开始算，{days}天后是哪一天？", "{date}加上{days}天是哪天？")},
        answer={"en": ("{days} days after {date} is {result_date}, a {day_of_week}.",
                       "That would be {result_date} ({day_of_week})."),
                "zh": ("{date}之后{days}天是{result_date}，{day_of_week}。", "是{result_date}，{day_of_week}。")},
        followup={"en": ("What about {days} days?", "And {days} days?"), "zh": ("那{days}天呢？",)},
        missing={"date": Missing(
            ask={"en": ("What's the date {days} days from today?",), "zh": ("今天往后{days}天是几号？",)},
            clarify={"en": ("What's today's date? Please give it as YYYY-MM-DD.",),
                     "zh": ("请问今天是几号？请按YYYY-MM-DD的格式告诉我。",)},
            supply={"en": ("Today is {date}.", "{date}."), "zh": ("今天是{date}。", "{date}。")})}),
    Scenario(
        "day_of_week", lambda rng, lang: {"date": _date(rng)},
        ask={"en": ("What day of the week is {date}?", "Which weekday does {date} fall on?",
                    "Is {date} a weekend? What day is it?"),
             "zh": ("{date}是星期几？", "{date}那天是周几？", "帮我查一下{date}是星期几。")},
        answer={"en": ("{date} is a {day_of_week}.", "It falls on a {day_of_week}."),
                "zh": ("{date}是{day_of_week}。", "那天是{day_of_week}。")},
        followup={"en": ("And {date}?", "What about {date}?"), "zh": ("那{date}呢？",)},
        missing={"date": Missing(
            ask={"en": ("What day of the week is my birthday this year?",), "zh": ("我今年生日是星期几？",)},
            clarify={"en": ("When is your birthday? Please give the date as YYYY-MM-DD.",),
                     "zh": ("请问您的生日是哪一天？（格式YYYY-MM-DD）",)},
            supply={"en": ("It's {date}.", "{date}."), "zh": ("{date}。", "是{date}。")})}),
    Scenario(
        "convert_currency", _currencies,
        ask={"en": ("Convert {amount} {from_currency} to {to_currency}.", "How much is {amount} {from_currency} in {to_currency}?",
                    "What's {amount} {from_currency} worth in {to_currency}?"),
             "zh": ("{amount}{from_currency}能换多少{to_currency}？", "把{amount}{from_currency}换算成{to_currency}。",
                    "{amount}{from_currency}等于多少{to_currency}？")},
        answer={"en": ("{amount} {from_currency} is about {result} {to_currency} (rate {rate}).",
                       "That comes to {result} {to_currency}."),
                "zh": ("{amount}{from_currency}约合{result}{to_currency}（汇率{rate}）。", "约等于{result}{to_currency}。")},
        followup={"en": ("And in {to_currency}?", "What about {to_currency}?"), "zh": ("那换成{to_currency}呢？",)},
        missing={"to_currency": Missing(
            ask={"en": ("I want to exchange {amount} {from_currency}.",), "zh": ("我想换{amount}{from_currency}。",)},
            clarify={"en": ("Which currency would you like to convert it to?",), "zh": ("请问要换成哪种货币？",)},
            supply={"en": ("To {to_currency}.", "{to_currency}, please."), "zh": ("换成{to_currency}。", "{to_currency}。")})}),
    Scenario(
        "list_supported_currencies", lambda rng, lang: {},
        ask={"en": ("Which currencies can you convert?", "What currencies do you support?",
                    "List the currencies available for conversion."),
             "zh": ("你支持哪些货币？", "可以换算哪些币种？", "列出支持的货币。")},
        answer={"en": ("I can convert between: {items}.", "Supported currencies: {items}."),
                "zh": ("支持以下货币：{items}。", "可以换算的币种有：{items}。")},
        derive=_currency_list),
    Scenario(
        "translate_word", _translation,
        ask={"en": ('How do you say "{word}" in {target_language}?', 'Translate "{word}" into {target_language}.',
                    'What is the {target_language} word for "{word}"?'),
             "zh": ("“{word}”用{target_language}怎么说？", "把“{word}”翻译成{target_language}。",
                    "{target_language}里“{word}”怎么说？")},
        answer={"en": ('"{word}" in {target_language} is "{translation}".', 'In {target_language}: "{translation}".'),
                "zh": ("“{word}”的{target_language}是“{translation}”。", "{target_language}是“{translation}”。")},
        followup={"en": ("And in {target_language}?",), "zh": ("那{target_language}呢？",)},
        missing={"target_language": Missing(
            ask={"en": ('Can you translate "{word}" for me?',), "zh": ("帮我翻译一下“{word}”。",)},
            clarify={"en": ("Sure — which language should I translate it into?",), "zh": ("好的，要翻译成哪种语言？",)},
            supply={"en": ("Into {target_language}.", "{target_language}."),
                    "zh": ("翻译成{target_language}。", "{target_language}。")})}),
    Scenario(
        "word_count", lambda rng, lang: {"text": rng.choice(P.WORD_COUNT_TEXTS[lang])},
        ask={"en": ('How many words are in this text: "{text}"', 'Count the words in "{text}"',
                    'Give me the word and character count for: "{text}"'),
             "zh": ("这段话有多少个字：“{text}”", "帮我统计一下“{text}”的字数。", "“{text}”这句话有几个字？")},
        answer={"en": ("That text has {words} words and {characters} characters.",
                       "{words} words, {characters} characters, {sentences} sentence(s)."),
                "zh": ("这段文字共{words}个字（含标点共{characters}个字符）。", "一共{words}个字，{sentences}个句子。")}),
    Scenario(
        "search_flights", _flight,
        ask={"en": ("Find me flights from {origin} to {destination} on {date}.",
                    "Are there any flights from {origin} to {destination} on {date} under {max_price} dollars?",
                    "I need to fly from {origin} to {destination} on {date}. What are my options?",
                    "Find {nonstop_only} flights from {origin} to {destination} on {date}."),
             "zh": ("帮我查一下{date}从{origin}到{destination}的机票。", "{date}{origin}飞{destination}有哪些航班？",
                    "查{date}{origin}到{destination}的{nonstop_only}航班，价格不超过{max_price}美元。",
                    "我想{date}从{origin}去{destination}，有什么航班？")},
        answer=_flights_answer,
        followup={"en": ("What about on {date}?", "And on {date}?"), "zh": ("那{date}呢？", "换成{date}呢？")},
        missing={"date": Missing(
            ask={"en": ("Find me flights from {origin} to {destination}.",), "zh": ("帮我查一下从{origin}到{destination}的机票。",)},
            clarify={"en": ("What date would you like to fly? (YYYY-MM-DD)",), "zh": ("请问您哪天出发？（格式YYYY-MM-DD）",)},
            supply={"en": ("On {date}.", "{date}."), "zh": ("{date}出发。", "{date}。")})},
        flags={"nonstop_only": {"en": "nonstop", "zh": "直飞"}}),
    Scenario(
        "search_products", _product,
        ask={"en": ("Search for {query}.", "Any {query} options under {max_price} dollars?",
                    "Search for {query} in the {category} category.",
                    "Show me options for {query} that cost at most {max_price} dollars."),
             "zh": ("帮我找一下{query}。", "有没有{max_price}美元以内的{query}？", "在{category}类里搜一下{query}。",
                    "我想买{query}，预算{max_price}美元。")},
        answer=_products_answer),
    Scenario(
        "create_event", _event,
        ask={"en": ('Add "{title}" to my calendar on {date} at {time}.',
                    'Schedule "{title}" for {date} at {time}, {duration_minutes} minutes.',
                    'Create an event called "{title}" on {date} at {time} at {location}.',
                    'Put "{title}" on my calendar: {date}, {time}, for {duration_minutes} minutes.'),
             "zh": ("帮我在{date} {time}添加日程“{title}”。", "{date} {time}安排一个“{title}”，时长{duration_minutes}分钟。",
                    "创建日程：“{title}”，{date} {time}，地点{location}。")},
        answer={"en": ('Done! "{title}" is scheduled for {date} from {start} to {end} (event ID {event_id}).',
                       'I\'ve added "{title}" on {date} at {start}. Event ID: {event_id}.'),
                "zh": ("已为您创建日程“{title}”：{date} {start}-{end}，日程编号{event_id}。",
                       "好的，“{title}”已加入日历（{date} {start}开始），编号{event_id}。")},
        missing={"time": Missing(
            ask={"en": ('Add "{title}" to my calendar on {date}.',), "zh": ("帮我在{date}添加日程“{title}”。",)},
            clarify={"en": ("What time should it start?",), "zh": ("请问几点开始？",)},
            supply={"en": ("At {time}.", "{time}."), "zh": ("{time}开始。", "{time}。")})}),
    Scenario(
        "set_reminder",
        lambda rng, lang: {"text": rng.choice(P.REMINDER_TEXTS[lang]), "priority": rng.choice(("low", "normal", "high")),
                           "minutes_from_now": rng.choice((5, 10, 15, 20, 45, 60, 90, 120))},
        ask={"en": ("Remind me to {text} in {minutes_from_now} minutes.", "Set a {priority} priority reminder to {text}.",
                    "Set a reminder: {text}, in {minutes_from_now} minutes, {priority} priority."),
             "zh": ("{minutes_from_now}分钟后提醒我{text}。", "设置一个{priority}优先级的提醒：{text}。",
                    "提醒我{text}，{minutes_from_now}分钟后，优先级{priority}。")},
        answer={"en": ("Got it — I'll remind you to {text} in {minutes_from_now} minutes ({priority} priority, "
                       "reminder {reminder_id}).", "Reminder set: {text}, in {minutes_from_now} minutes."),
                "zh": ("好的，{minutes_from_now}分钟后提醒您{text}（优先级：{priority}，编号{reminder_id}）。",
                       "提醒已设置：{minutes_from_now}分钟后{text}。")},
        missing={"text": Missing(
            ask={"en": ("Set a reminder for {minutes_from_now} minutes from now.",), "zh": ("{minutes_from_now}分钟后提醒我一下。",)},
            clarify={"en": ("Sure — what should I remind you about?",), "zh": ("好的，需要提醒您什么事情？",)},
            supply={"en": ("Remind me to {text}.", "To {text}."), "zh": ("提醒我{text}。", "{text}。")})},
        terms={"priority": P.ZH_PRIORITY}),
]

BY_TOOL: dict[str, Scenario] = {s.tool: s for s in SCENARIOS}
