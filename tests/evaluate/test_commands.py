"""`tooltune eval`: a real model scored on a small dataset of our own, from the command line."""
from __future__ import annotations

import json

from tooltune.cli import main

WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _conversation(city: str) -> dict:
    return {"conversations": [
        {"from": "human", "value": f"What's the weather in {city}?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": city}})},
        {"from": "observation", "value": json.dumps({"city": city, "temp_c": 21})},
        {"from": "gpt", "value": f"It is 21 C in {city}."}],
        "tools": json.dumps([WEATHER])}


def _dataset(tmp_path):
    rows = [_conversation(c) for c in ("Paris", "Lima", "Oslo", "Cairo")]
    (tmp_path / "calls.json").write_text(json.dumps(rows))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"calls": {
        "file_name": "calls.json", "formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"}}}))
    return tmp_path


def test_eval_scores_a_model_and_saves_every_case(smollm2_path, tmp_path, capsys):
    data = _dataset(tmp_path)
    out = tmp_path / "cases.json"
    code = main(["eval", f"model={smollm2_path}", "dataset=calls", f"dataset_dir={data}", "val_size=2",
                 "max_new_tokens=24", "--save_path", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    scores = json.loads(printed.strip().splitlines()[-1])
    assert "tool-call eval of" in printed and "cases written to" in printed
    saved = json.loads(out.read_text())
    assert saved["scores"] == scores
    # val_size=2: two held-out conversations, two assistant turns each (the call, then the answer)
    assert scores["cases"] == 4 == len(saved["cases"])
    assert [bool(c["expected"]) for c in saved["cases"]] == [True, False, True, False]
    assert all(isinstance(c["reply"], str) and "predicted" in c for c in saved["cases"])
    assert {c["expected"][0][1]["city"] for c in saved["cases"] if c["expected"]} < {"Paris", "Lima", "Oslo", "Cairo"}
    assert 0 <= scores["overall"] <= 1


def test_eval_says_what_is_missing(tmp_path, capsys, smollm2_path):
    assert main(["eval", "dataset=calls"]) == 2
    assert "model_name_or_path" in capsys.readouterr().err
    assert main(["eval", f"--model={smollm2_path}", "datset=calls"]) == 2
    assert "datset" in capsys.readouterr().err           # unknown key, named
    (tmp_path / "chat.json").write_text(json.dumps([{"instruction": "hi", "output": "hello"}]))
    assert main(["eval", f"--model={smollm2_path}", f"--dataset={tmp_path / 'chat.json'}"]) == 2
    assert "no conversation offers tools" in capsys.readouterr().err
