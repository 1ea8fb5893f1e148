"""A LoRA linear layer as one autograd step, for training on a CPU.

peft computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling`` as separate ops, so every LoRA
layer makes two extra full passes over its ``[tokens, out]`` output (the scaling and the add) in
forward and in backward, and leaves autograd to pick the layout of the rank-r products. MKL is
slow at some of those layouts: on SmolLM2 (4096 tokens) ``grad_out.T @ h`` for gate/up's lora_B
runs as [1536, 4096] @ [4096, 8] in 16.6 ms, its transpose ``h.T @ grad_out`` in 3.4 ms. With
LoRA on every linear layer these costs were ~15% of a training step; this kernel made the step
~5% faster.

Here the low-rank term is added inside the base GEMM's own pass (``addmm_`` with alpha=scaling),
and backward computes each rank-r product in its fast orientation. Same math and the same saved
tensors as peft's path (x, h); results agree to float rounding. Only plain LoRA takes this path:
dropout, DoRA and other variants, several active adapters, a trainable bias and autocast keep
peft's own forward.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn


class _LoraLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling: float):
        rows = x.reshape(-1, x.shape[-1])
        h = rows @ lora_a.t()                                     # [n, r]
        out = F.linear(rows, weight, bias).addmm_(h, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(rows, weight, lora_a, lora_b, h)
        ctx.scaling = scaling
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        rows, weight, lora_a, lora_b, h = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])
        gh = (g @ lora_b).mul_(ctx.scaling)                       # [n, r]
        grad_a = gh.t() @ rows                                    # [r, in]
        grad_b = (h.t() @ g).mul_(ctx.scaling).t().contiguous()   # [out, r], from [r, n] @ [n, out]
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight).addmm_(gh, lora_a).view(*grad.shape[:-1], weight.shape[1])
        return grad_x, None, None, grad_a, grad_b, None


def _plain_lora(layer: nn.Module, x: torch.Tensor) -> tuple | None:
    """(weight, bias, A, B, scaling) when `layer` is plain LoRA this kernel computes exactly."""
    active = [a for a in layer.active_adapters if a in layer.lora_A]
    if layer.disable_adapters or layer.merged or len(active) != 1 or not torch.is_grad_enabled():
        return None
    name = active[0]
    base = layer.base_layer
    if type(base) is not nn.Linear or name in getattr(layer, "lora_variant", {}):
        return None
    if not isinstance(layer.lora_dropout[name], nn.Identity) or torch.is_autocast_enabled(x.device.type):
        return None
    a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        return None
    if not (x.dtype == base.weight.dtype == a.dtype == b.dtype):
        return None
    return base.weight, base.bias, a, b, float(layer.scaling[name])


def _forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    plain = None if args or kwargs else _plain_lora(self, x)
    if plain is None:
        return type(self).forward(self, x, *args, **kwargs)
    return _LoraLinear.apply(x, *plain)


def use_lora_kernel(model: nn.Module) -> int:
    """Route every peft LoRA Linear of `model` through the kernel; returns how many."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    count = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.forward = types.MethodType(_forward, module)
            count += 1
    return count
