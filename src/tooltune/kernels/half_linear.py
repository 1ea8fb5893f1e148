"""fp16 weights, fp32 math: linear layers for decoding on an AVX2 CPU.

A decode step reads every weight once, so on a CPU its matmuls are bound by memory bandwidth:
SmolLM2-135M's fp32 weights are 540 MB a step. torch has no CPU product of fp16 weights with fp32
inputs (its fp16/bf16 products round the activations too, and on AVX2 they run ~100x slower than
fp32). So this is a small C++ kernel (csrc/half_linear.cpp): weights stored fp16 in panels of 16
output rows, widened to fp32 in registers (F16C), multiplied and summed in fp32, a 6x16 tile of
outputs at a time (the BLIS layout). Measured side by side on SmolLM2's weight shapes (2-core AVX2
EPYC), all matmuls of one decode step: one row 19.1 ms (the fp32 bmm path) -> ~10 ms, 4 rows
27.7 (oneDNN packed) -> ~12.4, 16 rows 52.7 -> ~32 (~135 GFLOP/s). (A first kernel on the plain
[N, K] layout, dot products with horizontal sums, took 11.2 / 18.3 / 42.4.)

- Every output is one fp32 lane summing over k in order whatever the number of rows, so a row's
  products do not depend on what it is batched with (bitwise; fp32 oneDNN and MKL change their
  blocking, and so their rounding, with the row count). Decode attention (csrc/decode_attention.cpp)
  is batch-invariant the same way.
- Weights lose what fp16 cannot hold: 2^-11 relative (~5e-4); models trained in bf16 lose
  nothing (bf16 -> fp16 is exact inside fp16's range). A weight past fp16's range keeps fp32.
- Memory: the fp32 weights go, except a tied LM head's (the input embedding still reads it).

Built with the other serving kernels (see build.py). Without a compiler or AVX2, serving keeps
fp32 weights.
"""
from __future__ import annotations

import contextlib
import types

import torch

from tooltune.kernels.build import KernelUnavailable, library, unavailable_reason

__all__ = ["KernelUnavailable", "half_linear", "half_linear_layers", "half_weight", "halve_linear_layers",
           "serving_linear_layers", "to_panels", "unavailable_reason"]
_FP16_MAX = 65504.0


def _kernel():
    """The compiled kernel's entry point; raises KernelUnavailable with the reason."""
    return library().half_linear


def to_panels(weight: torch.Tensor) -> torch.Tensor:
    """An fp16 [N, K] weight (N a multiple of 16) in the kernel's layout: panels of 16 output rows,
    k-major ([N/16][K][16]). Returned viewed as [N, K], so shapes read as before and row slices
    at multiples of 16 are whole panels; only the kernel can read its contents."""
    n, k = weight.shape
    return weight.half().view(n // 16, 16, k).transpose(1, 2).contiguous().view(n, k)


def half_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ W.T + bias`` for fp32 `x` [..., K] and `weight` = to_panels(W), W [N, K]."""
    rows = x.reshape(-1, x.shape[-1])
    if rows.dtype != torch.float32 or weight.dtype != torch.float16 or rows.shape[1] != weight.shape[1]:
        raise ValueError(f"half_linear: fp32 [*, {weight.shape[1]}] inputs, got {rows.dtype} {tuple(x.shape)}")
    if weight.shape[0] % 16 or not weight.is_contiguous():
        raise ValueError(f"half_linear: the weight must come from to_panels (got {tuple(weight.shape)})")
    rows, n = rows.contiguous(), weight.shape[0]
    out = torch.empty(rows.shape[0], n, dtype=torch.float32, device=x.device)
    if rows.shape[0] and _kernel()(rows.data_ptr(), weight.data_ptr(), bias.data_ptr() if bias is not None else None,
                                   out.data_ptr(), rows.shape[0], rows.shape[1], n, torch.get_num_threads()):
        raise MemoryError(f"half_linear: no memory for a copy of {rows.shape[0]} x {rows.shape[1]} inputs")
    return out.view(*x.shape[:-1], n)


def half_weight(module: torch.nn.Module) -> torch.Tensor | None:
    """The fp16 weight a converted layer multiplies by, or None for any other layer."""
    if "_half_weight" in module.__dict__:
        return module._half_weight
    forward = module.__dict__.get("forward")
    return module.weight if getattr(forward, "__func__", None) is _half_forward else None


def _half_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return half_linear(x, half_weight(self), self.bias)


def _convertible(module: torch.nn.Module) -> bool:
    if type(module) is not torch.nn.Linear:
        return False
    w = module.weight
    return (w.dtype == torch.float32 and w.device.type == "cpu"
            and w.shape[0] % 16 == 0 and w.is_contiguous() and bool(w.detach().abs().max() <= _FP16_MAX)
            and (module.bias is None or module.bias.is_contiguous()))


def halve_linear_layers(model: torch.nn.Module, *, keep_fp32: bool = False) -> int:
    """Give every fp32 nn.Linear (outputs a multiple of 16) fp16 weights in the kernel's panel
    layout and the kernel's forward (inference only: it has no backward, and the weight's contents
    are no longer a plain [N, K] matrix); returns how many layers changed. The fp32 weights are
    freed, unless `keep_fp32` or another module shares them (a tied LM head), where the fp16 copy
    sits beside them. Raises KernelUnavailable where the kernel cannot run."""
    _kernel()
    tied = {id(p) for m in model.modules() if type(m) is not torch.nn.Linear for p in m.parameters(recurse=False)}
    changed = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            # peft casts a LoRA layer's input to its weight's dtype: its small A/B layers stay fp32
            if not _convertible(module) or half_weight(module) is not None or ".lora_" in f".{name}":
                continue
            if keep_fp32 or id(module.weight) in tied:
                module._half_weight = to_panels(module.weight.detach())
            else:
                module.weight.data = to_panels(module.weight.data)
            module.forward = types.MethodType(_half_forward, module)
            changed += 1
    return changed


@contextlib.contextmanager
def half_linear_layers(model: torch.nn.Module):
    """fp16-weight forwards for the duration of the block, the fp32 weights untouched (e.g. one
    evaluation in the middle of training). Yields how many layers changed."""
    changed = halve_linear_layers(model, keep_fp32=True)
    try:
        yield changed
    finally:
        for module in model.modules():
            if "_half_weight" in module.__dict__:
                del module._half_weight
                del module.forward


@contextlib.contextmanager
def serving_linear_layers(model: torch.nn.Module):
    """fp16-weight layers, as `tooltune api` serves an fp32 model on a CPU, for the duration of the
    block where the kernel runs here; the model as it is elsewhere, and a model whose weights
    were placed for serving already (engine/weights.py) as it is. So an evaluation in the middle
    of training scores what the server would answer. Yields how many layers changed."""
    embedding = model.get_input_embeddings().weight
    placed = any(half_weight(m) is not None or "_packed_weight" in m.__dict__ for m in model.modules())
    if embedding.dtype == torch.float32 and embedding.device.type == "cpu" and unavailable_reason() is None \
            and not placed:
        with half_linear_layers(model) as changed:
            yield changed
    else:
        yield 0
