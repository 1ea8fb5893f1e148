"""AST matching of tool calls, as function-calling benchmarks score them, and case categories."""
from tooltune.conversation import Conversation, tool_call
from tooltune.evaluate.ast_match import call_matches, calls_match, category
from tooltune.evaluate.toolcall import Case, cases_from, format_table, score

GPA = {"type": "function", "function": {"name": "calculate_gpa", "parameters": {
    "type": "object", "required": ["grades", "hours"],
    "properties": {"grades": {"type": "array", "items": {"type": "string"}},
                   "hours": {"type": "array", "items": {"type": "integer"}},
                   "scale": {"type": "number", "default": 4.0},
                   "unit": {"type": "string", "enum": ["points", "percent"]}}}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}
WANT = ("calculate_gpa", {"grades": ["A", "A", "B", "C"], "hours": [3, 4, 3, 2]})


def test_a_right_call_in_other_spellings_matches():
    assert call_matches(WANT, WANT, GPA)
    assert call_matches(WANT, ("calculate_gpa", {"hours": [3, 4, 3, 2], "grades": ["a", "A ", "B.", "c"]}), GPA)
    assert call_matches(WANT, ("calculate_gpa", {**WANT[1], "scale": 4}), GPA)     # the default, as an int
    assert call_matches(("f", {"x": 3.0}), ("f", {"x": 3}), {"function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "number"}}}}})


def test_wrong_calls_do_not_match():
    wrong = [("calculate_gpa", {"grades": "A", "hours": 3}),                       # a value, not the array
             ("calculate_gpa", {"grades": ["A", "A", "B"], "hours": [3, 4, 3, 2]}),  # one grade dropped
             ("calculate_gpa", {"grades": ["A", "A", "B", "C"]}),                   # a required one missing
             ("calculate_gpa", {**WANT[1], "semester": "fall"}),                    # an invented parameter
             ("calculate_gpa", {**WANT[1], "scale": 5}),                            # not asked for, not default
             ("calculate_gpa", {**WANT[1], "unit": "grade"}),                       # outside the enum
             ("calculate_gpa", {"grades": ["A", "A", "B", "C"], "hours": ["3", "4", "3", "2"]}),  # strings
             ("calc_gpa", WANT[1])]
    assert not any(call_matches(WANT, w, GPA) for w in wrong)
    assert not call_matches(("f", {"on": True}), ("f", {"on": 1}), None)


def test_parallel_calls_match_in_any_order_and_count():
    want = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}), WANT]
    got = [WANT, ("get_weather", {"city": "rome"}), ("get_weather", {"city": "Paris"})]
    assert calls_match(want, got, [WEATHER, GPA])
    assert not calls_match(want, got[:2], [WEATHER, GPA])
    assert not calls_match(want, [WANT, ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Paris"})],
                           [WEATHER, GPA])


def test_categories_from_the_conversations_shape():
    user = [{"role": "user", "content": "q"}]
    assert category(user, [("f", {})], 1, False) == "simple"
    assert category(user, [("f", {})], 3, False) == "multiple"
    assert category(user, [("f", {}), ("f", {"a": 1})], 1, False) == "parallel"
    assert category(user, [("f", {}), ("g", {})], 2, False) == "parallel_multiple"
    assert category(user, [], 2, False) == "irrelevance"
    assert category(user, [], 2, True) == "missing"
    after = user + [{"role": "assistant", "content": None, "tool_calls": [tool_call("f", {}, "c")]},
                    {"role": "tool", "tool_call_id": "c", "content": "1"}]
    assert category(after, [], 1, False) == "answer"
    assert category(after, [("f", {})], 1, False) == "multi_turn"


def test_scores_per_category_and_both_argument_columns():
    convs = [Conversation([{"role": "user", "content": "gpa"},
                           {"role": "assistant", "content": None, "tool_calls": [tool_call(*WANT, "c1")]}], [GPA]),
             Conversation([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                          [GPA, WEATHER])]
    cases = cases_from(convs)
    assert [c.category for c in cases] == ["simple", "irrelevance"]
    near = [("calculate_gpa", {"hours": [3, 4, 3, 2], "grades": ["a", "a", "b", "c"]})]
    s = score(cases, [near, []])
    assert s.ast == 1.0 and s.overall == 0.5      # AST accepts the case-insensitive strings, exact does not
    assert s.by_category == {"simple": {"cases": 1, "ast": 1.0, "exact": 0.0},
                             "irrelevance": {"cases": 1, "ast": 1.0, "exact": 1.0}}
    s = score(cases, [[], [("get_weather", {"city": "x"})]])
    assert s.ast == 0 and s.by_category["irrelevance"]["ast"] == 0
    assert "irrelevance" in format_table(s) and "all" in format_table(s)


def test_a_limited_sample_covers_every_category():
    convs = [Conversation([{"role": "user", "content": str(i)},
                           {"role": "assistant", "content": None, "tool_calls": [tool_call(*WANT, "c")]}], [GPA])
             for i in range(10)]
    convs.append(Conversation([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], [GPA]))
    picked = cases_from(convs, limit=4)
    assert len(picked) == 4 and {c.category for c in picked} == {"simple", "irrelevance"}
    assert isinstance(picked[0], Case)
