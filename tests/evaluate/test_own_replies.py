"""`tooltune generate`: the model's own replies to a dataset's prompts, as a dataset to train on."""
from __future__ import annotations

import json

import pytest

from tooltune.cli import main
from tooltune.data.loader import load_conversations
from tooltune.errors import UserError
from tooltune.evaluate.own_replies import GenerateConfig, generate_to_file

pytestmark = pytest.mark.slow


def test_replies_become_a_chat_dataset(smollm2_path, shared_data, tmp_path):
    out = tmp_path / "self_chat.json"
    assert main(["generate", "--model", str(smollm2_path), "--dataset", "alpaca_en_demo", "--dataset_dir",
                 str(shared_data), "-n", "6", "-o", str(out), "max_new_tokens=160"]) == 0
    rows = json.loads(out.read_text())
    assert 1 <= len(rows) <= 6
    prompts = {c.messages[0]["content"] for c in
               load_conversations("alpaca_en_demo", dataset_dir=str(shared_data), max_samples=6, seed=42).train}
    convs = load_conversations(str(out)).train      # loads back as training data, tools none
    for conv in convs:
        user, reply = conv.messages
        assert user["role"] == "user" and user["content"] in prompts
        assert reply["role"] == "assistant" and reply["content"].strip() and not conv.tools


def test_replies_cut_at_max_new_tokens_are_left_out(smollm2_path, shared_data, tmp_path):
    cfg = GenerateConfig(model_name_or_path=str(smollm2_path), dataset="alpaca_en_demo",
                         dataset_dir=str(shared_data), max_samples=3, max_new_tokens=2,
                         save_path=str(tmp_path / "cut.json"))
    with pytest.raises(UserError, match="max_new_tokens=2"):
        generate_to_file(cfg)
    assert not (tmp_path / "cut.json").exists()
