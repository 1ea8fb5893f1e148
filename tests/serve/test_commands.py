"""`tooltune api` arguments: flags, LLaMA-Factory's names, a YAML config, env, clear errors."""
from __future__ import annotations

import pytest

from tooltune.cli import build_parser, main
from tooltune.errors import UserError
from tooltune.serve.commands import api_config_from_args
from tooltune.serve.vllm_backend import vllm_argv


def _cfg(argv):
    return api_config_from_args(build_parser().parse_args(["api", *argv]))


def test_llamafactory_command_line_and_env(monkeypatch):
    monkeypatch.setenv("API_PORT", "8123")
    monkeypatch.delenv("TOOLTUNE_API_KEY", raising=False)
    cfg = _cfg(["--model_name_or_path", "models/yi-agent-6b", "--adapter_name_or_path", "saves/a",
                "--template", "default", "--infer_backend", "huggingface", "--finetuning_type", "lora"])
    assert (cfg.model_name_or_path, cfg.adapter_name_or_path, cfg.template, cfg.port, cfg.host) == \
        ("models/yi-agent-6b", "saves/a", "default", 8123, "127.0.0.1")


def test_yaml_config_overrides_and_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("API_PORT", raising=False)
    monkeypatch.setenv("TOOLTUNE_API_KEY", "sk-env")
    path = tmp_path / "api.yaml"
    path.write_text("model_name_or_path: smollm2-135m-instruct\nport: 9000\nlora: [a=saves/a]\nmax_batch: 8\n")
    cfg = _cfg([str(path), "max_waiting=3", "--lora", "b=saves/b", "--max-num-seqs", "4"])
    assert cfg.port == 9000 and cfg.max_waiting == 3 and cfg.max_batch == 4 and cfg.api_key == "sk-env"
    assert cfg.lora == ["b=saves/b"]  # a flag replaces the config's list, like any other key


def test_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("API_PORT", raising=False)
    with pytest.raises(UserError, match="no model"):
        _cfg([])
    with pytest.raises(UserError, match="did you mean 'max_batch'"):
        _cfg(["--model", "m", "max_bach=3"])
    assert main(["api", "--model", "smollm2-135m-instruct", "--infer_backend", "tgi"]) == 2
    assert "infer_backend 'tgi'" in capsys.readouterr().err
    assert main(["api", "--model", "m", "--lora", "nodir"]) == 2
    assert "expected NAME=DIR" in capsys.readouterr().err


def test_vllm_command_carries_template_parser_and_adapters(monkeypatch):
    monkeypatch.delenv("API_PORT", raising=False)
    cfg = _cfg(["--model", "Qwen/Qwen2.5-7B-Instruct", "--adapter", "saves/agent", "--lora", "b=saves/b",
                "--api-key", "k", "--port", "8001"])
    argv = vllm_argv(cfg, "/models/qwen", "/tmp/t.jinja", "hermes")
    joined = " ".join(argv)
    assert "--chat-template /tmp/t.jinja" in joined and "--tool-call-parser hermes" in joined
    assert "--enable-auto-tool-choice" in joined and "--api-key k" in joined and "--port 8001" in joined
    assert argv[argv.index("--lora-modules") + 1:] == ["agent=saves/agent", "b=saves/b"]


def test_unset_sampling_is_the_configs_then_the_models_then_llamafactorys(monkeypatch):
    from tooltune.serve.commands import sampling_defaults

    monkeypatch.delenv("API_PORT", raising=False)
    plain, model_says = _cfg(["--model", "m"]), {"temperature": 0.6, "top_p": 0.9}
    assert (sampling_defaults(plain, {}).temperature, sampling_defaults(plain, {}).top_p) == (0.95, 0.7)
    assert sampling_defaults(plain, model_says).temperature == 0.6
    chosen = sampling_defaults(_cfg(["--model", "m", "temperature=0.3", "--top_p", "1"]), model_says)
    assert (chosen.temperature, chosen.top_p) == (0.3, 1.0)
    greedy = sampling_defaults(_cfg(["--model", "m", "do_sample=false", "temperature=0.3"]), model_says)
    assert greedy.temperature == 0.0
    with pytest.raises(UserError, match="temperature 5"):
        sampling_defaults(_cfg(["--model", "m", "temperature=5"]), {})
    argv = vllm_argv(_cfg(["--model", "m", "--do_sample", "false"]), "/m", "/t.jinja", "hermes")
    assert argv[argv.index("--override-generation-config") + 1] == '{"temperature": 0.0}'
    assert "--override-generation-config" not in vllm_argv(plain, "/m", "/t.jinja", "hermes")
