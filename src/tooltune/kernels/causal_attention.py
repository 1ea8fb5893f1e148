"""Causal attention for training on a CPU, in query blocks so the masked half is not computed.

torch's CPU flash-attention kernel walks the keys in blocks of 512, so causal attention over up to
~800 tokens costs what full attention costs (forward, SmolLM2 shapes: 4.7 ms causal vs 4.6 full
at 512 tokens). Here each block of `BLOCK` queries is computed as two calls of that same kernel:
its own diagonal block (causal, small) and, for every block past the first, the keys before it
(no mask, full speed). The two partial results merge exactly through their log-sum-exps. In the
backward, each part is handed to the kernel's own backward with the merged output and
log-sum-exp, which gives that part's exact share of every gradient.

Measured (9 heads of 64, forward + backward, medians; stock -> blocked): 300 tokens 6.7 -> 6.1
ms, 512: 17.6 -> 13.6, 640: 25.4 -> 22.6, 768: 31.5 -> 32.3, 900: 49.0 -> 40.5, 1024: 50.8 ->
46.3. Results agree with the stock kernel to ~1e-6 (fp32). On the train bench's packed glaive rows
(forward + backward, alternated row by row with the stock call in one process): 2% more tokens/s.
The two kernel entry points are private aten ops; where they are missing, the stock call is used.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 192  # queries per block: the best of 64-512 across 300-1024 tokens


def _ops():
    aten = torch.ops.aten
    try:
        return aten._scaled_dot_product_flash_attention_for_cpu, \
            aten._scaled_dot_product_flash_attention_for_cpu_backward
    except (AttributeError, RuntimeError):
        return None


_OPS = _ops()


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     scale: float | None = None) -> torch.Tensor:
    """softmax(q k^T * scale, causal) v for [batch, heads, seq, dim] tensors with equal heads."""
    n = q.shape[2]
    if _OPS is None or q.device.type != "cpu" or n <= BLOCK or k.shape[2] != n:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    return _BlockedCausal.apply(q, k, v, scale)


class _BlockedCausal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, scale):
        attend, _ = _OPS
        n = q.shape[2]
        out = torch.empty_like(q)
        lse = q.new_empty(q.shape[:3], dtype=torch.float32)
        for s in range(0, n, BLOCK):
            e = min(n, s + BLOCK)
            qb = q[:, :, s:e]
            o_diag, l_diag = attend(qb, k[:, :, s:e], v[:, :, s:e], 0.0, True, scale=scale)
            if s == 0:
                out[:, :, :e], lse[:, :, :e] = o_diag, l_diag
                continue
            o_past, l_past = attend(qb, k[:, :, :s], v[:, :, :s], 0.0, False, scale=scale)
            l = torch.logaddexp(l_diag, l_past)
            out[:, :, s:e] = (o_diag * (l_diag - l).exp_().unsqueeze(-1)
                              + o_past * (l_past - l).exp_().unsqueeze(-1))
            lse[:, :, s:e] = l
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad):
        _, attend_backward = _OPS
        q, k, v, out, lse = ctx.saved_tensors
        grad = grad.contiguous()
        n = q.shape[2]
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for s in range(0, n, BLOCK):
            e = min(n, s + BLOCK)
            g, qb, ob, lb = grad[:, :, s:e], q[:, :, s:e], out[:, :, s:e], lse[:, :, s:e]
            a, b, c = attend_backward(g, qb, k[:, :, s:e], v[:, :, s:e], ob, lb, 0.0, True, scale=ctx.scale)
            dq[:, :, s:e] = a
            dk[:, :, s:e] += b
            dv[:, :, s:e] += c
            if s:
                a, b, c = attend_backward(g, qb, k[:, :, :s], v[:, :, :s], ob, lb, 0.0, False, scale=ctx.scale)
                dq[:, :, s:e] += a
                dk[:, :, :s] += b
                dv[:, :, :s] += c
        return dq, dk, dv, None
