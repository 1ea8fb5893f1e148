"""Kinds of parameter value for the general corpus: each knows its JSON-schema type, how to sample
a value, and how a person writes that value in a question.

The call always carries the value in the schema's type (``5``, ``["A", "B"]``, ``"2024-03-05"``);
the question says it the way people do ("five", "A, B and C", "March 5, 2024", "3公斤"), so a
model learns to copy values out of prose into typed arguments rather than to echo JSON.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable

from tooltune.data.synth import phrases as P

EN_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
              "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
              "eighteen", "nineteen", "twenty")
ZH_DIGITS = "零一二三四五六七八九"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")


def zh_number(n: int) -> str:
    """0-99 in Chinese numerals (十二, 二十五)."""
    if n < 10:
        return ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else ZH_DIGITS[tens]) + "十" + (ZH_DIGITS[ones] if ones else "")


def say_int(n: int, rng: Random, lang: str) -> str:
    """Digits mostly; small numbers sometimes in words."""
    if 0 <= n <= 20 and lang == "en" and rng.random() < 0.3:
        return EN_NUMBERS[n]
    if 0 <= n < 100 and lang == "zh" and rng.random() < 0.3:
        return zh_number(n)
    if n >= 10000 and lang == "en" and rng.random() < 0.5:
        return f"{n:,}"
    return str(n)


def say_number(x: float, rng: Random, lang: str) -> str:
    if isinstance(x, int) or float(x).is_integer():
        return say_int(int(x), rng, lang)
    return repr(float(x))


def say_list(items: list[str], rng: Random, lang: str) -> str:
    """A list written out: "A, A, B and C" / "A、A、B和C" (sometimes plain commas)."""
    if len(items) == 1:
        return items[0]
    if lang == "zh":
        if rng.random() < 0.3:  # people type commas too ("A, A, B, C")
            return rng.choice((", ", "，", ",")).join(items)
        return "、".join(items[:-1]) + rng.choice(("和", "、")) + items[-1]
    if rng.random() < 0.3:
        return ", ".join(items)
    return ", ".join(items[:-1]) + rng.choice((" and ", ", and ")) + items[-1]


def say_date(iso: str, rng: Random, lang: str) -> str:
    d = dt.date.fromisoformat(iso)
    if lang == "zh":
        return rng.choice((f"{d.year}年{d.month}月{d.day}日", iso))
    return rng.choice((iso, f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
                       f"{d.day} {MONTHS[d.month - 1]} {d.year}", f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}"))


def say_time(hhmm: str, rng: Random, lang: str) -> str:
    h, m = map(int, hhmm.split(":"))
    if lang == "zh":
        part = "上午" if h < 12 else ("下午" if h < 18 else "晚上")
        h12 = h if h <= 12 else h - 12
        return rng.choice((hhmm, f"{part}{h12}点" + (f"{m}分" if m else "")))
    h12 = h % 12 or 12
    return rng.choice((hhmm, f"{h12}{':%02d' % m if m else ''} {'am' if h < 12 else 'pm'}"))


@dataclass(frozen=True)
class ValueKind:
    """How one kind of value is typed, sampled and written."""
    schema: dict                                         # JSON schema, without the description
    sample: Callable[[Random, str], Any]                 # (rng, lang) -> the call's value
    say: Callable[[Any, Random, str], str] = lambda v, rng, lang: str(v)
    terms: dict[str, str] = field(default_factory=dict)  # enum value -> how a zh user says it


def pool(en: tuple, zh: tuple | None = None) -> Callable[[Random, str], str]:
    return lambda rng, lang: rng.choice(zh if lang == "zh" and zh else en)


def ints(lo: int, hi: int, step: int = 1) -> ValueKind:
    return ValueKind({"type": "integer"}, lambda rng, lang: rng.randrange(lo, hi + 1, step), say_int)


def numbers(lo: float, hi: float, decimals: int = 1, whole: float = 0.6) -> ValueKind:
    """Whole numbers in `whole` of draws, else `decimals` places (never x.0)."""
    def sample(rng: Random, lang: str) -> float | int:
        if rng.random() < whole:
            return rng.randint(int(lo), int(hi))
        v = round(rng.uniform(lo, hi), decimals)
        return v if not float(v).is_integer() else v + 10 ** -decimals
    return ValueKind({"type": "number"}, sample, say_number)


def enum(values: tuple[str, ...], zh: dict[str, str] | None = None) -> ValueKind:
    terms = {v: P.ZH_TERMS.get(v, v) for v in values} | (zh or {})
    return ValueKind({"type": "string", "enum": list(values)}, lambda rng, lang: rng.choice(values),
                     lambda v, rng, lang: terms.get(v, v) if lang == "zh" else v, terms)


def strings(en: tuple, zh: tuple | None = None) -> ValueKind:
    return ValueKind({"type": "string"}, pool(en, zh))


def string_list(en: tuple, zh: tuple | None = None, lo: int = 2, hi: int = 5, unique: bool = True) -> ValueKind:
    def sample(rng: Random, lang: str) -> list[str]:
        src = zh if lang == "zh" and zh else en
        k = rng.randint(lo, min(hi, len(src)))
        return rng.sample(list(src), k) if unique else [rng.choice(src) for _ in range(k)]
    return ValueKind({"type": "array", "items": {"type": "string"}}, sample,
                     lambda v, rng, lang: say_list(list(v), rng, lang))


def int_list(lo: int, hi: int, n_lo: int = 3, n_hi: int = 6) -> ValueKind:
    return ValueKind({"type": "array", "items": {"type": "integer"}},
                     lambda rng, lang: [rng.randint(lo, hi) for _ in range(rng.randint(n_lo, n_hi))],
                     lambda v, rng, lang: say_list([str(x) for x in v], rng, lang))


def number_list(lo: float, hi: float, n_lo: int = 3, n_hi: int = 7) -> ValueKind:
    def sample(rng: Random, lang: str) -> list:
        out = [rng.randint(int(lo), int(hi)) if rng.random() < 0.6 else round(rng.uniform(lo, hi), 1)
               for _ in range(rng.randint(n_lo, n_hi))]
        return [int(x) if float(x).is_integer() else x for x in out]   # 34, never 34.0 (said "34")
    return ValueKind({"type": "array", "items": {"type": "number"}}, sample,
                     lambda v, rng, lang: say_list([say_number(x, rng, "en") for x in v], rng, lang))


def _date(rng: Random, lang: str) -> str:
    return (dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 1400))).isoformat()


def _year(rng: Random, lang: str) -> int:
    return rng.randint(1950, 2024)


DATE = ValueKind({"type": "string", "format": "date"}, _date, say_date)
TIME = ValueKind({"type": "string"}, lambda rng, lang: rng.choice(P.EVENT_TIMES), say_time)
YEAR = ValueKind({"type": "integer"}, _year, lambda v, rng, lang: str(v))
BOOL = ValueKind({"type": "boolean"}, lambda rng, lang: rng.random() < 0.6)


def _grades(rng: Random, lang: str) -> list[str]:
    return [rng.choice("AABBBCCD") for _ in range(rng.randint(3, 6))]


def _letters(rng: Random, lang: str) -> list[str]:
    return [rng.choice("ABCD") for _ in range(rng.randint(3, 8))]


def _seats(rng: Random, lang: str) -> list[str]:
    row = rng.randint(1, 40)
    return [f"{row + i // 3}{'ABCDEF'[i % 3 + rng.choice((0, 3))]}" for i in range(rng.randint(2, 4))]


def _said_list(v, rng: Random, lang: str) -> str:
    return say_list(list(v), rng, lang)


# The reusable kinds, by name (a tool spec in catalog.py names them).
KINDS: dict[str, ValueKind] = {
    "city": strings(P.WEATHER_CITIES["en"] + ("San Francisco", "Los Angeles", "Boston", "Seattle",
                                              "Miami", "Denver", "Austin", "Dublin", "Prague", "Vienna"),
                    P.WEATHER_CITIES["zh"]),
    "country": strings(("France", "Japan", "Brazil", "Canada", "India", "Germany", "Kenya", "Mexico",
                        "Australia", "Italy", "Spain", "Egypt", "Norway", "Vietnam", "Chile"),
                       ("中国", "日本", "法国", "德国", "美国", "英国", "巴西", "印度", "加拿大", "澳大利亚")),
    "person": strings(("Alice Johnson", "Bob Smith", "Maria Garcia", "David Lee", "Emma Brown",
                       "Liam Wilson", "Sofia Rossi", "Kenji Tanaka", "Priya Patel", "Omar Haddad"),
                      ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷")),
    "first_name": strings(("Alice", "Bob", "Maria", "David", "Emma", "Liam", "Sofia", "Kenji", "Priya", "Omar"),
                          ("小明", "小红", "李华", "王强", "张丽", "刘芳")),
    "email": strings(("alice@example.com", "bob.smith@example.org", "maria.g@example.net",
                      "d.lee@example.com", "support@acme.io", "emma.brown@example.co.uk")),
    "phone": strings(("+1-415-555-0132", "+44 20 7946 0958", "+86 138 0013 8000", "555-0199", "+81 3-1234-5678")),
    "company": strings(("Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises",
                        "Hooli", "Vandelay Industries"), ("华为", "腾讯", "阿里巴巴", "小米", "比亚迪", "京东")),
    "restaurant": strings(("Luigi's Trattoria", "The Golden Dragon", "Sushi Zen", "Le Petit Bistro",
                           "Taco Fiesta", "The Green Table", "Spice Route", "Blue Harbor Grill"),
                          ("全聚德", "海底捞", "外婆家", "鼎泰丰", "西贝莜面村", "南京大牌档")),
    "ticker": strings(("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "IBM", "BABA")),
    "crypto": strings(("bitcoin", "ethereum", "solana", "cardano", "dogecoin")),
    "currency": enum(("USD", "EUR", "CNY", "JPY", "GBP", "HKD", "KRW", "AUD", "CAD")),
    "language": enum(("English", "Chinese", "French", "Spanish", "Japanese", "German"), {"German": "德语"}),
    "product": strings(P.PRODUCT_QUERIES["en"], P.PRODUCT_QUERIES["zh"]),
    "title": strings(P.EVENT_TITLES["en"], P.EVENT_TITLES["zh"]),
    "place": strings(P.EVENT_LOCATIONS["en"], P.EVENT_LOCATIONS["zh"]),
    "note_text": strings(P.REMINDER_TEXTS["en"], P.REMINDER_TEXTS["zh"]),
    "sentence": strings(P.WORD_COUNT_TEXTS["en"], P.WORD_COUNT_TEXTS["zh"]),
    "keyword": strings(("machine learning", "climate change", "renewable energy", "jazz", "ancient Rome",
                        "quantum computing", "healthy recipes", "electric cars", "photography", "chess"),
                       ("人工智能", "新能源", "古诗词", "围棋", "健康饮食", "电动汽车", "摄影", "太空探索")),
    "song": strings(("Bohemian Rhapsody", "Imagine", "Shape of You", "Hotel California", "Yesterday",
                     "Billie Jean", "Hey Jude", "Rolling in the Deep"), ("月亮代表我的心", "青花瓷", "小幸运", "稻香")),
    "artist": strings(("Taylor Swift", "The Beatles", "Adele", "Queen", "Miles Davis", "Beyonce", "Coldplay"),
                      ("周杰伦", "王菲", "邓紫棋", "林俊杰", "陈奕迅")),
    "movie": strings(("Inception", "The Matrix", "Spirited Away", "Parasite", "Interstellar", "Titanic",
                      "The Godfather", "Coco"), ("流浪地球", "霸王别姬", "你好，李焕英", "让子弹飞")),
    "book": strings(("Pride and Prejudice", "1984", "The Hobbit", "Dune", "Moby Dick", "The Little Prince"),
                    ("红楼梦", "三体", "活着", "围城", "西游记")),
    "team": strings(("Lakers", "Warriors", "Celtics", "Real Madrid", "Barcelona", "Manchester United",
                     "Yankees", "Bayern Munich"), ("广东宏远", "北京国安", "上海海港", "辽宁本钢")),
    "league": enum(("NBA", "NFL", "MLB", "NHL", "Premier League", "La Liga", "CBA"), {"Premier League": "英超", "La Liga": "西甲"}),
    "sport": enum(("basketball", "football", "tennis", "baseball", "soccer", "golf"),
                  {"basketball": "篮球", "football": "橄榄球", "tennis": "网球", "baseball": "棒球", "soccer": "足球", "golf": "高尔夫"}),
    "cuisine": enum(("Italian", "Chinese", "Mexican", "Japanese", "Indian", "Thai", "French"),
                    {"Italian": "意大利菜", "Chinese": "中餐", "Mexican": "墨西哥菜", "Japanese": "日料",
                     "Indian": "印度菜", "Thai": "泰国菜", "French": "法餐"}),
    "ingredient_list": string_list(("chicken", "rice", "garlic", "tomato", "onion", "basil", "eggs", "tofu",
                                    "mushrooms", "spinach", "cheese", "potatoes"),
                                   ("鸡肉", "米饭", "大蒜", "西红柿", "洋葱", "鸡蛋", "豆腐", "蘑菇", "菠菜", "土豆")),
    "tag_list": string_list(("urgent", "work", "personal", "finance", "travel", "health", "family")),
    "email_list": string_list(("alice@example.com", "bob@example.org", "carol@example.net",
                               "dave@example.com", "erin@example.io"), lo=2, hi=4),
    "city_list": string_list(P.WEATHER_CITIES["en"][:14], P.WEATHER_CITIES["zh"][:12], lo=2, hi=4),
    # Lists of short tokens (letters, sizes, codes): where a model learns to stop a list the user
    # ended, not to run on with one more "B" (see general._same_length).
    "grade_list": ValueKind({"type": "array", "items": {"type": "string"}}, _grades, _said_list),
    "answer_list": ValueKind({"type": "array", "items": {"type": "string"}}, _letters, _said_list),
    "seat_list": ValueKind({"type": "array", "items": {"type": "string"}}, _seats, _said_list),
    "size_list": string_list(("XS", "S", "M", "L", "XL", "XXL"), lo=2, hi=4),
    "ticker_list": string_list(("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "IBM"), lo=2, hi=4),
    "quantity_list": int_list(1, 9, 2, 5),
    "score_list": int_list(55, 100, 3, 6),
    "credit_list": int_list(1, 5, 3, 6),
    "number_list": number_list(1, 100),
    "price_list": number_list(5, 500, 2, 5),
    "int_small": ints(1, 12),
    "int_medium": ints(2, 60),
    "int_large": ints(100, 5000, 50),
    "count": ints(1, 10),
    "limit": ints(5, 50, 5),
    "n_people": ints(1, 10),
    "age": ints(18, 80),
    "year": YEAR,
    "month": ints(1, 12),
    "days": ints(1, 14),
    "minutes": ints(5, 120, 5),
    "length": numbers(1, 50),
    "weight_kg": numbers(40, 120),
    "height_cm": ints(140, 200),
    "amount": numbers(10, 5000, 2, whole=0.7),
    "price": numbers(5, 800, 2),
    "principal": ints(5000, 500000, 5000),
    "rate_percent": numbers(1, 12, 1, whole=0.3),
    "percent": ints(5, 50, 5),
    "temperature": ints(-10, 40),
    "speed": ints(10, 120, 5),
    "mass_g": numbers(1, 500),
    "latitude": numbers(-60, 60, 4, whole=0.0),
    "longitude": numbers(-150, 150, 4, whole=0.0),
    "rating": ints(1, 5),
    "date": DATE,
    "time": TIME,
    "flag": BOOL,
    "length_unit": enum(("meters", "centimeters", "feet", "inches", "kilometers", "miles")),
    "weight_unit": enum(("kilograms", "grams", "pounds", "ounces")),
    "temp_unit": enum(("celsius", "fahrenheit", "kelvin")),
    "priority": enum(("low", "normal", "high"), {"normal": "普通"}),
    "sort_order": enum(("asc", "desc"), {"asc": "升序", "desc": "降序"}),
    "transport": enum(("driving", "walking", "bicycling", "transit"),
                      {"driving": "开车", "walking": "步行", "bicycling": "骑车", "transit": "公共交通"}),
    "cabin": enum(("economy", "premium_economy", "business", "first"),
                  {"economy": "经济舱", "premium_economy": "超级经济舱", "business": "商务舱", "first": "头等舱"}),
    "room_type": enum(("single", "double", "suite"), {"single": "单人间", "double": "双人间", "suite": "套房"}),
    "status": enum(("open", "in_progress", "closed"), {"open": "未处理", "in_progress": "处理中", "closed": "已关闭"}),
    "genre": enum(("rock", "pop", "jazz", "classical", "hip hop", "country"),
                  {"rock": "摇滚", "pop": "流行", "jazz": "爵士", "classical": "古典", "hip hop": "嘻哈", "country": "乡村"}),
    "shape": enum(("circle", "square", "triangle", "rectangle"),
                  {"circle": "圆形", "square": "正方形", "triangle": "三角形", "rectangle": "长方形"}),
    "diet": enum(("vegetarian", "vegan", "gluten-free", "keto"),
                 {"vegetarian": "素食", "vegan": "纯素", "gluten-free": "无麸质", "keto": "生酮"}),
    "id": ValueKind({"type": "string"}, lambda rng, lang: rng.choice(("ORD", "TK", "INV", "BK", "A", "USR"))
                    + "-" + str(rng.randint(1000, 99999))),
    "url": strings(("https://example.com", "https://news.example.org/today", "https://shop.example.net/item/42",
                    "https://blog.example.io/post/7")),
    "ip": strings(("192.168.1.10", "10.0.0.5", "172.16.4.20", "8.8.8.8")),
    "color": strings(("red", "blue", "green", "black", "white", "yellow"), ("红色", "蓝色", "绿色", "黑色", "白色")),
    "element": strings(("hydrogen", "oxygen", "carbon", "iron", "gold", "sodium", "helium")),
    "planet": strings(("Mars", "Jupiter", "Venus", "Saturn", "Mercury", "Neptune")),
    "species": strings(("tiger", "blue whale", "koala", "honey bee", "bald eagle", "giant panda")),
}
