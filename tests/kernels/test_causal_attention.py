"""Blocked causal attention against torch's own causal SDPA: outputs and all three gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tooltune.kernels import causal_attention as ca


def _qkv(n: int, heads: int = 3, dim: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, heads, n, dim, generator=g, dtype=torch.float64).float().requires_grad_()
            for _ in range(3)]


@pytest.mark.parametrize("n", [1, 57, ca.BLOCK, ca.BLOCK + 1, 2 * ca.BLOCK, 3 * ca.BLOCK + 50])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_matches_stock_causal_attention(n, scale):
    q, k, v = _qkv(n)
    grad = torch.randn(q.shape, generator=torch.Generator().manual_seed(1))
    results = []
    for attend in (ca.causal_attention, lambda *a: F.scaled_dot_product_attention(*a[:3], is_causal=True, scale=a[3])):
        out = attend(q, k, v, scale)
        out.backward(grad)
        results.append([out.detach()] + [t.grad.clone() for t in (q, k, v)])
        for t in (q, k, v):
            t.grad = None
    for mine, stock, name in zip(*results, ["out", "dq", "dk", "dv"]):
        torch.testing.assert_close(mine, stock, atol=2e-5, rtol=1e-4, msg=name)


def test_long_sequences_take_the_blocked_path():
    if ca._OPS is None:
        pytest.skip("this torch has no CPU flash-attention ops")
    q, k, v = _qkv(ca.BLOCK + 1)
    assert type(ca.causal_attention(q, k, v).grad_fn).__name__ == "_BlockedCausalBackward"
    q, k, v = _qkv(ca.BLOCK)
    assert "BlockedCausal" not in type(ca.causal_attention(q, k, v).grad_fn).__name__
