"""The reference article's tool as a user writes it: a typed, documented Python function.
`tooltune data synth --tools examples/gpa_tools.py` builds training rows for it (the Chinese
docstring gives the Chinese requests their words); `tooltune chat --tools` runs it."""


def calculate_gpa(grades: list[str], hours: list[int]) -> float:
    """根据课程成绩和学时计算 GPA

    Args:
        grades: 课程成绩, e.g. A, B, C
        hours: 课程学时
    """
    grade_to_score = {"A": 4, "B": 3, "C": 2}
    if len(grades) != len(hours) or not grades:
        raise ValueError("grades and hours must be lists of the same length")
    return sum(grade_to_score[g] * h for g, h in zip(grades, hours)) / sum(hours)
