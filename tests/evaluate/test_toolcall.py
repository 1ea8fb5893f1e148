"""Tool-call accuracy: cases come from every assistant turn, scores count what they claim to."""
from tooltune.data.types import Conversation, tool_call
from tooltune.evaluate.toolcall import Case, cases_from, cut_at_stop, evaluate_toolcalls, score
from tooltune.templates import get_template

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


def test_cut_at_stop():
    assert cut_at_stop("a<|im_end|>b<eos>", ["<eos>", "<|im_end|>", None]) == "a"


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
