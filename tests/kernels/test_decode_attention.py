"""Decode attention in C++: each row against its own cached columns, equal to the math, and a row's
output the same bits whatever it is batched with."""
from __future__ import annotations

import pytest
import torch

from tooltune.kernels.decode_attention import decode_attention, usable
from tooltune.kernels.build import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"kernels: {unavailable_reason()}")


def reference(q, keys, values, starts, end, scale):
    """float64 softmax attention, row by row over its own columns, query head h on kv head h // g."""
    rows, heads, _ = q.shape
    g = heads // keys.shape[1]
    out = torch.empty(q.shape, dtype=torch.float64)
    for r in range(rows):
        for h in range(heads):
            k = keys[r, h // g, starts[r]:end].double()
            v = values[r, h // g, starts[r]:end].double()
            out[r, h] = torch.softmax(k @ q[r, h].double() * scale, dim=0) @ v
    return out


def case(rows, kv, g, dim, columns, end, seed):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(rows + 2, kv, columns, dim, generator=gen) * 2   # spare buffer rows, as the cache has
    values = torch.randn(rows + 2, kv, columns, dim, generator=gen)
    starts = torch.randint(0, end, (rows,), generator=gen)
    starts[0] = end - 1                                                  # a row with one column
    q = torch.randn(rows, kv * g, dim, generator=gen)
    return q, keys, values, starts


@pytest.mark.parametrize("rows, kv, g, dim, columns, end", [
    (1, 1, 1, 16, 16, 9), (3, 3, 3, 64, 512, 431), (10, 3, 3, 64, 256, 256), (5, 2, 4, 128, 64, 40),
    (4, 1, 16, 32, 300, 299), (2, 4, 1, 256, 40, 33), (17, 3, 3, 64, 128, 7)])
def test_each_row_attends_to_its_own_columns(rows, kv, g, dim, columns, end):
    q, keys, values, starts = case(rows, kv, g, dim, columns, end, seed=rows * 7 + dim)
    # What lies outside a row's columns is never read: NaN there would show.
    for r, s in enumerate(starts.tolist()):
        keys[r, :, :s] = values[r, :, :s] = float("nan")
        keys[r, :, end:] = values[r, :, end:] = float("nan")
    got = decode_attention(q, keys, values, starts, end, dim ** -0.5)
    want = reference(q, keys, values, starts, end, dim ** -0.5)
    assert got.dtype == torch.float32 and got.shape == q.shape
    torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=2e-6)


def test_a_row_alone_and_in_a_batch_gives_the_same_bits():
    q, keys, values, starts = case(9, 3, 3, 64, 512, 480, seed=3)
    together = decode_attention(q, keys, values, starts, 480, 0.125)
    for r in range(9):
        alone = decode_attention(q[r:r + 1], keys[r:r + 1], values[r:r + 1], starts[r:r + 1], 480, 0.125)
        assert torch.equal(alone[0], together[r])


def test_bad_inputs_are_refused():
    q, keys, values, starts = case(2, 3, 3, 64, 32, 20, seed=1)
    with pytest.raises(ValueError, match="int64 starts"):
        decode_attention(q, keys, values, starts.int(), 20, 1.0)
    with pytest.raises(ValueError, match="contiguous"):
        decode_attention(q, keys.transpose(1, 2), values, starts, 20, 1.0)
    with pytest.raises(ValueError, match="does not take"):
        decode_attention(q, keys, values, torch.tensor([20, 3]), 20, 1.0)      # a start at the end
    with pytest.raises(ValueError, match="does not take"):
        decode_attention(q, keys, values, starts, 33, 1.0)                     # past the buffer
    odd = torch.zeros(1, 1, 8, 12)
    with pytest.raises(ValueError, match="does not take"):
        decode_attention(torch.zeros(1, 1, 12), odd, odd, torch.tensor([0]), 4, 1.0)
    assert decode_attention(q[:0], keys, values, starts[:0], 20, 1.0).shape == (0, 9, 64)


def test_which_steps_it_takes():
    cpu = torch.device("cpu")
    assert usable(1, torch.float32, cpu, 64, 3)
    assert not usable(3, torch.float32, cpu, 64, 3)          # drafts being checked: torch's path
    assert not usable(1, torch.bfloat16, cpu, 64, 3)
    assert not usable(1, torch.float32, cpu, 72, 3)
    assert not usable(1, torch.float32, torch.device("meta"), 64, 3)
