"""`tooltune models ...` through the real CLI entry point."""
from __future__ import annotations

from tooltune.cli import main


def test_models_list(capsys, hub_smol):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("smollm2-135m-instruct", "gemma-3-270m", "qwen3-0.6b", "glm-4-9b-chat", "llama3"):
        assert name in out
    assert "yes" in out  # smollm2 is pulled


def test_models_info(capsys, hub_smol):
    assert main(["models", "info", "smollm2-135m-instruct"]) == 0
    out = capsys.readouterr().out
    assert "layers:     30" in out and "vocab: 49152" in out and "chat template: yes" in out
    assert str(hub_smol) in out and "model.safetensors" in out


def test_models_info_not_pulled_and_gguf(capsys, empty_home, hub_smol_gguf):
    assert main(["models", "info", "qwen3-0.6b"]) == 0
    assert "not pulled" in capsys.readouterr().out
    assert main(["models", "info", str(hub_smol_gguf)]) == 0
    out = capsys.readouterr().out
    assert "general.architecture: llama" in out and "tokenizer.ggml.eos_token_id: 2" in out


def test_models_pull_noop_and_errors(capsys, hub_smol):
    assert main(["models", "pull", "smollm2-135m-instruct"]) == 0
    assert capsys.readouterr().out.strip() == str(hub_smol)
    assert main(["models", "pull", "smolm2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'smolm2'") and len(err.strip().splitlines()) == 1
