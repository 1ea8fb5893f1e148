"""Configs: LLaMA-Factory YAMLs load as they are; unknown keys and bad values are clear errors."""
from pathlib import Path

import pytest

from tooltune.errors import UserError
from tooltune.train.args import TrainConfig, load_train_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_llamafactory_yaml_loads_unchanged():
    cfg = load_train_config(str(EXAMPLES / "llamafactory_sft.yaml"), [])
    assert cfg.template == "smollm2" and cfg.finetuning_type == "lora" and cfg.lora_alpha == 16
    assert cfg.gradient_accumulation_steps == 2 and cfg.learning_rate == 1e-4


def test_overrides_are_typed():
    cfg = load_train_config(None, ["learning_rate=1e-3", "packing=false", "max_samples=10", "lora_target=q_proj,v_proj"])
    assert cfg.learning_rate == 1e-3 and cfg.packing is False and cfg.max_samples == 10
    assert cfg.lora_target == "q_proj,v_proj"


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(UserError, match=r"unknown config key 'learnig_rate'; did you mean 'learning_rate'"):
        load_train_config(None, ["learnig_rate=1"])


@pytest.mark.parametrize("pair, msg", [("finetuning_type=qlora", "finetuning_type"),
                                       ("cutoff_len=long", "cutoff_len: expected a number"),
                                       ("packing=maybe", "packing: expected true or false")])
def test_bad_values(pair, msg):
    with pytest.raises(UserError, match=msg):
        load_train_config(None, [pair])


def test_mask_history_means_last_turn():
    assert TrainConfig(mask_history=True).train_on == "last"


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_train_config(str(p), [])
    with pytest.raises(UserError, match="not found"):
        load_train_config(str(tmp_path / "missing.yaml"), [])
