"""Tool-call accuracy: cases come from every assistant turn, scores count what they claim to."""
from tooltune.conversation import Conversation, tool_call
from tooltune.evaluate.toolcall import Case, cases_from, evaluate_toolcalls, reply_budget, score
from tooltune.templates import get_template
from tooltune.templates.render import render, render_prompt

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]


def conv():
    return Conversation([
        {"role": "user", "content": "call f"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("f", {"x": 1}, "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "assistant", "content": "done"}], tools=TOOLS)


def test_every_assistant_turn_is_a_case():
    cases = cases_from([conv()])
    assert [c.expected for c in cases] == [[("f", {"x": 1})], []]
    assert [len(c.messages) for c in cases] == [1, 3]


def test_scores():
    cases = [Case([], TOOLS, [("f", {"x": 1})]), Case([], TOOLS, [("f", {"x": 1}), ("g", {})]), Case([], TOOLS, [])]
    perfect = score(cases, [[("f", {"x": 1})], [("g", {}), ("f", {"x": 1})], []])
    assert (perfect.decision, perfect.name, perfect.arguments, perfect.overall) == (1, 1, 1, 1)
    s = score(cases, [[("f", {"x": 2})], [], [("f", {})]])
    assert s.decision == 1 / 3 and s.name == 0.5 and s.arguments == 0 and s.overall == 0


def test_stop_words_that_are_not_one_token_end_replies_as_text(smol_tokenizer):
    from tooltune.templates import get_template
    from tooltune.templates.render import stop_strings

    assert stop_strings(smol_tokenizer, get_template("chatml")) == ()  # <|im_end|> is a token: by id
    assert stop_strings(smol_tokenizer, get_template("llama3")) == ("<|eot_id|>", "<|eom_id|>")


def test_real_model_replies_are_parsed(smollm2_path, smol_tokenizer, shared_data):
    from tooltune.data.loader import load_conversations
    from tooltune.model.loader import load_model
    convs = load_conversations("glaive_toolcall_en_demo", str(shared_data), max_samples=3).train
    model = load_model(str(smollm2_path), dtype="fp32")
    scores, records = evaluate_toolcalls(model, smol_tokenizer, get_template("chatml"), convs, limit=4,
                                         max_new_tokens=24, batch_size=3)
    assert scores.cases == len(records) == 4
    assert all("<|im_end|>" not in r["reply"] for r in records)
    assert all(r["expected"] == c.expected for r, c in zip(records, cases_from(convs, 4)))


def test_budget_fits_the_expected_answer(smol_tokenizer):
    """Three parallel calls need more than a one-call budget; the budget is the rendered answer's
    length (its trained tokens, end tag included) plus a margin, and never below the floor."""
    tools = [{"type": "function", "function": {"name": "word_count", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}}}}}]
    text = "The quick brown fox jumps over the lazy dog, twice over and then once more for luck."
    msgs = [{"role": "user", "content": "count the words in three texts"}]
    calls = [("word_count", {"text": text})] * 3
    for name in ("chatml", "llama3", "mistral", "gemma"):
        template = get_template(name)
        budget = reply_budget(smol_tokenizer, template, Case(msgs, tools, calls), 16)
        answer = {"role": "assistant", "content": None,
                  "tool_calls": [tool_call(n, a, f"c{i}") for i, (n, a) in enumerate(calls)]}
        full = render(smol_tokenizer, template, [*msgs, answer], tools)
        prompt = render_prompt(smol_tokenizer, template, msgs, tools)
        assert full.startswith(prompt)
        rendered = len(smol_tokenizer(full[len(prompt):].rstrip(), add_special_tokens=False)["input_ids"])
        assert rendered > 16 * 4 and rendered <= budget <= rendered + 12, (name, rendered, budget)
    assert reply_budget(smol_tokenizer, get_template("chatml"), Case(msgs, tools, []), 16) == 16
    assert reply_budget(smol_tokenizer, get_template("chatml"), Case(msgs, tools, calls[:1]), 200) == 200


def test_long_answers_are_not_cut_by_the_floor(smollm2_path, smol_tokenizer):
    """A case whose expected answer is long generates past max_new_tokens; the others stop there."""
    from tooltune.model.loader import load_model
    long_args = {"text": "The quick brown fox jumps over the lazy dog. " * 4}
    convs = [Conversation([{"role": "user", "content": "Tell me a long story about a fox."},
                           {"role": "assistant", "content": None, "tool_calls": [tool_call("f", long_args, "c1")]}],
                          tools=TOOLS),
             Conversation([{"role": "user", "content": "Tell me a long story about a fox."},
                           {"role": "assistant", "content": "Once upon a time."}], tools=TOOLS)]
    model = load_model(str(smollm2_path), dtype="fp32")
    _, records = evaluate_toolcalls(model, smol_tokenizer, get_template("chatml"), convs, max_new_tokens=8)
    lengths = [len(smol_tokenizer(r["reply"], add_special_tokens=False)["input_ids"]) for r in records]
    assert lengths[0] > 8 and lengths[1] <= 8, lengths


def test_strict_tools_hold_calls_to_the_schema(smollm2_path, smol_tokenizer):
    """strict_tools builds a constraint per case and decodes under it (this fails if that plumbing
    breaks); any call the untuned model opens names an offered tool with schema-valid arguments.
    The untuned model usually answers in text here, so the grammar itself is tested in
    tests/engine/test_constrain.py."""
    import jsonschema
    from tooltune.model.loader import load_model
    from tooltune.templates.parsers import get_parser
    tools = [{"type": "function", "function": {"name": "calculate_gpa", "description": "Calculate a GPA.",
              "parameters": {"type": "object", "required": ["grades", "hours"], "properties": {
                  "grades": {"type": "array", "items": {"type": "string"}},
                  "hours": {"type": "array", "items": {"type": "integer"}}}}}}]
    prompt = [{"role": "user", "content": "My grades are A, A, B, C and the hours 3, 4, 3, 2. "
                                          "Call calculate_gpa with <tool_call>"}]
    convs = [Conversation(prompt + [{"role": "assistant", "content": None,
                                     "tool_calls": [tool_call("calculate_gpa", {"grades": ["A"], "hours": [3]}, "c")]}],
                          tools=tools)]
    model = load_model(str(smollm2_path), dtype="fp32")
    _, records = evaluate_toolcalls(model, smol_tokenizer, get_template("chatml"), convs, max_new_tokens=48,
                                    strict_tools=True)
    reply = records[0]["reply"]
    for call in get_parser(get_template("chatml").parser).parse(reply).calls:
        assert call.name == "calculate_gpa"
        jsonschema.validate(call.arguments, tools[0]["function"]["parameters"])
