"""Real implementations of some catalog families, so rows that call them carry real results and
answers built from them (the calculations; lookups of the world have no honest offline answer).
Each takes the family's parameter names as keywords."""
from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Callable

_POINTS = {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0, "E": 0.0, "F": 0.0}
_TO_M = {"meters": 1.0, "centimeters": 0.01, "feet": 0.3048, "inches": 0.0254, "kilometers": 1000.0, "miles": 1609.344}
_TO_KG = {"kilograms": 1.0, "grams": 0.001, "pounds": 0.45359237, "ounces": 0.028349523125}


def _r(x: float, digits: int = 2) -> float | int:
    x = round(float(x), digits)
    return int(x) if x.is_integer() else x


def gpa(grades: list[str], hours: list[int]) -> dict:
    if len(grades) != len(hours):
        raise ValueError(f"{len(grades)} grades but {len(hours)} credit hours")
    points = [_POINTS[g.strip().upper()[:1]] for g in grades]
    return {"gpa": _r(sum(p * h for p, h in zip(points, hours)) / sum(hours))}


def _temperature(temperature: float, from_unit: str, to_unit: str) -> dict:
    c = {"celsius": temperature, "fahrenheit": (temperature - 32) * 5 / 9, "kelvin": temperature - 273.15}[from_unit]
    out = {"celsius": c, "fahrenheit": c * 9 / 5 + 32, "kelvin": c + 273.15}[to_unit]
    return {"temperature": _r(out), "unit": to_unit}


def _loan(principal: float, annual_rate: float, years: int) -> dict:
    r, n = annual_rate / 100 / 12, years * 12
    pay = principal / n if r == 0 else principal * r / (1 - (1 + r) ** -n)
    return {"monthly_payment": _r(pay), "total_paid": _r(pay * n)}


IMPLEMENTED: dict[str, Callable] = {
    "education.calculate_gpa": gpa,
    "education.calculate_average_score": lambda scores: {"average": _r(statistics.fmean(scores))},
    "geometry.calculate_triangle_area": lambda base, height, unit="units": {"area": _r(base * height / 2), "unit": f"square {unit}"},
    "geometry.calculate_circle_area": lambda radius, unit="units": {"area": _r(math.pi * radius ** 2), "unit": f"square {unit}"},
    "geometry.calculate_rectangle_perimeter": lambda length, width: {"perimeter": _r(2 * (length + width))},
    "geometry.calculate_sphere_volume": lambda radius: {"volume": _r(4 / 3 * math.pi * radius ** 3)},
    "geometry.calculate_cylinder_volume": lambda radius, height: {"volume": _r(math.pi * radius ** 2 * height)},
    "math.calculate_factorial": lambda number: {"factorial": math.factorial(number)},
    "math.calculate_gcd": lambda a, b: {"gcd": math.gcd(a, b)},
    "math.calculate_lcm": lambda a, b: {"lcm": math.lcm(a, b)},
    "math.calculate_power": lambda base, exponent: {"result": base ** exponent},
    "math.calculate_average": lambda numbers: {"average": _r(statistics.fmean(numbers))},
    "math.calculate_median": lambda values: {"median": _r(statistics.median(values))},
    "math.calculate_percentage": lambda part, whole: {"percentage": _r(100 * part / whole)},
    "math.convert_to_binary": lambda number: {"binary": bin(number)[2:]},
    "physics.calculate_force": lambda mass, acceleration: {"force_newtons": _r(mass * acceleration)},
    "physics.calculate_kinetic_energy": lambda mass, velocity: {"kinetic_energy_joules": _r(0.5 * mass * velocity ** 2)},
    "physics.calculate_velocity": lambda initial_velocity, acceleration, time: {"final_velocity": _r(initial_velocity + acceleration * time)},
    "health.calculate_bmi": lambda weight, height: {"bmi": _r(weight / (height / 100) ** 2, 1)},
    "finance.calculate_loan_payment": _loan,
    "finance.calculate_tip": lambda bill_amount, tip_percentage, split=1: {
        "tip": _r(bill_amount * tip_percentage / 100), "total_per_person": _r(bill_amount * (1 + tip_percentage / 100) / split)},
    "finance.calculate_discount": lambda original_price, discount_percent: {"final_price": _r(original_price * (1 - discount_percent / 100))},
    "finance.calculate_sales_tax": lambda amount, tax_rate: {"tax": _r(amount * tax_rate / 100), "total": _r(amount * (1 + tax_rate / 100))},
    "finance.calculate_simple_interest": lambda principal, rate, time: {"interest": _r(principal * rate / 100 * time)},
    "finance.calculate_roi": lambda initial_investment, final_value: {"roi_percent": _r(100 * (final_value - initial_investment) / initial_investment)},
    "dates.days_between_dates": lambda start_date, end_date: {"days": abs((dt.date.fromisoformat(end_date) - dt.date.fromisoformat(start_date)).days)},
    "dates.get_day_of_week": lambda date: {"day_of_week": dt.date.fromisoformat(date).strftime("%A")},
    "units.convert_length": lambda value, from_unit, to_unit: {"value": _r(value * _TO_M[from_unit] / _TO_M[to_unit], 4), "unit": to_unit},
    "units.convert_weight": lambda value, from_unit, to_unit: {"value": _r(value * _TO_KG[from_unit] / _TO_KG[to_unit], 4), "unit": to_unit},
    "units.convert_temperature": _temperature,
    "productivity.count_words": lambda text: {"words": len(text.split()), "characters": len(text)},
}
