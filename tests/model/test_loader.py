"""Loading the pulled SmolLM2 and generating with it; dtype and adapter handling."""
from __future__ import annotations

import pytest
import torch

from tooltune.errors import UserError
from tooltune.model.loader import bf16_supported, load_model, load_tokenizer, resolve_dtype

SMOL = "smollm2-135m-instruct"


def _chat(model, tok, question: str, max_new_tokens: int = 24) -> str:
    enc = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1]:])


def test_greedy_answer_is_sensible(hub_smol_model, hub_smol_tok):
    answer = _chat(hub_smol_model, hub_smol_tok, "What is the capital of France?")
    assert "Paris" in answer
    assert answer.rstrip().endswith("<|im_end|>")  # stopped at eos, not at max_new_tokens


def test_model_settings(hub_smol_model, hub_smol_tok):
    assert hub_smol_model.config._attn_implementation == "sdpa"
    assert not hub_smol_model.training and hub_smol_model.dtype == torch.float32
    emb, head = hub_smol_model.get_input_embeddings().weight, hub_smol_model.get_output_embeddings().weight
    assert emb.data_ptr() == head.data_ptr()  # tied embeddings survived the conversion
    assert hub_smol_tok.eos_token == "<|im_end|>" and hub_smol_tok.eos_token_id == 2
    assert hub_smol_tok.pad_token is not None and hub_smol_tok.padding_side == "left"
    assert hub_smol_tok("<|im_start|>user\nhi<|im_end|>").input_ids[0] == 1  # special tokens stay single ids


def test_tokenizer_defaults(hub_smol):
    tok = load_tokenizer(hub_smol)
    assert tok.padding_side == "right" and tok.pad_token_id == 2
    with pytest.raises(UserError, match="padding_side"):
        load_tokenizer(hub_smol, padding_side="middle")


def test_dtype_choice(monkeypatch):
    monkeypatch.setenv("TOOLTUNE_BF16", "1")
    assert bf16_supported() and resolve_dtype("auto") == torch.bfloat16
    monkeypatch.setenv("TOOLTUNE_BF16", "0")
    assert resolve_dtype("auto") == torch.float32
    assert resolve_dtype("bf16") == torch.bfloat16 and resolve_dtype("fp32") == torch.float32
    with pytest.raises(UserError, match="unknown dtype"):
        resolve_dtype("int3")


def test_bf16_load_runs(hub_smol):
    model = load_model(SMOL, dtype="bf16")
    assert model.dtype == torch.bfloat16
    with torch.no_grad():
        logits = model(torch.tensor([[1, 4093, 198, 26843, 2]])).logits
    assert torch.isfinite(logits.float()).all()


def test_adapter_is_loaded_on_top(hub_smol, hub_smol_model, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    base = load_model(SMOL, dtype="fp32")
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, cfg).save_pretrained(tmp_path / "adapter")
    tuned = load_model(SMOL, dtype="fp32", adapter=tmp_path / "adapter")
    assert isinstance(tuned, PeftModel) and not tuned.training
    ids = torch.tensor([[1, 4093, 198, 26843, 2]])
    with torch.no_grad():
        assert not torch.allclose(tuned(ids).logits, hub_smol_model(ids).logits)
    with pytest.raises(UserError, match="adapter_config.json"):
        load_model(SMOL, adapter=tmp_path / "missing")


def test_not_pulled_model_fails_cleanly(empty_home):
    with pytest.raises(UserError, match="is not pulled yet"):
        load_model(SMOL)
