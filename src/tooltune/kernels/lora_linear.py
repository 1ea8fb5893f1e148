"""A LoRA linear layer as one autograd step, for training on a CPU.

peft computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling`` as separate ops, so every LoRA
layer makes two extra full passes over its ``[tokens, out]`` output (the scaling and the add) in
forward and in backward, and leaves autograd to pick the layout of the rank-r products. MKL is
slow at some of those layouts: on SmolLM2 (4096 tokens) ``grad_out.T @ h`` for gate/up's lora_B
runs as [1536, 4096] @ [4096, 8] in 16.6 ms, its transpose ``h.T @ grad_out`` in 3.4 ms. With
LoRA on every linear layer these costs were ~15% of a training step; this kernel made the step
~5% faster.

Here the low-rank term joins the base product in one of two ways, whichever touches less memory:
added to its result (``addmm_`` with alpha=scaling) or, for long inputs, folded into the weight
(``W + s * B @ A``, then one GEMM; forward, and again for the input's gradient in backward). The
rank-r products use the layouts MKL is fast at: ``x @ A.T`` with A as a contiguous [r, in] weight
(2x faster than an [in, r] one for in=1536 here), and the long reductions ``gh.T @ x`` and
``h.T @ grad`` split into one slice of rows per thread (1.5-2.5x: MKL runs them on one core).
Measured against the previous version of this kernel on SmolLM2's seven layer shapes (fwd + bwd,
CPU time, paired over 30 repeats): 8.8 ms less per layer at 1,020 rows (of ~250), 64 ms at 4,080.
Same math and the same saved tensors as peft's path (x, h); results agree to float rounding. Only
plain LoRA takes this path: dropout, DoRA and other variants, several active adapters, a trainable
bias and autocast keep peft's own forward.
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
        h = F.linear(rows, lora_a)                                           # [n, r]
        if _merge_pays(rows.shape[0], weight.shape[1]):
            out = F.linear(rows, _merged(weight, lora_a, lora_b, scaling), bias)
        else:
            out = F.linear(rows, weight, bias).addmm_(h, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(rows, weight, lora_a, lora_b, h)
        ctx.scaling = scaling
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        rows, weight, lora_a, lora_b, h = ctx.saved_tensors
        s = ctx.scaling
        g = grad.reshape(-1, grad.shape[-1]).contiguous()
        gh = F.linear(g, (lora_b.t() * s).contiguous())                     # [n, r] = s * g @ B
        grad_a = _t_matmul(gh, rows)                                         # [r, in]
        grad_b = _t_matmul(h, g).t().mul(s).contiguous()                     # [out, r]
        grad_x = None
        if ctx.needs_input_grad[0]:
            if _merge_pays(g.shape[0], weight.shape[0]):  # recomputed: keeping it would hold a second model
                grad_x = g @ _merged(weight, lora_a, lora_b, s)
            else:
                grad_x = (g @ weight).addmm_(gh, lora_a)
            grad_x = grad_x.view(*grad.shape[:-1], weight.shape[1])
        return grad_x, None, None, grad_a, grad_b, None


def _merge_pays(rows: int, width: int) -> bool:
    """Whether to fold the low-rank term into the weight (W + s * B @ A, one GEMM) rather than add
    it to the product's [rows, width] result. The fold touches out x in weight elements, the add
    rows x width result elements; per element the fold costs ~2.5x (the weight comes from memory,
    is copied, then updated): measured on SmolLM2's layers, it loses at 1,020 rows and wins at 4,080."""
    return rows >= 2.5 * width


def _merged(weight, lora_a, lora_b, scaling: float) -> torch.Tensor:
    return torch.addmm(weight, lora_b, lora_a, alpha=scaling)


def _t_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a.T @ b for tall a [n, p], b [n, q] with small p. MKL runs that long reduction on one core;
    on a CPU it is split in one slice of rows per thread (a bmm) and the partial products summed."""
    parts = torch.get_num_threads() if a.device.type == "cpu" else 1
    n = a.shape[0] // parts * parts
    if parts < 2 or n < 64 * parts:
        return a.t() @ b
    out = torch.bmm(a[:n].view(parts, n // parts, -1).transpose(1, 2), b[:n].view(parts, n // parts, -1)).sum(0)
    return out.addmm_(a[n:].t(), b[n:]) if n < a.shape[0] else out


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
