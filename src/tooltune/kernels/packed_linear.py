"""Linear layers on prepacked oneDNN weights, for decoding on a CPU.

A decode step multiplies a handful of rows (one per running request) by every weight matrix.
MKL's plain sgemm is poor at that shape: on SmolLM2-135M (2-core AVX2 EPYC, fp32) the matmuls
of one 16-row step take 72 ms, 40 ms with the weights reordered once into oneDNN's blocked
layout (the LM head alone 21 -> 9 ms; at one row 8.6 -> 3.9 ms). Prefill-sized inputs (hundreds
of rows) run as fast as before. This is what inductor's CPU "freezing" does for linear layers,
without compiling anything. Numerics: fp32 throughout, only the summation order changes (~1e-5
relative), so greedy replies stay those of the plain model.

The packed copy is made once and never updated: the API server packs its model for good;
evaluation during training packs the live model only for the time of one evaluation.
"""
from __future__ import annotations

import contextlib
import types

import torch


def can_pack(model: torch.nn.Module) -> bool:
    """fp32 on a CPU, with oneDNN's linear kernels in this torch build."""
    p = next(model.parameters())
    return (p.device.type == "cpu" and p.dtype == torch.float32 and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def _packed_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
        return torch.nn.functional.linear(x, self.weight, self.bias)  # the packed op has no backward
    rows = x.reshape(-1, x.shape[-1])
    out = torch.ops.mkldnn._linear_pointwise(rows, self._packed_weight, self.bias, "none", [], "")
    return out.reshape(*x.shape[:-1], out.shape[-1])


def pack_linear_layers(model: torch.nn.Module) -> int:
    """Give every fp32 nn.Linear a packed copy of its weight and a forward that uses it; returns
    how many layers were packed (0 where `can_pack` says no). LoRA wrappers keep working: peft
    calls its base layer, which is an nn.Linear like any other."""
    if not can_pack(model):
        return 0
    packed = 0
    with torch.no_grad():
        for module in model.modules():
            if type(module) is not torch.nn.Linear or module.weight.dtype != torch.float32:
                continue
            module._packed_weight = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach(), None)
            module.forward = types.MethodType(_packed_forward, module)
            packed += 1
    return packed


def unpack_linear_layers(model: torch.nn.Module) -> None:
    """Back to plain nn.Linear forwards (and the packed copies freed)."""
    for module in model.modules():
        if "_packed_weight" in module.__dict__:
            del module._packed_weight
            del module.forward


@contextlib.contextmanager
def packed_linear_layers(model: torch.nn.Module):
    """Packed for the duration of the block (e.g. one evaluation in the middle of training)."""
    packed = pack_linear_layers(model)
    try:
        yield packed
    finally:
        if packed:
            unpack_linear_layers(model)
