"""The training recipe (stages sft and pt), top to bottom: data, model, loop, checkpoints, outputs.

`run_train` reads as the recipe: `SFTRecipe(cfg)` sets up the accelerator and output folder,
`setup_data` encodes and packs the rows, `setup_model` loads and wraps the model, its optimizer
and schedule (and resumes), `train` runs the loop, whose unit is `backward_on` (one micro-batch's
forward and backward) and `optimizer_step`, and `finish` writes the adapter and the results.
The same code runs on one CPU, one GPU, or many processes under `accelerate launch` / `torchrun`
(DDP; DeepSpeed and FSDP through accelerate's config). Each process takes its slice of every
batch of one deterministic order, so a resumed run and a multi-process run see the same data.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import yaml

from tooltune.config import to_dict
from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text
from tooltune.kernels import packed_attention
from tooltune.train.args import TrainConfig
from tooltune.train.batching import collate, make_batches, pack, token_chunks, unpacked
from tooltune.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from tooltune.kernels.lora_linear import use_lora_kernel
from tooltune.train.metrics import MetricsLog, plot_loss
from tooltune.train.modeling import TrainedTokensLoss, apply_finetuning, count_parameters
from tooltune.train.setup import (check_optional_features, encode_dataset, load_for_training, prepare_output_dir,
                                  progress_bar, save_final, to_device, toolcall_eval, use_bf16)


def run_train(cfg: TrainConfig, log=print) -> dict:
    recipe = SFTRecipe(cfg, log)
    recipe.setup_data()
    recipe.setup_model()
    recipe.train()
    return recipe.finish()


@dataclass
class Window:
    """Trained-token loss and tokens since the last log row (summed over processes when logged)."""
    loss: float = 0.0
    n: float = 0.0
    tokens: float = 0.0
    t: float = field(default_factory=time.time)


class SFTRecipe:
    def __init__(self, cfg: TrainConfig, log=print):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        check_optional_features(cfg)
        self.cfg, self.bf16 = cfg, use_bf16(cfg)
        self.acc = acc = Accelerator(mixed_precision="bf16" if self.bf16 else ("fp16" if cfg.fp16 else "no"),
                                     cpu=not torch.cuda.is_available())
        self.say = log if acc.is_main_process else (lambda *a, **k: None)
        if cfg.bf16 and not torch.cuda.is_available():
            from tooltune.model.loader import bf16_supported
            if not bf16_supported():  # a GPU config copied to a CPU machine: say so before hours pass
                self.say("warning: bf16=true on a CPU without native bf16 (AVX512-BF16/AMX): torch emulates "
                         "bf16 matmuls here, ~30x slower than fp32. Set bf16=false, or leave it unset (auto).")
        self.out = prepare_output_dir(cfg, acc.is_main_process)
        acc.wait_for_everyone()
        set_seed(cfg.seed)
        self.world, self.rank = acc.num_processes, acc.process_index

    # --- data -------------------------------------------------------------------------------

    def setup_data(self) -> None:
        from tooltune.data.loader import load_conversations
        from tooltune.model.hub import resolve_model
        from tooltune.model.loader import load_tokenizer
        from tooltune.templates import get_template

        cfg = self.cfg
        self.resolved = resolve_model(cfg.model_name_or_path)
        self.template = get_template(cfg.template or self.resolved.template or "default")
        self.tokenizer = load_tokenizer(cfg.model_name_or_path)
        data = load_conversations(cfg.dataset, dataset_dir=cfg.dataset_dir, max_samples=cfg.max_samples,
                                  val_size=cfg.val_size, seed=cfg.seed)
        val_convs = data.val
        if cfg.eval_dataset:
            val_convs = load_conversations(cfg.eval_dataset, dataset_dir=cfg.dataset_dir,
                                           max_samples=cfg.max_samples, seed=cfg.seed).train
        train_enc, dropped = encode_dataset(data.train, self.tokenizer, self.template, cfg)
        val_enc, _ = encode_dataset(val_convs, self.tokenizer, self.template, cfg)
        if not train_enc:
            raise UserError(f"dataset {cfg.dataset!r} gave no trainable samples (cutoff_len={cfg.cutoff_len})")
        to_rows = (lambda s: pack(s, cfg.cutoff_len)) if cfg.packing else unpacked
        self.rows, self.val_rows = to_rows(train_enc), to_rows(val_enc)
        self.eval_convs = val_convs or data.train[: cfg.eval_toolcall_samples]  # the tool-call eval's turns
        self.say(f"data: {len(train_enc)} train / {len(val_enc)} val conversations ({dropped} dropped: no "
                 f"trained token within cutoff_len), {len(self.rows)} rows of <= {cfg.cutoff_len} tokens; "
                 f"template {self.template.name}")

    # --- model, optimizer, schedule, resume ---------------------------------------------------

    def setup_model(self) -> None:
        from transformers import get_scheduler

        cfg, acc = self.cfg, self.acc
        model = load_for_training(cfg, self.bf16, str(acc.device))
        self.before = toolcall_eval(model, self.tokenizer, self.template, self.eval_convs, cfg, self.say) \
            if cfg.eval_toolcall and acc.is_main_process else None
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.enable_input_require_grads()
        model = apply_finetuning(model, cfg)
        if cfg.finetuning_type == "lora":
            use_lora_kernel(model)  # base + low-rank term in one GEMM pass each way (kernels/lora_linear.py)
        self.causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.attn_before = self.causal_lm.config._attn_implementation
        if cfg.packing and not torch.cuda.is_available() and cfg.flash_attn in ("auto", "sdpa"):
            packed_attention.enable(self.causal_lm)
        trainable, total = count_parameters(model)
        self.say(f"model: {self.resolved.path} ({total / 1e6:.1f}M params, {trainable / 1e6:.2f}M trainable, "
                 f"{cfg.finetuning_type}; compute {'bf16' if self.bf16 else 'fp32'})")
        self.params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(self.params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

        # One global order of batches of per_device x world rows; each process takes its slice of
        # every batch, so N processes see the very batches one process with N x the batch would.
        self.global_bs = cfg.per_device_train_batch_size * self.world
        batches_per_epoch = len(make_batches(self.rows, self.global_bs, cfg.seed, 0))
        self.updates_per_epoch = max(1, batches_per_epoch // cfg.gradient_accumulation_steps)
        self.total_steps = cfg.max_steps if cfg.max_steps > 0 else \
            math.ceil(cfg.num_train_epochs * self.updates_per_epoch)
        warmup = cfg.warmup_steps or int(cfg.warmup_ratio * self.total_steps)
        self.scheduler = get_scheduler(cfg.lr_scheduler_type, optimizer, warmup, self.total_steps)
        self.loss_module, self.optimizer = acc.prepare(TrainedTokensLoss(model, cfg.decision_weight), optimizer)

        self.step, self.epoch, self.skip_micro = 0, 0, 0
        ckpt = find_checkpoint(self.out, cfg.resume_from_checkpoint) if cfg.resume_from_checkpoint else None
        if ckpt is not None:
            state = load_checkpoint(ckpt, model, self.optimizer, self.scheduler)
            self.step, self.epoch, self.skip_micro = state["global_step"], state["epoch"], state["micro_in_epoch"]
            self.say(f"resumed from {ckpt} at step {self.step}")
        if acc.is_main_process:
            resolved_cfg = {**to_dict(cfg), "template": self.template.name}
            atomic_write_text(self.out / "train_config.yaml",
                              yaml.safe_dump(resolved_cfg, sort_keys=False, allow_unicode=True))
        self.metrics = MetricsLog(self.out / "metrics.jsonl", resume_step=self.step) if acc.is_main_process else None

    # --- the loop -----------------------------------------------------------------------------

    def train(self) -> None:
        cfg = self.cfg
        self.loss_module.train()
        self.t0, window = time.time(), Window()
        progress = progress_bar(self.total_steps, self.step, self.acc.is_main_process)
        while self.step < self.total_steps:
            order = make_batches(self.rows, self.global_bs, cfg.seed, self.epoch)
            order = order[: self.updates_per_epoch * cfg.gradient_accumulation_steps]
            for micro, global_idx in enumerate(order):
                if micro < self.skip_micro:
                    continue
                last_micro = (micro + 1) % cfg.gradient_accumulation_steps == 0
                self.backward_on(global_idx, sync=last_micro, window=window)
                if not last_micro:
                    continue
                grad_norm = self.optimizer_step()
                progress(self.step)
                if self.step % cfg.logging_steps == 0 or self.step == self.total_steps:
                    row = self.log_row(window, grad_norm, self.epoch + (micro + 1) / max(len(order), 1))
                    progress(self.step, row)
                    window = Window()
                if cfg.eval_steps and self.step % cfg.eval_steps == 0 and (ev := self.evaluate()) is not None \
                        and self.metrics:
                    self.metrics.write({"step": self.step, "eval_loss": round(ev, 5)})
                if cfg.save_steps and self.step % cfg.save_steps == 0 and self.step < self.total_steps:
                    self.save_checkpoint(micro_in_epoch=micro + 1)
                if self.step >= self.total_steps:
                    break
            self.epoch, self.skip_micro = self.epoch + 1, 0
        progress(None)

    def backward_on(self, global_idx: list[int], sync: bool, window: Window) -> None:
        """One micro-batch: this process's rows of the global batch, forward and backward in chunks
        of at most max_tokens_per_forward tokens (the same gradient, with activation memory bounded
        by one chunk), each chunk's loss scaled so the gradient DDP averages is the mean over every
        trained token of the global batch: what one process computes, however the batch is split.
        `sync`: the last micro-batch before an optimizer step (DDP all-reduces its gradients)."""
        cfg, acc = self.cfg, self.acc
        bs = cfg.per_device_train_batch_size
        idx = global_idx[self.rank * bs:(self.rank + 1) * bs]
        weight = 1.0 if idx else 0.0  # a short last batch may leave a process nothing to do
        max_tokens = cfg.max_tokens_per_forward or cfg.cutoff_len
        chunks = [to_device(collate(c, self.tokenizer.pad_token_id), acc.device)
                  for c in token_chunks([self.rows[i] for i in (idx or global_idx[:1])], max_tokens)]
        n_local = weight * sum(int((c["labels"] != -100).sum()) for c in chunks)
        n_global = acc.reduce(torch.tensor(n_local), reduction="sum").item() if self.world > 1 else n_local
        for j, chunk in enumerate(chunks):
            last = sync and j == len(chunks) - 1
            with acc.no_sync(self.loss_module) if not last else nullcontext(), acc.autocast():
                loss, n = self.loss_module(**chunk)
                scale = weight * n.item() * self.world / max(n_global, 1) / cfg.gradient_accumulation_steps
                acc.backward(loss * scale)
            window.loss += loss.item() * n.item() * weight
            window.n += n.item() * weight
            window.tokens += int(chunk["n_tokens"]) * weight

    def optimizer_step(self) -> float | None:
        """Clip, step, schedule, zero: one update. Returns the gradient norm before clipping."""
        grad_norm = self.acc.clip_grad_norm_(self.params, self.cfg.max_grad_norm) if self.cfg.max_grad_norm else None
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return grad_norm

    def log_row(self, window: Window, grad_norm, epoch: float) -> dict:
        sums = self.acc.reduce(torch.tensor([window.loss, float(window.n), float(window.tokens)]), reduction="sum")
        row = {"step": self.step, "epoch": round(epoch, 3),
               "loss": round((sums[0] / sums[1].clamp(min=1)).item(), 5),
               "lr": self.scheduler.get_last_lr()[0],
               "grad_norm": round(float(grad_norm), 4) if grad_norm is not None else None,
               "tokens_per_s": round(float(sums[2]) / max(time.time() - window.t, 1e-9), 1),
               "elapsed": round(time.time() - self.t0, 2)}
        if self.metrics:
            self.metrics.write(row)
        return row

    def evaluate(self) -> float | None:
        """The mean trained-token loss on the validation rows, over every process."""
        if not self.val_rows:
            return None
        self.loss_module.eval()
        total_loss, total_n = 0.0, 0
        with torch.no_grad(), self.acc.autocast():
            batches = make_batches(self.val_rows, self.cfg.per_device_eval_batch_size, 0, 0)
            for idx in batches[self.rank::self.world]:
                b = to_device(collate([self.val_rows[i] for i in idx], self.tokenizer.pad_token_id), self.acc.device)
                loss, n = self.loss_module(**b)
                total_loss, total_n = total_loss + loss.item() * n.item(), total_n + n.item()
        self.loss_module.train()
        sums = self.acc.reduce(torch.tensor([total_loss, float(total_n)]), reduction="sum")
        return (sums[0] / sums[1].clamp(min=1)).item()

    def save_checkpoint(self, micro_in_epoch: int) -> None:
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            save_checkpoint(self.out, self.step, self.acc.unwrap_model(self.loss_module).model, self.optimizer,
                            self.scheduler, {"epoch": self.epoch, "micro_in_epoch": micro_in_epoch},
                            self.cfg.save_total_limit)

    # --- outputs ------------------------------------------------------------------------------

    def finish(self) -> dict:
        cfg, out = self.cfg, self.out
        final_eval = self.evaluate()
        self.acc.wait_for_everyone()
        result = {"output_dir": str(out), "steps": self.step, "train_seconds": round(time.time() - self.t0, 2),
                  "template": self.template.name}
        if not self.acc.is_main_process:
            return result
        if final_eval is not None:
            self.metrics.write({"step": self.step, "eval_loss": round(final_eval, 5)})
            result["eval_loss"] = final_eval
        losses = [r["loss"] for r in MetricsLog.read(out / "metrics.jsonl") if "loss" in r]
        result["final_loss"] = losses[-1] if losses else None
        trained_model = self.acc.unwrap_model(self.loss_module).model
        self.causal_lm.set_attn_implementation(self.attn_before)  # generation pads and caches: back to stock
        save_final(trained_model, self.tokenizer, self.template, cfg, out, self.resolved)
        kind = "LoRA adapter" if cfg.finetuning_type == "lora" else "model"
        self.say(f"{kind} saved in {out} (chat with it: tooltune chat --model {cfg.model_name_or_path} "
                 f"--adapter {out}; merge it: tooltune export --adapter {out} --export_dir EXPORT_DIR)"
                 if cfg.finetuning_type == "lora" else f"{kind} saved in {out}")
        if self.before is not None:
            # The adapter is saved: fold it into the weights so generation runs at base speed.
            merged = trained_model.merge_and_unload() if hasattr(trained_model, "merge_and_unload") else trained_model
            after = toolcall_eval(merged, self.tokenizer, self.template, self.eval_convs, cfg, self.say, out)
            before = self.before
            result["toolcall_before"], result["toolcall_after"] = before, after
            self.say(f"tool-call accuracy on {after['cases']} held-out turns: "
                     f"{before['overall']:.0%} before tuning -> {after['overall']:.0%} after "
                     f"(call-or-not {before['decision']:.0%} -> {after['decision']:.0%}, "
                     f"name {before['name']:.0%} -> {after['name']:.0%}, "
                     f"arguments {before['arguments']:.0%} -> {after['arguments']:.0%})")
        if cfg.plot_loss:
            plot_loss(out / "metrics.jsonl", out / "training_loss.png")
        atomic_write_text(out / "train_results.json", json.dumps(result, indent=2))
        return result
