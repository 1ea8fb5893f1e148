"""Which weights train (LoRA / full / freeze), and a loss that runs the LM head only where it counts.

The LM head is a fifth of SmolLM2's compute and most of Gemma 3's: computing logits for every
position and then masking most of them away wastes it. `TrainedTokensLoss` runs the decoder,
gathers the hidden states at trained positions and applies the head to those alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tooltune.errors import UserError
from tooltune.train.args import TrainConfig


def linear_module_names(model: nn.Module) -> list[str]:
    """Leaf names of every linear layer except the LM head (LoRA target `all`)."""
    head = model.get_output_embeddings()
    names = {name.split(".")[-1] for name, mod in model.named_modules()
             if isinstance(mod, nn.Linear) and mod is not head}
    return sorted(names)


def apply_finetuning(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    """Mark trainable weights; returns the model to train (a PeftModel for LoRA)."""
    if cfg.finetuning_type == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    for p in model.parameters():
        p.requires_grad_(False)
    if cfg.finetuning_type == "freeze":
        layers = model.get_decoder().layers
        n = max(1, min(cfg.freeze_trainable_layers, len(layers)))
        for layer in layers[-n:]:
            for p in layer.parameters():
                p.requires_grad_(True)
                p.data = p.data.float()  # trained weights keep fp32 master copies
        return model
    from peft import LoraConfig, PeftModel, get_peft_model
    if cfg.adapter_name_or_path:  # continue training an existing adapter
        return PeftModel.from_pretrained(model, cfg.adapter_name_or_path, is_trainable=True)
    if cfg.lora_target == "all":
        targets = linear_module_names(model)
    else:
        targets = [t.strip() for t in cfg.lora_target.split(",") if t.strip()]
        known = set(linear_module_names(model))
        bad = [t for t in targets if t not in known]
        if bad:
            raise UserError(f"lora_target {', '.join(bad)} not found in the model; "
                            f"its linear layers are: {', '.join(sorted(known))} (or use 'all')")
    config = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                        target_modules=targets, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    for p in peft_model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return peft_model


class TrainedTokensLoss(nn.Module):
    """Mean cross-entropy over trained tokens; the module DDP/accelerate wrap and call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def causal_lm(self) -> nn.Module:
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    def forward(self, input_ids, position_ids, labels, **_) -> tuple[torch.Tensor, torch.Tensor]:
        lm = self.causal_lm()
        hidden = lm.get_decoder()(input_ids=input_ids, position_ids=position_ids,
                                  use_cache=False).last_hidden_state
        keep = labels != -100
        h = hidden[keep]
        logits = lm.get_output_embeddings()(h).float()
        cap = getattr(lm.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        n = keep.sum()
        loss = F.cross_entropy(logits, labels[keep], reduction="sum") / n.clamp(min=1)
        return loss, n


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
