"""The held-out split is by job, not by row: a family, and every family doing the same job under
another name, is either in training or in the test split, so a test row's tools (and their
look-alikes) are unseen in training."""
from __future__ import annotations

import hashlib

HOLDOUT = 0.12   # the share of jobs held out

# Families that do the same job under other names: never a distractor or a "no tool fits" for
# each other, and always in the same split.
SAME_JOB = (
    {"math.calculate_average", "library.statistics.mean", "education.calculate_average_score"},
    {"math.calculate_median", "library.statistics.median"},
    {"math.calculate_standard_deviation", "library.statistics.stdev", "library.statistics.pstdev"},
    {"math.calculate_factorial", "library.math.factorial"},
    {"dates.get_day_of_week", "library.calendar.weekday"},
    {"geometry.calculate_distance_between_points", "library.math.dist"},
    {"food.book_table", "food.create_restaurant_reservation"},
    {"travel.rent_car", "vehicles.create_car_rental"},
    {"productivity.create_todo", "productivity.create_task", "productivity.create_reminder"},
    {"communication.schedule_meeting", "productivity.create_calendar_event"},
    {"finance.calculate_loan_payment", "real_estate.calculate_mortgage"},
    {"shopping.track_package", "logistics.get_shipment"},
    {"communication.send_email", "communication.send_group_email"},
    {"travel.search_flights", "travel.search_flight_booking"},
    {"travel.search_hotels", "travel.search_hotel_booking"},
    {"entertainment.search_books", "entertainment.get_book_recommendations"},
    {"math.calculate_power", "library.math.sqrt", "library.math.cbrt"},
    {"weather.get_current_weather", "weather.get_weather_forecast"},
    {"library.statistics.variance", "library.statistics.stdev"},
)
_GROUP = {fid: min(group) for group in SAME_JOB for fid in group}


def job_of(family_id: str) -> str:
    return _GROUP.get(family_id, family_id)


def split_of(family_id: str, holdout: float = HOLDOUT) -> str:
    """"test" for a stable `holdout` share of jobs (a family and those doing its job), by hash."""
    h = int(hashlib.sha256(f"tooltune-split:{job_of(family_id)}".encode()).hexdigest()[:8], 16)
    return "test" if h / 0xFFFFFFFF < holdout else "train"
