"""Configs: LLaMA-Factory YAMLs load as they are; unknown keys and bad values are clear errors."""
from pathlib import Path

import pytest

from tooltune.errors import UserError
from tooltune.train.args import TrainConfig, load_train_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_llamafactory_yaml_loads_unchanged(capsys):
    cfg = load_train_config(str(EXAMPLES / "llamafactory_sft.yaml"), [])
    assert cfg.template == "smollm2" and cfg.finetuning_type == "lora" and cfg.lora_alpha == 16
    assert cfg.gradient_accumulation_steps == 2 and cfg.learning_rate == 1e-4
    # its keys that change nothing here are accepted, and said to be ignored rather than kept quiet
    note = capsys.readouterr().err
    assert "ddp_timeout, do_train, overwrite_cache, preprocessing_num_workers, trust_remote_code" in note
    assert "finetuning_type" not in note  # train uses it


def test_every_command_takes_the_same_llamafactory_keys(capsys):
    from tooltune.config import load_config
    from tooltune.evaluate.commands import EvalConfig
    from tooltune.export.merge import ExportConfig
    from tooltune.serve.commands import ApiConfig

    keys = ["model=m", "adapter=a", "finetuning_type=lora", "trust_remote_code=true"]
    with pytest.raises(UserError, match="missing config key.s.: export_dir"):
        load_config(ExportConfig, None, keys)
    capsys.readouterr()
    for cls in (EvalConfig, ExportConfig, ApiConfig):
        cfg = load_config(cls, None, keys + (["export_dir=out"] if cls is ExportConfig else []))
        assert (cfg.model_name_or_path, cfg.adapter_name_or_path) == ("m", "a")
        assert "finetuning_type, trust_remote_code" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown config key 'trust_remote_cod'"):
        load_config(EvalConfig, None, ["trust_remote_cod=true"])


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
