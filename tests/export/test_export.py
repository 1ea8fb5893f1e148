"""Export on the real SmolLM2 + a freshly trained LoRA: merged logits, shards, the template the
folder carries, GGUF read back through transformers, refusal to overwrite and atomicity."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tooltune.errors import UserError
from tooltune.export.merge import ExportConfig, export_model

pytestmark = pytest.mark.slow

PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "What's the weather in Paris? Answer in 2 words."}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def adapter(smollm2_path, shared_data, tmp_path_factory) -> Path:
    from tooltune.train.args import TrainConfig
    from tooltune.train.sft import run_train

    out = tmp_path_factory.mktemp("lora")
    run_train(TrainConfig(dataset="glaive_toolcall_en_demo", dataset_dir=str(shared_data), max_samples=8,
                          cutoff_len=256, per_device_train_batch_size=2, max_steps=2, learning_rate=1e-3,
                          bf16=False, output_dir=str(out)))
    return out


@pytest.fixture(scope="module")
def exported(adapter, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "merged"
    report = export_model(ExportConfig(export_dir=str(out), adapter_name_or_path=str(adapter),
                                       export_size=0.1, gguf="f16"))
    return out, report


def _prompt_ids(tok) -> torch.Tensor:
    text = tok.apply_chat_template(PROMPT, tools=[WEATHER], tokenize=False, add_generation_prompt=True)
    return torch.tensor([tok(text, add_special_tokens=False).input_ids])


def test_merged_logits_equal_base_plus_adapter(exported, adapter, smollm2_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tooltune.model.loader import load_model

    out, _ = exported
    ids = _prompt_ids(AutoTokenizer.from_pretrained(out))
    with torch.no_grad():
        want = load_model(str(smollm2_path), dtype="fp32", adapter=adapter)(ids).logits
        base = load_model(str(smollm2_path), dtype="fp32")(ids).logits
        got = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()(ids).logits
    assert not torch.allclose(want, base, atol=1e-3)  # the adapter really changes the model
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)


def test_shards_follow_export_size(exported):
    out, report = exported
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) >= 5 and files == [name for name, _ in report.shards]
    limit = 0.1 * 10**9
    per_file: dict[str, int] = {}
    for name in index["weight_map"].values():
        per_file[name] = per_file.get(name, 0) + 1
    for name in files:
        size = (out / name).stat().st_size
        # a shard stays under the limit unless one tensor alone is bigger (the 113 MB embedding)
        assert size <= limit * 1.01 or per_file[name] == 1, (name, size)


def test_exported_template_renders_training_tokens(exported, shared_data):
    from transformers import AutoTokenizer

    from tooltune.data.loader import load_conversations
    from tooltune.model.loader import load_tokenizer
    from tooltune.templates import get_template
    from tooltune.templates.render import encode, render_prompt

    out, _ = exported
    tok = AutoTokenizer.from_pretrained(out)
    train_tok, template = load_tokenizer("smollm2-135m-instruct"), get_template("chatml")
    convs = load_conversations("glaive_toolcall_en_demo", str(shared_data), max_samples=6).train
    for conv in convs:
        got = tok.apply_chat_template(conv.messages, tools=conv.tools or None, tokenize=True, return_dict=False)
        assert list(got) == encode(train_tok, template, conv).ids
    prompt = tok.apply_chat_template(PROMPT, tools=[WEATHER], tokenize=False, add_generation_prompt=True)
    assert prompt == render_prompt(train_tok, template, PROMPT, [WEATHER])
    meta = json.loads((out / "tooltune.json").read_text())
    assert meta["template"] == "chatml" and meta["merged"] is True
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eos = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    assert im_end in (eos if isinstance(eos, list) else [eos])


def test_exported_folder_resolves_as_a_model(exported):
    from tooltune.model.hub import resolve_model

    out, _ = exported
    assert resolve_model(out).template == "chatml"


def _gguf_agreement(out: Path) -> tuple[float, list[int], list[int]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    gguf_tok = AutoTokenizer.from_pretrained(out / "gguf", gguf_file="model.gguf")
    ids = _prompt_ids(tok)
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    gguf = AutoModelForCausalLM.from_pretrained(out / "gguf", gguf_file="model.gguf", dtype=torch.float32).eval()
    with torch.no_grad():
        a, b = merged(ids).logits[0].argmax(-1), gguf(ids).logits[0].argmax(-1)
    return (a == b).float().mean().item(), ids[0].tolist(), _prompt_ids(gguf_tok)[0].tolist()


def test_gguf_f16_reloads_with_same_top1(exported):
    out, report = exported
    assert report.gguf["type"] == "f16" and report.gguf["architecture"] == "llama"
    agreement, ids, gguf_ids = _gguf_agreement(out)
    assert gguf_ids == ids  # the GGUF's tokenizer metadata and chat template give the same tokens
    assert agreement >= 0.99, agreement  # measured 1.0


def test_modelfile(exported):
    out, _ = exported
    text = (out / "gguf" / "Modelfile").read_text()
    assert text.startswith("FROM ./model.gguf\n")
    assert 'TEMPLATE """' in text and "<|im_start|>assistant\n" in text and "<tool_call>" in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def test_overwrite_with_gguf_q8_0_mostly_agrees(adapter, tmp_path):
    from tooltune.export.gguf import describe

    out = tmp_path / "q8"
    out.mkdir()
    (out / "old.txt").write_text("from an earlier export")
    with pytest.raises(UserError, match="not empty"):
        export_model(ExportConfig(export_dir=str(out), adapter_name_or_path=str(adapter), gguf="q8_0"))
    assert (out / "old.txt").exists()
    from tooltune.cli import main  # the command line, flags spelled LLaMA-Factory's way

    assert main(["export", "--model_name_or_path", "smollm2-135m-instruct", "--adapter_name_or_path",
                 str(adapter), "--export_dir", str(out), "--gguf", "q8_0", "--overwrite", "--export_size", "0.5"]) == 0
    assert not (out / "old.txt").exists()
    assert describe(out / "gguf" / "model.gguf")["types"].get("Q8_0", 0) >= 200
    assert len(list(out.glob("*.safetensors"))) == 2  # 0.5 GB shards of a 538 MB model
    agreement, ids, gguf_ids = _gguf_agreement(out)
    assert gguf_ids == ids
    assert agreement >= 0.9, agreement  # measured 0.989


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_crash_mid_export_leaves_no_export_dir(adapter, tmp_path, monkeypatch):
    import tooltune.export.gguf as gguf_mod

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gguf_mod, "write_gguf", boom)
    out = tmp_path / "crash"
    with pytest.raises(OSError, match="disk full"):
        export_model(ExportConfig(export_dir=str(out), adapter_name_or_path=str(adapter), gguf="f16"))
    assert not out.exists() and _leftovers(tmp_path) == []
    # an existing export survives a failed overwrite untouched
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OSError):
        export_model(ExportConfig(export_dir=str(out), adapter_name_or_path=str(adapter), gguf="f16",
                                  overwrite=True))
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and _leftovers(tmp_path) == []


def test_cli_yaml_config_and_refusals(adapter, tmp_path, capsys):
    from tooltune.cli import main

    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("x")
    cfg = tmp_path / "export.yaml"
    cfg.write_text(f"model_name_or_path: smollm2-135m-instruct\nadapter_name_or_path: {adapter}\n"
                   f"template: qwen\nexport_dir: {out}\nexport_size: 2\nexport_device: cpu\n"
                   "export_legacy_format: false\ntrust_remote_code: true\n")
    assert main(["export", str(cfg)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(cfg), "--export_dir", str(adapter)]) == 2
    assert "is the model or adapter" in capsys.readouterr().err
    cfg.write_text(cfg.read_text() + "export_szie: 3\n")
    assert main(["export", str(cfg)]) == 2
    assert "export_size" in capsys.readouterr().err  # the typo is named with its fix


# ----------------------------------------------------------- GGUF layouts on tiny random models


def _tiny(model_type: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    common = {"vocab_size": 49152, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
              "tie_word_embeddings": model_type != "qwen2"}
    extra = {"gemma3_text": {"head_dim": 16, "sliding_window": 128}, "llama": {}, "qwen2": {}}[model_type]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **common, **extra),
                                             dtype=torch.float32).eval()
    with torch.no_grad():  # random norms and biases, so a missing +1 shows; sharp attention, so
        for name, p in model.named_parameters():  # a q/k layout error does too (init gives ~uniform)
            if name.endswith(("norm.weight", ".bias")):
                p.normal_(0, 0.3)
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                p.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "qwen2"])
def test_gguf_layout_round_trips_through_transformers(model_type, smol_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from tooltune.export.gguf import write_gguf

    model = _tiny(model_type)
    write_gguf(model, smol_tokenizer, tmp_path / "tiny.gguf", qtype="f16", name="tiny")
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 900, 31, 7, 4000, 12, 2]])
    with torch.no_grad():
        want, got = model(ids).logits, back(ids).logits
    # f16 weights: measured <= 7e-4; a missing permute or norm offset gives 0.09 or more
    torch.testing.assert_close(got, want, atol=5e-3, rtol=0)


def test_llama_permute_is_what_transformers_undoes():
    import numpy as np
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from tooltune.export.gguf import llama_permute

    w = np.random.default_rng(0).normal(size=(6 * 16, 24)).astype(np.float32)
    proc = LlamaTensorProcessor({"num_attention_heads": 6, "num_key_value_heads": 2})
    k = w[: 2 * 16]
    back = proc.process(llama_permute(k, 6, 2), "blk.0.attn_k.weight").weights
    np.testing.assert_array_equal(back, k)
    back = proc.process(llama_permute(w, 6, 6), "blk.0.attn_q.weight").weights
    np.testing.assert_array_equal(back, w)


def test_unsupported_architecture_is_a_user_error():
    from transformers import GPT2Config

    from tooltune.export.gguf import gguf_arch

    with pytest.raises(UserError, match="convert_hf_to_gguf"):
        gguf_arch(GPT2Config())


def test_files_are_readable_like_config(exported):
    out, _ = exported
    mode = (out / "config.json").stat().st_mode & 0o777
    assert all((f.stat().st_mode & 0o777) == mode for f in out.rglob("*") if f.is_file())
    assert os.access(out / "gguf" / "model.gguf", os.R_OK)
