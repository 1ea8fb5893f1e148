"""A request's own rules, without a model: what text may be sent before the reply ends, and
where prompt-lookup drafts come from."""
from tooltune.engine.requests import holding_back, prompt_lookup


def test_text_that_may_begin_a_stop_string_or_a_character_is_held_back():
    assert holding_back("Hello <|im", ("<|im_end|>",)) == "Hello "
    assert holding_back("Hello <|im_end", ()) == "Hello <|im_end"
    assert holding_back("成绩\ufffd", ()) == "成绩"                  # half of a UTF-8 character
    assert holding_back("a < b", ("<|im_end|>",)) == "a < b"         # "<" then " ": no stop can follow
    assert holding_back("x\n\nObs", ("\nObservation:",)) == "x\n"          # "\nObs" may begin it


def test_drafts_are_what_followed_the_newest_ngram_last_time():
    ctx = [5, 6, 7, 8, 9, 1, 5, 6, 7]
    assert prompt_lookup(ctx, 2) == [8, 9]                          # 5 6 7 -> 8 9
    assert prompt_lookup([1, 2, 3, 4, 2, 3], 3) == [4, 2, 3]         # no 3-gram repeat: the 2-gram's
    assert prompt_lookup([1, 2, 3], 4) == []
