"""Example tools for the synthetic demo data: real functions that compute their results.

Everything is deterministic and offline (fake weather and flights come from a hash of the
inputs), so a generated row's tool result can always be reproduced by calling the function again.
Type hints and docstrings are written for ``function_to_tool``: they *are* the tool schemas.
"""
from __future__ import annotations

import ast
import datetime as dt
import hashlib
import operator
import re
from enum import Enum
from typing import Callable, Literal, Optional

# --------------------------------------------------------------------------- helpers


def _hash(*parts: object) -> int:
    """A stable 64-bit number for the inputs (Python's hash() is salted per process)."""
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _date(value: str, what: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be YYYY-MM-DD, got {value!r}") from None


def _num(x: float, digits: int = 2) -> float | int:
    """Round, and drop the '.0' of whole numbers so results read naturally."""
    r = round(x, digits)
    return int(r) if float(r).is_integer() else r


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# --------------------------------------------------------------------------- weather

CONDITIONS = ("sunny", "partly cloudy", "cloudy", "light rain", "heavy rain", "thunderstorms",
              "snow", "windy", "foggy")


def _weather_day(city: str, day: int) -> tuple[int, int, str]:
    """(high, low, condition): a city keeps its climate, days vary around it."""
    base = _hash("climate", city.strip().lower()) % 32 - 4
    h = _hash("weather", city.strip().lower(), day)
    high = base + h % 9 - 4
    low = high - 3 - (h >> 8) % 7
    condition = CONDITIONS[(h >> 16) % len(CONDITIONS)]
    if low <= 0 and condition in ("light rain", "heavy rain", "thunderstorms"):
        condition = "snow"  # precipitation below freezing
    elif condition == "snow" and low > 1:
        condition = "cloudy"
    return high, low, condition


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. "Paris" or "北京".
        unit: The temperature unit to report.
    """
    if not city.strip():
        raise ValueError("city must not be empty")
    high, low, condition = _weather_day(city, 0)
    temp_c = (high + low) // 2
    humidity = 25 + _hash("humidity", city.strip().lower()) % 70
    temp = temp_c if unit == "celsius" else round(temp_c * 9 / 5 + 32)
    return {"city": city, "temperature": temp, "unit": unit, "condition": condition,
            "humidity": humidity}


def get_forecast(city: str, days: int = 3) -> dict:
    """Get the daily weather forecast for a city (temperatures in celsius).

    Args:
        city: The city name.
        days: How many days ahead, from 1 to 7.
    """
    if not 1 <= days <= 7:
        raise ValueError("days must be between 1 and 7")
    if not city.strip():
        raise ValueError("city must not be empty")
    forecast = []
    for d in range(1, days + 1):
        high, low, condition = _weather_day(city, d)
        forecast.append({"day": d, "high": high, "low": low, "condition": condition})
    return {"city": city, "unit": "celsius", "forecast": forecast}


# --------------------------------------------------------------------------- math and units

Unit = Literal["meters", "kilometers", "centimeters", "miles", "feet", "inches",
               "kilograms", "grams", "pounds", "ounces",
               "liters", "milliliters", "gallons",
               "celsius", "fahrenheit", "kelvin"]

# Factor to the base unit of each dimension (meter, kilogram, liter).
_LINEAR = {
    "meters": ("length", 1.0), "kilometers": ("length", 1000.0),
    "centimeters": ("length", 0.01), "miles": ("length", 1609.344),
    "feet": ("length", 0.3048), "inches": ("length", 0.0254),
    "kilograms": ("mass", 1.0), "grams": ("mass", 0.001), "pounds": ("mass", 0.45359237),
    "ounces": ("mass", 0.028349523125),
    "liters": ("volume", 1.0), "milliliters": ("volume", 0.001), "gallons": ("volume", 3.785411784),
}
_TEMPERATURE = ("celsius", "fahrenheit", "kelvin")
UNIT_DIMENSIONS = {u: d for u, (d, _) in _LINEAR.items()} | {u: "temperature" for u in _TEMPERATURE}


def _to_celsius(v: float, unit: str) -> float:
    return {"celsius": v, "fahrenheit": (v - 32) * 5 / 9, "kelvin": v - 273.15}[unit]


def _from_celsius(v: float, unit: str) -> float:
    return {"celsius": v, "fahrenheit": v * 9 / 5 + 32, "kelvin": v + 273.15}[unit]


def convert_units(value: float, from_unit: Unit, to_unit: Unit) -> dict:
    """Convert a quantity between units of length, mass, volume or temperature.

    Args:
        value: The quantity to convert.
        from_unit: The unit the value is in.
        to_unit: The unit to convert to (same dimension as from_unit).
    """
    if UNIT_DIMENSIONS[from_unit] != UNIT_DIMENSIONS[to_unit]:
        raise ValueError(f"cannot convert {from_unit} ({UNIT_DIMENSIONS[from_unit]}) "
                         f"to {to_unit} ({UNIT_DIMENSIONS[to_unit]})")
    if from_unit in _TEMPERATURE:
        result = _from_celsius(_to_celsius(value, from_unit), to_unit)
    else:
        result = value * _LINEAR[from_unit][1] / _LINEAR[to_unit][1]
    # six significant digits: 1.9 feet in kilometers is 0.00057912, not 0.001
    return {"value": value, "from_unit": from_unit, "to_unit": to_unit,
            "result": _num(float(f"{result:.6g}"), 10)}


def calculate_bmi(weight_kg: float, height_cm: float) -> dict:
    """Calculate the body mass index (BMI) and its category.

    Args:
        weight_kg: Body weight in kilograms.
        height_cm: Height in centimeters.
    """
    if weight_kg <= 0 or height_cm <= 0:
        raise ValueError("weight and height must be positive")
    bmi = weight_kg / (height_cm / 100) ** 2
    category = ("underweight" if bmi < 18.5 else "normal" if bmi < 25
                else "overweight" if bmi < 30 else "obese")
    return {"bmi": round(bmi, 1), "category": category}


_OPS: dict[type, Callable] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                              ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
                              ast.Mod: operator.mod, ast.Pow: operator.pow}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](left, right)
    raise ValueError("only numbers, + - * / // % ** and parentheses are allowed")


def calculate(expression: str) -> dict:
    """Evaluate an arithmetic expression.

    Args:
        expression: The expression, e.g. "12 * (3 + 4)". Supports + - * / // % ** and parentheses.
    """
    try:
        tree = ast.parse(expression.replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    return {"expression": expression, "result": _num(_eval(tree), 6)}


def compound_interest(principal: float, annual_rate: float, years: int,
                      compounds_per_year: int = 12) -> dict:
    """Calculate the final amount of an investment with compound interest.

    Args:
        principal: The amount invested.
        annual_rate: The annual interest rate in percent, e.g. 5 for 5%.
        years: How many years the money is invested.
        compounds_per_year: How many times a year interest is compounded.
    """
    if principal < 0 or years < 0 or compounds_per_year < 1:
        raise ValueError("principal and years must be >= 0, compounds_per_year >= 1")
    final = principal * (1 + annual_rate / 100 / compounds_per_year) ** (compounds_per_year * years)
    return {"final_amount": round(final, 2), "interest_earned": round(final - principal, 2)}


# --------------------------------------------------------------------------- dates


def days_between(start_date: str, end_date: str) -> dict:
    """Count the days between two dates.

    Args:
        start_date: The first date, YYYY-MM-DD.
        end_date: The second date, YYYY-MM-DD.
    """
    days = (_date(end_date, "end_date") - _date(start_date, "start_date")).days
    return {"start_date": start_date, "end_date": end_date, "days": days}


def add_days(date: str, days: int) -> dict:
    """Find the date a number of days after (or, if negative, before) a given date.

    Args:
        date: The starting date, YYYY-MM-DD.
        days: How many days to add; negative goes back in time.
    """
    result = _date(date) + dt.timedelta(days=days)
    return {"result_date": result.isoformat(), "day_of_week": WEEKDAYS[result.weekday()]}


def day_of_week(date: str) -> dict:
    """Tell which day of the week a date falls on.

    Args:
        date: The date, YYYY-MM-DD.
    """
    d = _date(date)
    return {"day_of_week": WEEKDAYS[d.weekday()], "is_weekend": d.weekday() >= 5}


# --------------------------------------------------------------------------- finance

Currency = Literal["USD", "EUR", "CNY", "JPY", "GBP", "HKD", "KRW", "AUD", "CAD"]
# Units of each currency per US dollar: a fixed table, so results never change.
USD_RATES = {"USD": 1.0, "EUR": 0.92, "CNY": 7.2, "JPY": 150.0, "GBP": 0.79, "HKD": 7.8,
             "KRW": 1350.0, "AUD": 1.52, "CAD": 1.36}


def convert_currency(amount: float, from_currency: Currency, to_currency: Currency) -> dict:
    """Convert an amount of money between currencies at fixed exchange rates.

    Args:
        amount: The amount of money.
        from_currency: The currency code of the amount.
        to_currency: The currency code to convert to.
    """
    rate = USD_RATES[to_currency] / USD_RATES[from_currency]
    return {"rate": _num(rate, 4), "result": _num(amount * rate, 2)}


def list_supported_currencies() -> dict:
    """List the currency codes that convert_currency supports."""
    return {"currencies": list(USD_RATES)}


def loan_payment(principal: float, annual_rate: float, years: int) -> dict:
    """Calculate the fixed monthly payment of an amortized loan.

    Args:
        principal: The amount borrowed.
        annual_rate: The annual interest rate in percent, e.g. 4.5 for 4.5%.
        years: The loan term in years.
    """
    if years <= 0 or principal <= 0:
        raise ValueError("principal and years must be positive")
    n, r = years * 12, annual_rate / 100 / 12
    monthly = principal / n if r == 0 else principal * r / (1 - (1 + r) ** -n)
    total = monthly * n
    return {"monthly_payment": round(monthly, 2), "total_paid": round(total, 2),
            "total_interest": round(total - principal, 2)}


# --------------------------------------------------------------------------- text

Language = Literal["English", "Chinese", "French", "Spanish", "Japanese"]
DICTIONARY: list[dict[str, str]] = [
    {"English": e, "Chinese": c, "French": f, "Spanish": s, "Japanese": j}
    for e, c, f, s, j in [
        ("apple", "苹果", "pomme", "manzana", "りんご"), ("water", "水", "eau", "agua", "水"),
        ("book", "书", "livre", "libro", "本"), ("cat", "猫", "chat", "gato", "猫"),
        ("dog", "狗", "chien", "perro", "犬"), ("house", "房子", "maison", "casa", "家"),
        ("friend", "朋友", "ami", "amigo", "友達"), ("thank you", "谢谢", "merci", "gracias", "ありがとう"),
        ("hello", "你好", "bonjour", "hola", "こんにちは"), ("love", "爱", "amour", "amor", "愛"),
        ("sun", "太阳", "soleil", "sol", "太陽"), ("moon", "月亮", "lune", "luna", "月"),
        ("tea", "茶", "thé", "té", "お茶"), ("coffee", "咖啡", "café", "café", "コーヒー"),
        ("school", "学校", "école", "escuela", "学校"), ("music", "音乐", "musique", "música", "音楽"),
        ("computer", "电脑", "ordinateur", "computadora", "コンピューター"),
        ("train", "火车", "train", "tren", "電車"), ("flower", "花", "fleur", "flor", "花"),
        ("good morning", "早上好", "bonjour", "buenos días", "おはようございます"),
    ]]


def translate_word(word: str, target_language: Language) -> dict:
    """Translate a common word or short phrase using a small built-in dictionary.

    Args:
        word: The word to translate, in any supported language.
        target_language: The language to translate into.
    """
    key = word.strip().lower()
    for entry in DICTIONARY:
        if key in (v.lower() for v in entry.values()):
            return {"word": word, "translation": entry[target_language], "found": True}
    return {"word": word, "translation": None, "found": False}


def word_count(text: str) -> dict:
    """Count the words, characters and sentences in a text (each Chinese character is a word).

    Args:
        text: The text to analyze.
    """
    words = re.findall(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|[\u4e00-\u9fff]", text)
    sentences = [s for s in re.split(r"[.!?。！？]+", text) if s.strip()]
    return {"words": len(words), "characters": len(text), "sentences": len(sentences)}


# --------------------------------------------------------------------------- travel

# English name -> (Chinese name, region); the tool accepts either name.
FLIGHT_CITIES = {
    "Beijing": ("北京", "cn"), "Shanghai": ("上海", "cn"), "Guangzhou": ("广州", "cn"),
    "Shenzhen": ("深圳", "cn"), "Chengdu": ("成都", "cn"), "Hangzhou": ("杭州", "cn"),
    "Hong Kong": ("香港", "asia"), "Tokyo": ("东京", "asia"), "Seoul": ("首尔", "asia"),
    "Singapore": ("新加坡", "asia"), "Bangkok": ("曼谷", "asia"), "London": ("伦敦", "eu"),
    "Paris": ("巴黎", "eu"), "Frankfurt": ("法兰克福", "eu"), "New York": ("纽约", "na"),
    "San Francisco": ("旧金山", "na"), "Sydney": ("悉尼", "oc"),
}
_CITY_LOOKUP = {k.lower(): k for k in FLIGHT_CITIES} | {zh: k for k, (zh, _) in FLIGHT_CITIES.items()}
AIRLINES = (("Air China", "CA"), ("China Eastern", "MU"), ("China Southern", "CZ"),
            ("Cathay Pacific", "CX"), ("Singapore Airlines", "SQ"), ("Lufthansa", "LH"),
            ("United", "UA"), ("ANA", "NH"))


def _city(name: str) -> str:
    key = name.strip()
    found = _CITY_LOOKUP.get(key) or _CITY_LOOKUP.get(key.lower())
    if not found:
        raise ValueError(f"no flights for {name!r}; known cities: {', '.join(FLIGHT_CITIES)}")
    return found


def search_flights(origin: str, destination: str, date: str, max_price: Optional[int] = None,
                   nonstop_only: bool = False) -> dict:
    """Search one-way flights between two cities on a date; prices in US dollars.

    Args:
        origin: The departure city, e.g. "Beijing" or "北京".
        destination: The arrival city.
        date: The departure date, YYYY-MM-DD.
        max_price: Only return flights at or below this price.
        nonstop_only: Only return nonstop flights.
    """
    a, b = _city(origin), _city(destination)
    if a == b:
        raise ValueError("origin and destination are the same city")
    _date(date)
    regions = {FLIGHT_CITIES[a][1], FLIGHT_CITIES[b][1]}
    base, hours = ((120, 2.0) if len(regions) == 1 else (260, 4.0) if regions == {"cn", "asia"}
                   else (480, 10.0))
    flights = []
    for i in range(3 + _hash("n", a, b, date) % 3):
        h = _hash("flight", a, b, date, i)
        airline, code = AIRLINES[h % len(AIRLINES)]
        stops = 0 if (h >> 8) % 3 else 1
        minutes = int(hours * 60 * (0.8 + ((h >> 12) % 40) / 100)) + stops * 90
        flights.append({
            "flight_no": f"{code}{100 + (h >> 20) % 900}", "airline": airline,
            "depart": f"{6 + (h >> 30) % 16:02d}:{(h >> 36) % 12 * 5:02d}",
            "duration_min": minutes, "stops": stops,
            "price": base + (h >> 40) % base - stops * base // 5})
    flights = [f for f in flights if (max_price is None or f["price"] <= max_price)
               and (not nonstop_only or f["stops"] == 0)]
    flights.sort(key=lambda f: (f["price"], f["depart"]))
    return {"origin": a, "destination": b, "date": date, "count": len(flights), "flights": flights}


# --------------------------------------------------------------------------- shopping

Category = Literal["electronics", "home", "sports", "books", "clothing"]
# (name, Chinese name, category, price in USD, rating)
CATALOG = [
    ("Wireless Headphones", "无线耳机", "electronics", 79.99, 4.5),
    ("Noise-Cancelling Headphones", "降噪耳机", "electronics", 199.0, 4.7),
    ("Gaming Laptop", "游戏笔记本电脑", "electronics", 1299.0, 4.4),
    ("Ultrabook Laptop", "轻薄笔记本电脑", "electronics", 899.0, 4.6),
    ("Phone Case", "手机壳", "electronics", 15.99, 4.1),
    ("Smart Watch", "智能手表", "electronics", 249.0, 4.3),
    ("Coffee Maker", "咖啡机", "home", 89.0, 4.2), ("Desk Lamp", "台灯", "home", 34.5, 4.4),
    ("Air Purifier", "空气净化器", "home", 159.0, 4.5), ("Electric Kettle", "电热水壶", "home", 29.99, 4.6),
    ("Running Shoes", "跑鞋", "sports", 119.0, 4.6), ("Yoga Mat", "瑜伽垫", "sports", 25.0, 4.4),
    ("Basketball", "篮球", "sports", 29.0, 4.5), ("Tennis Racket", "网球拍", "sports", 139.0, 4.2),
    ("Python Programming Book", "Python编程书", "books", 39.99, 4.8),
    ("Science Fiction Novel", "科幻小说", "books", 14.99, 4.3),
    ("Cookbook", "菜谱", "books", 24.0, 4.1), ("Rain Jacket", "雨衣", "clothing", 69.0, 4.2),
    ("Wool Sweater", "羊毛衫", "clothing", 55.0, 4.4), ("Backpack", "双肩包", "clothing", 49.0, 4.7),
]


def search_products(query: str, max_price: Optional[float] = None,
                    category: Optional[Category] = None) -> dict:
    """Search the shop's catalog; returns up to 5 matches, best rated first, prices in USD.

    Args:
        query: Words to look for in the product name (English or Chinese).
        max_price: Only products at or below this price.
        category: Only products in this category.
    """
    q = query.strip().lower()
    if not q:
        raise ValueError("query must not be empty")
    hits = [{"name": n, "name_zh": zh, "category": c, "price": p, "rating": r}
            for n, zh, c, p, r in CATALOG
            if (q in n.lower() or q in zh.lower() or n.lower() in q or zh in q)
            and (max_price is None or p <= max_price) and (category is None or c == category)]
    hits.sort(key=lambda h: (-h["rating"], h["price"]))
    return {"query": query, "count": len(hits), "results": hits[:5]}


# --------------------------------------------------------------------------- calendar


def create_event(title: str, date: str, time: str, duration_minutes: int = 60,
                 location: Optional[str] = None) -> dict:
    """Create a calendar event.

    Args:
        title: What the event is called.
        date: The day of the event, YYYY-MM-DD.
        time: The start time, HH:MM (24-hour clock).
        duration_minutes: How long the event lasts, in minutes.
        location: Where the event takes place.
    """
    day = _date(date)
    try:
        start = dt.datetime.combine(day, dt.time.fromisoformat(time))
    except ValueError:
        raise ValueError(f"time must be HH:MM, got {time!r}") from None
    if duration_minutes <= 0:
        raise ValueError("duration_minutes must be positive")
    end = start + dt.timedelta(minutes=duration_minutes)
    event_id = f"evt_{_hash('event', title, date, time, duration_minutes, location) % 16**8:08x}"
    return {"event_id": event_id, "title": title, "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M"), "end_date": end.date().isoformat(),
            "location": location}


class Priority(str, Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


def set_reminder(text: str, minutes_from_now: int = 30, priority: Priority = Priority.NORMAL) -> dict:
    """Set a reminder that goes off after some minutes.

    Args:
        text: What to be reminded about.
        minutes_from_now: How many minutes from now the reminder goes off.
        priority: How important the reminder is.
    """
    if minutes_from_now <= 0:
        raise ValueError("minutes_from_now must be positive")
    priority = Priority(priority)
    rid = f"rem_{_hash('reminder', text, minutes_from_now, priority.value) % 16**8:08x}"
    return {"reminder_id": rid, "text": text, "minutes_from_now": minutes_from_now,
            "priority": priority.value}


# --------------------------------------------------------------------------- registry

TOOLS: list[Callable] = [
    get_weather, get_forecast, convert_units, calculate_bmi, calculate, compound_interest,
    days_between, add_days, day_of_week, convert_currency, list_supported_currencies,
    loan_payment, translate_word, word_count, search_flights, search_products, create_event,
    set_reminder,
]


def example_tools() -> tuple[list[dict], dict[str, Callable]]:
    """(OpenAI tool schemas, {name: function}) for the example tools."""
    from tooltune.functions import function_to_tool

    return [function_to_tool(f) for f in TOOLS], {f.__name__: f for f in TOOLS}

