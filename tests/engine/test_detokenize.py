"""IncrementalDetokenizer: the same text as decoding the whole reply, a few tokens at a time."""
import pytest

from tooltune.engine.detokenize import IncrementalDetokenizer

TEXT = ("Hello world!  The weather in Zürich is 12 °C 🌦️, 东京 is 18 °C, 龘 𓀀 ꙮ.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "São Paulo"}}\n</tool_call> ' * 3)


@pytest.mark.parametrize("name", ["smol_tokenizer", "gemma_tokenizer"])
def test_token_by_token_equals_whole_decode(name, request):
    tokenizer = request.getfixturevalue(name)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert any(tokenizer.decode(ids[:k]).endswith("\ufffd") for k in range(len(ids))), \
        "the text should split some character across tokens"
    detok, tokens, seen = IncrementalDetokenizer(tokenizer), [], ""
    for token in ids:
        tokens.append(token)
        text = detok.update(tokens)
        assert "\ufffd" not in text
        assert text.startswith(seen)  # what was sent is never taken back
        assert tokenizer.decode(tokens).startswith(text)
        seen = text
    assert detok.final(tokens) == tokenizer.decode(ids) == text


def test_each_step_decodes_a_short_window(smol_tokenizer):
    ids = smol_tokenizer(TEXT * 4, add_special_tokens=False)["input_ids"]
    lengths = []

    class Spy:
        def decode(self, tokens, **kw):
            lengths.append(len(tokens))
            return smol_tokenizer.decode(tokens, **kw)

    detok, tokens = IncrementalDetokenizer(Spy()), []
    for token in ids:
        tokens.append(token)
        detok.update(tokens)
    assert len(ids) > 300 and max(lengths) <= 8  # the last piece, and a character's bytes
    assert detok.text == smol_tokenizer.decode(ids)


def test_final_keeps_an_unfinished_character(smol_tokenizer):
    ids = smol_tokenizer("🌦️", add_special_tokens=False)["input_ids"]
    partial = ids[:1]
    detok = IncrementalDetokenizer(smol_tokenizer)
    assert detok.update(partial) == ""
    assert detok.final(partial) == smol_tokenizer.decode(partial) != ""
