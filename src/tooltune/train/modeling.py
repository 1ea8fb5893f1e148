"""Which weights train (LoRA / full / freeze), and a loss that runs the LM head only where it counts.

The LM head is a fifth of SmolLM2's compute and most of Gemma 3's: computing logits for every
position and then masking most of them away wastes it. `TrainedTokensLoss` runs the decoder,
gathers the hidden states at trained positions and applies the head to those alone, a chunk of
rows at a time (`head_cross_entropy`).
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
    """Mean cross-entropy over trained tokens; the module DDP/accelerate wrap and call.

    In training, the tokens that decide what a reply does (`decisions`: its first token, a call
    or text, and the one after each call closes; see Encoded.decisions) weigh `decision_weight`;
    evaluation (eval mode) is plain cross-entropy."""

    def __init__(self, model: nn.Module, decision_weight: float = 1.0):
        super().__init__()
        self.model = model
        self.decision_weight = decision_weight

    def causal_lm(self) -> nn.Module:
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    def forward(self, input_ids, position_ids, labels, decisions=None, **_) -> tuple[torch.Tensor, torch.Tensor]:
        lm = self.causal_lm()
        hidden = lm.get_decoder()(input_ids=input_ids, position_ids=position_ids,
                                  use_cache=False).last_hidden_state
        keep = labels != -100
        n = keep.sum()
        head = lm.get_output_embeddings()
        cap = getattr(lm.config, "final_logit_softcapping", None)
        h, y = hidden[keep], labels[keep]
        weights = None
        if self.training and self.decision_weight != 1.0 and decisions is not None:
            weights = torch.where(decisions[keep], self.decision_weight, 1.0).to(torch.float32)
        if type(head) is nn.Linear and head.bias is None:
            total = head_cross_entropy(h, head.weight, y, cap, weights)
        else:  # a wrapped or biased head: the plain way
            logits = head(h).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            per_token = F.cross_entropy(logits, y, reduction="none")
            total = (per_token * weights).sum() if weights is not None else per_token.sum()
        return total / n.clamp(min=1), n


def head_cross_entropy(h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                       cap: float | None = None, token_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Summed cross-entropy of the logits `h @ weight.T` (tanh soft-capped at `cap` when set),
    each row's term times `token_weights` where given.

    Computed in row chunks, each chunk's gradient right away: the logits of all trained positions
    (160 MB per 1024-token row on SmolLM2; Gemma 3's vocabulary is 5x larger), their softmax and
    their gradient are never held at once. Same values and gradients as F.cross_entropy."""
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
        return _ChunkedHeadLoss.apply(h, weight, labels, cap, token_weights)
    return _chunked_head_loss(h, weight, labels, cap, token_weights, grads=False)[0]


def _chunked_head_loss(h, weight, labels, cap, token_weights, grads: bool, grad_weight: bool = False):
    device = h.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else h.dtype
    # Chunks of ~128 MB of fp32 logits, all in one buffer. Bigger products run faster (SmolLM2's
    # head forward on a 2-core CPU: ~60 GFLOP/s at 170 rows, ~100 at 682), and reusing the buffer
    # spares the page faults of a fresh 33+ MB tensor per chunk: measured side by side, this loss
    # and its gradient over 1,024 positions took 10-25% less time than with 32 MB chunks.
    rows = max(1, min(h.shape[0], max(16, (1 << 25) // weight.shape[0])))  # 1: no trained token
    total = torch.zeros((), dtype=torch.float32, device=h.device)
    grad_h = torch.empty_like(h) if grads else None
    grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device) if grad_weight else None
    w = weight.to(dtype)
    buf = torch.empty(rows, weight.shape[0], dtype=torch.float32, device=h.device)
    fp32 = dtype == h.dtype == torch.float32
    with torch.autocast(device, enabled=False), torch.no_grad():
        for s in range(0, h.shape[0], rows):
            hc, y = h[s:s + rows].to(dtype), labels[s:s + rows]
            z = torch.mm(hc, w.t(), out=buf[:len(y)]) if fp32 else buf[:len(y)].copy_(F.linear(hc, w))
            if cap:
                t = torch.tanh(z / cap)
                z = t * cap
            target = z.gather(1, y[:, None]).squeeze(1)
            peak = z.amax(1, keepdim=True)
            e = z.sub_(peak).exp_()                       # in place: the logits are done with
            sums = e.sum(1, keepdim=True)
            terms = peak.squeeze(1) + sums.log().squeeze(1) - target  # logsumexp - target
            tw = token_weights[s:s + rows] if token_weights is not None else None
            total += (terms * tw).sum() if tw is not None else terms.sum()
            if not grads:
                continue
            g = e.div_(sums)                              # softmax
            g[torch.arange(len(y), device=g.device), y] -= 1
            if tw is not None:
                g *= tw[:, None]
            if cap:
                g *= 1 - t * t
            if fp32:
                torch.mm(g, w, out=grad_h[s:s + rows])
            else:
                grad_h[s:s + rows] = (g.to(dtype) @ w).to(h.dtype)
            if grad_w is not None:
                grad_w.addmm_(g.t(), hc.float())
    return total, grad_h, grad_w


class _ChunkedHeadLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, labels, cap, token_weights):
        total, grad_h, grad_w = _chunked_head_loss(h, weight, labels, cap, token_weights, grads=True,
                                                   grad_weight=weight.requires_grad)
        ctx.save_for_backward(grad_h, grad_w if grad_w is not None else torch.empty(0))
        ctx.weight_dtype, ctx.has_grad_w = weight.dtype, grad_w is not None
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        gw = (grad_w * grad_out).to(ctx.weight_dtype) if ctx.has_grad_w else None
        return grad_h * grad_out.to(grad_h.dtype), gw, None, None, None


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
