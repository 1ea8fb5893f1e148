"""What the training recipe (sft.py) sets up before its loop and writes after it: the precision,
the optional GPU-path features, the model, the encoded data, the output folder, the final
adapter, the tool-call evaluations and the progress bar. Each a function a test can call alone."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch

from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text, move_files_into
from tooltune.model.hub import META_FILE
from tooltune.train.args import TrainConfig


def use_bf16(cfg: TrainConfig) -> bool:
    if cfg.bf16 is not None:
        return cfg.bf16
    from tooltune.model.loader import bf16_supported
    return bf16_supported()


def check_optional_features(cfg: TrainConfig) -> None:
    """GPU-path options: used when their package is installed, refused clearly when not."""
    import importlib.util
    needs = {"use_liger_kernel": (cfg.use_liger_kernel, "liger_kernel", "pip install liger-kernel"),
             "quantization_bit": (cfg.quantization_bit, "bitsandbytes", "pip install bitsandbytes (CUDA)"),
             "flash_attn=fa2": (cfg.flash_attn == "fa2", "flash_attn", "pip install flash-attn (CUDA)"),
             "deepspeed": (cfg.deepspeed, "deepspeed", "pip install deepspeed")}
    for key, (wanted, module, how) in needs.items():
        if wanted and importlib.util.find_spec(module) is None:
            raise UserError(f"{key} needs the {module} package, which is not installed: {how}")
    if (cfg.quantization_bit or cfg.flash_attn == "fa2") and not torch.cuda.is_available():
        raise UserError("quantization_bit and flash_attn=fa2 need a CUDA GPU; none is visible")


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def load_for_training(cfg: TrainConfig, bf16: bool, device: str):
    """The base model, with the GPU-path options applied where asked for (checked beforehand)."""
    from tooltune.model.loader import load_model
    extra = {}
    if cfg.quantization_bit:  # QLoRA: the frozen base in 4 or 8 bits
        from transformers import BitsAndBytesConfig
        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=cfg.quantization_bit == 4, load_in_8bit=cfg.quantization_bit == 8,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16, bnb_4bit_quant_type="nf4")
    attn = {"fa2": "flash_attention_2", "eager": "eager"}.get(cfg.flash_attn, "sdpa")
    frozen_dtype = "bf16" if bf16 and cfg.finetuning_type != "full" else "fp32"
    model = load_model(cfg.model_name_or_path, dtype=frozen_dtype, attn_implementation=attn,
                       device=device, **extra)
    if cfg.use_liger_kernel:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
        _apply_liger_kernel_to_instance(model=model)
    return model


def encode_dataset(convs, tokenizer, template, cfg: TrainConfig):
    from tooltune.templates.render import Encoded, encode
    out, dropped = [], 0
    for conv in convs:
        if cfg.stage == "pt":  # plain text: every token trained
            text = "\n\n".join(m.get("content") or "" for m in conv.messages) + (tokenizer.eos_token or "")
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][: cfg.cutoff_len]
            enc = Encoded(ids, [True] * len(ids))
        else:
            enc = encode(tokenizer, template, conv, cfg.train_on, cfg.cutoff_len)
        if enc.n_trained < 1:
            dropped += 1  # truncated before any trained token
            continue
        out.append(enc)
    return out, dropped


def prepare_output_dir(cfg: TrainConfig, main: bool) -> Path:
    out = Path(cfg.output_dir)
    if main and out.exists() and any(out.iterdir()) and not cfg.resume_from_checkpoint:
        if not cfg.overwrite_output_dir:
            raise UserError(f"output_dir {out} is not empty: set overwrite_output_dir=true, pick another "
                            "output_dir, or resume_from_checkpoint=auto")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def toolcall_eval(model, tokenizer, template, convs, cfg: TrainConfig, say, out: Path | None = None) -> dict:
    from tooltune.evaluate.toolcall import evaluate_toolcalls
    t = time.time()
    scores, records = evaluate_toolcalls(model, tokenizer, template, convs, limit=cfg.eval_toolcall_samples)
    from tooltune.evaluate.toolcall import format_table
    say(f"tool-call eval ({'after' if out else 'before'} tuning) in {time.time() - t:.0f}s:\n{format_table(scores)}")
    if out is not None:
        atomic_write_text(out / "toolcall_eval.json", json.dumps(
            {"scores": scores.to_dict(), "cases": records}, indent=2, ensure_ascii=False))
    return scores.to_dict()


def save_final(model, tokenizer, template, cfg: TrainConfig, out: Path, resolved) -> None:
    """The adapter (or full model) in out/, each file moved into place whole."""
    tmp = out / f".final.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # leftovers of a killed save
    if cfg.finetuning_type == "lora":
        model.save_pretrained(tmp)  # adapter_config.json + adapter_model.safetensors, as peft/vLLM load
    else:
        model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.chat_template = template.chat_template
    tokenizer.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps({
        "base_model": str(cfg.model_name_or_path), "base_path": str(resolved.path),
        "template": template.name, "finetuning_type": cfg.finetuning_type}, indent=2))
    move_files_into(tmp, out)


def progress_bar(total: int, start: int, show: bool):
    """A tqdm bar with ETA and tokens/s; call with a step, with (step, metrics row), or None to close."""
    if not show:
        return lambda *a: None
    from tqdm.auto import tqdm
    bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)

    def update(step, row=None):
        if step is None:
            bar.close()
            return
        bar.n = step
        if row:
            bar.set_postfix(loss=row["loss"], tok_s=row["tokens_per_s"])
        bar.refresh()
    return update
