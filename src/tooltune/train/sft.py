"""The training recipe (stages sft and pt), top to bottom: data, model, loop, checkpoints, outputs.

The same code runs on one CPU, one GPU, or many processes under `accelerate launch` / `torchrun`
(DDP; DeepSpeed and FSDP through accelerate's config). Each process takes every world_size-th
batch of one deterministic order, so a resumed run and a multi-process run see the same data.
"""
from __future__ import annotations

import json
import math
from contextlib import nullcontext
import os
import shutil
import time
from pathlib import Path

import torch
import yaml

from tooltune.config import to_dict
from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text, move_files_into
from tooltune.model.hub import META_FILE
from tooltune.train import packed_attention
from tooltune.train.lora_kernel import use_lora_kernel
from tooltune.train.args import TrainConfig
from tooltune.train.batching import collate, make_batches, pack, token_chunks, unpacked
from tooltune.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from tooltune.train.metrics import MetricsLog, plot_loss
from tooltune.train.modeling import TrainedTokensLoss, apply_finetuning, count_parameters


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


def run_train(cfg: TrainConfig, log=print) -> dict:
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    from tooltune.data.loader import load_conversations
    from tooltune.model.hub import resolve_model
    from tooltune.model.loader import load_tokenizer
    from tooltune.templates import get_template

    check_optional_features(cfg)
    bf16 = use_bf16(cfg)
    acc = Accelerator(mixed_precision="bf16" if bf16 else ("fp16" if cfg.fp16 else "no"),
                      cpu=not torch.cuda.is_available())
    say = log if acc.is_main_process else (lambda *a, **k: None)
    if cfg.bf16 and not torch.cuda.is_available():
        from tooltune.model.loader import bf16_supported
        if not bf16_supported():  # a GPU config copied to a CPU machine: say so before hours pass
            say("warning: bf16=true on a CPU without native bf16 (AVX512-BF16/AMX): torch emulates "
                "bf16 matmuls here, ~30x slower than fp32. Set bf16=false, or leave it unset (auto).")
    out = prepare_output_dir(cfg, acc.is_main_process)
    acc.wait_for_everyone()
    set_seed(cfg.seed)

    # --- data -------------------------------------------------------------------------------
    resolved = resolve_model(cfg.model_name_or_path)
    template = get_template(cfg.template or resolved.template or "default")
    tokenizer = load_tokenizer(cfg.model_name_or_path)
    data = load_conversations(cfg.dataset, dataset_dir=cfg.dataset_dir, max_samples=cfg.max_samples,
                              val_size=cfg.val_size, seed=cfg.seed)
    val_convs = data.val
    if cfg.eval_dataset:
        val_convs = load_conversations(cfg.eval_dataset, dataset_dir=cfg.dataset_dir,
                                       max_samples=cfg.max_samples, seed=cfg.seed).train
    train_enc, dropped = encode_dataset(data.train, tokenizer, template, cfg)
    val_enc, _ = encode_dataset(val_convs, tokenizer, template, cfg)
    if not train_enc:
        raise UserError(f"dataset {cfg.dataset!r} gave no trainable samples (cutoff_len={cfg.cutoff_len})")
    to_rows = (lambda s: pack(s, cfg.cutoff_len)) if cfg.packing else unpacked
    rows, val_rows = to_rows(train_enc), to_rows(val_enc)
    say(f"data: {len(train_enc)} train / {len(val_enc)} val conversations ({dropped} dropped: no "
        f"trained token within cutoff_len), {len(rows)} rows of <= {cfg.cutoff_len} tokens; "
        f"template {template.name}")

    # --- model ------------------------------------------------------------------------------
    model = load_for_training(cfg, bf16, str(acc.device))
    eval_convs = val_convs or data.train[: cfg.eval_toolcall_samples]
    before = toolcall_eval(model, tokenizer, template, eval_convs, cfg, say) \
        if cfg.eval_toolcall and acc.is_main_process else None
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = apply_finetuning(model, cfg)
    if cfg.finetuning_type == "lora":
        use_lora_kernel(model)  # base + low-rank term in one GEMM pass each way (lora_kernel.py)
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    attn_before = causal_lm.config._attn_implementation
    if cfg.packing and not torch.cuda.is_available() and cfg.flash_attn in ("auto", "sdpa"):
        packed_attention.enable(causal_lm)
    trainable, total = count_parameters(model)
    say(f"model: {resolved.path} ({total / 1e6:.1f}M params, {trainable / 1e6:.2f}M trainable, "
        f"{cfg.finetuning_type}; compute {'bf16' if bf16 else 'fp32'})")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    world, rank = acc.num_processes, acc.process_index
    # One global order of batches of per_device x world rows; each process takes its slice of
    # every batch, so N processes see the very batches one process with N x the batch would.
    global_bs = cfg.per_device_train_batch_size * world
    # Rows of a batch go through forward/backward in chunks of at most this many tokens: the same
    # gradient, with activation memory bounded by one chunk instead of the whole batch.
    max_tokens = cfg.max_tokens_per_forward or cfg.cutoff_len
    batches_per_epoch = len(make_batches(rows, global_bs, cfg.seed, 0))
    updates_per_epoch = max(1, batches_per_epoch // cfg.gradient_accumulation_steps)
    total_steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(cfg.num_train_epochs * updates_per_epoch)
    warmup = cfg.warmup_steps or int(cfg.warmup_ratio * total_steps)
    scheduler = get_scheduler(cfg.lr_scheduler_type, optimizer, warmup, total_steps)
    loss_module = TrainedTokensLoss(model)
    loss_module, optimizer = acc.prepare(loss_module, optimizer)

    step, start_epoch, skip_micro = 0, 0, 0
    ckpt = find_checkpoint(out, cfg.resume_from_checkpoint) if cfg.resume_from_checkpoint else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, optimizer, scheduler)
        step, start_epoch, skip_micro = state["global_step"], state["epoch"], state["micro_in_epoch"]
        say(f"resumed from {ckpt} at step {step}")
    if acc.is_main_process:
        resolved_cfg = {**to_dict(cfg), "template": template.name}
        atomic_write_text(out / "train_config.yaml", yaml.safe_dump(resolved_cfg, sort_keys=False, allow_unicode=True))
    metrics = MetricsLog(out / "metrics.jsonl", resume_step=step) if acc.is_main_process else None

    def evaluate() -> float | None:
        if not val_rows:
            return None
        loss_module.eval()
        total_loss, total_n = 0.0, 0
        with torch.no_grad(), acc.autocast():
            for idx in make_batches(val_rows, cfg.per_device_eval_batch_size, 0, 0)[rank::world]:
                b = to_device(collate([val_rows[i] for i in idx], tokenizer.pad_token_id), acc.device)
                loss, n = loss_module(**b)
                total_loss, total_n = total_loss + loss.item() * n.item(), total_n + n.item()
        loss_module.train()
        sums = acc.reduce(torch.tensor([total_loss, float(total_n)]), reduction="sum")
        return (sums[0] / sums[1].clamp(min=1)).item()

    # --- loop -------------------------------------------------------------------------------
    loss_module.train()
    t0, window = time.time(), {"loss": 0.0, "n": 0, "tokens": 0, "t": time.time()}
    progress = _progress(total_steps, step, acc.is_main_process)
    epoch = start_epoch
    while step < total_steps:
        order = make_batches(rows, global_bs, cfg.seed, epoch)
        order = order[: updates_per_epoch * cfg.gradient_accumulation_steps]
        for micro, global_idx in enumerate(order):
            if micro < skip_micro:
                continue
            bs = cfg.per_device_train_batch_size
            idx = global_idx[rank * bs:(rank + 1) * bs]
            weight = 1.0 if idx else 0.0  # a short last batch may leave a process nothing to do
            chunks = [to_device(collate(c, tokenizer.pad_token_id), acc.device)
                      for c in token_chunks([rows[i] for i in (idx or global_idx[:1])], max_tokens)]
            # Scale so the gradient DDP averages is the mean over every trained token of the global
            # batch: exactly what one process computes, however the batch is split.
            n_local = weight * sum(int((c["labels"] != -100).sum()) for c in chunks)
            n_global = acc.reduce(torch.tensor(n_local), reduction="sum").item() if world > 1 else n_local
            last_micro = (micro + 1) % cfg.gradient_accumulation_steps == 0
            for j, chunk in enumerate(chunks):
                sync = last_micro and j == len(chunks) - 1
                with acc.no_sync(loss_module) if not sync else nullcontext(), acc.autocast():
                    loss, n = loss_module(**chunk)
                    scale = weight * n.item() * world / max(n_global, 1) / cfg.gradient_accumulation_steps
                    acc.backward(loss * scale)
                window["loss"] += loss.item() * n.item() * weight
                window["n"] += n.item() * weight
                window["tokens"] += int(chunk["n_tokens"]) * weight
            if not last_micro:
                continue
            grad_norm = acc.clip_grad_norm_(params, cfg.max_grad_norm) if cfg.max_grad_norm else None
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            progress(step)
            if step % cfg.logging_steps == 0 or step == total_steps:
                sums = acc.reduce(torch.tensor([window["loss"], float(window["n"]), float(window["tokens"])]),
                                  reduction="sum")
                elapsed = time.time() - window["t"]
                row = {"step": step, "epoch": round(epoch + (micro + 1) / max(len(order), 1), 3),
                       "loss": round((sums[0] / sums[1].clamp(min=1)).item(), 5),
                       "lr": scheduler.get_last_lr()[0],
                       "grad_norm": round(float(grad_norm), 4) if grad_norm is not None else None,
                       "tokens_per_s": round(float(sums[2]) / max(elapsed, 1e-9), 1),
                       "elapsed": round(time.time() - t0, 2)}
                if metrics:
                    metrics.write(row)
                progress(step, row)
                window = {"loss": 0.0, "n": 0, "tokens": 0, "t": time.time()}
            if cfg.eval_steps and step % cfg.eval_steps == 0 and (ev := evaluate()) is not None and metrics:
                metrics.write({"step": step, "eval_loss": round(ev, 5)})
            if cfg.save_steps and step % cfg.save_steps == 0 and step < total_steps:
                acc.wait_for_everyone()
                if acc.is_main_process:
                    save_checkpoint(out, step, acc.unwrap_model(loss_module).model, optimizer, scheduler,
                                    {"epoch": epoch, "micro_in_epoch": micro + 1}, cfg.save_total_limit)
            if step >= total_steps:
                break
        epoch, skip_micro = epoch + 1, 0
    progress(None)

    # --- outputs ----------------------------------------------------------------------------
    final_eval = evaluate()
    acc.wait_for_everyone()
    result = {"output_dir": str(out), "steps": step, "train_seconds": round(time.time() - t0, 2),
              "template": template.name}
    if acc.is_main_process:
        if final_eval is not None:
            metrics.write({"step": step, "eval_loss": round(final_eval, 5)})
            result["eval_loss"] = final_eval
        trained = MetricsLog.read(out / "metrics.jsonl")
        losses = [r["loss"] for r in trained if "loss" in r]
        result["final_loss"] = losses[-1] if losses else None
        trained_model = acc.unwrap_model(loss_module).model
        causal_lm.set_attn_implementation(attn_before)  # generation pads and caches: back to stock
        save_final(trained_model, tokenizer, template, cfg, out, resolved)
        kind = "LoRA adapter" if cfg.finetuning_type == "lora" else "model"
        say(f"{kind} saved in {out} (chat with it: tooltune chat --model {cfg.model_name_or_path} "
            f"--adapter {out}; merge it: tooltune export --adapter {out} --export_dir EXPORT_DIR)"
            if cfg.finetuning_type == "lora" else f"{kind} saved in {out}")
        if before is not None:
            # The adapter is saved: fold it into the weights so generation runs at base speed.
            merged = trained_model.merge_and_unload() if hasattr(trained_model, "merge_and_unload") else trained_model
            after = toolcall_eval(merged, tokenizer, template, eval_convs, cfg, say, out)
            result["toolcall_before"], result["toolcall_after"] = before, after
            say(f"tool-call accuracy on {after['cases']} held-out turns: "
                f"{before['overall']:.0%} before tuning -> {after['overall']:.0%} after "
                f"(call-or-not {before['decision']:.0%} -> {after['decision']:.0%}, "
                f"name {before['name']:.0%} -> {after['name']:.0%}, "
                f"arguments {before['arguments']:.0%} -> {after['arguments']:.0%})")
        if cfg.plot_loss:
            plot_loss(out / "metrics.jsonl", out / "training_loss.png")
        atomic_write_text(out / "train_results.json", json.dumps(result, indent=2))
    return result


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


def _progress(total: int, start: int, show: bool):
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
