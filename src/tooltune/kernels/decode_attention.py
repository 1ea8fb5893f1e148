"""Decode attention on a CPU: each row's one new query against its own cached keys and values.

The torch path (fast_decode.py) multiplies every row against the batch's common window, the
longest row's, and masks the padding: a chat reply of 50 tokens beside a 400-token tool prompt
reads 400 columns. csrc/decode_attention.cpp reads each row's own columns, once, for every query
head of a key/value group, with the softmax in between. A step's keys and values come from memory
(every row's, every layer's), so the order of reads is what counts: on SmolLM2 at 10 rows (the
serve bench's prompts, 2-core AVX2 EPYC), a step's attention over 30 layers took 17.5-23.8 ms in
torch and 6.1-6.7 ms here, measured side by side; in the engine, ~18 -> ~8 ms a step. A row's
result does not depend on the other rows in the batch (bitwise).
"""
from __future__ import annotations

import torch

from tooltune.kernels.build import library, unavailable_reason


def usable(queries_per_row: int, dtype: torch.dtype, device: torch.device, head_dim: int, groups: int) -> bool:
    """Whether the kernel takes this step: one query per row (drafts go through torch), an fp32
    cache on a CPU, head_dim a multiple of 16 up to 256, and where the kernels build here."""
    return (queries_per_row == 1 and dtype == torch.float32 and device.type == "cpu"
            and head_dim % 16 == 0 and head_dim <= 256 and 1 <= groups <= 16 and unavailable_reason() is None)


def decode_attention(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, starts: torch.Tensor,
                     end: int, scale: float) -> torch.Tensor:
    """Attention outputs ``[rows, heads, head_dim]`` for `queries` ``[rows, heads, head_dim]`` against
    the cache buffers `keys`/`values` ``[buffer rows, kv_heads, columns, head_dim]``, row r reading
    columns ``[starts[r], end)``; query head h reads key/value head h // (heads / kv_heads)."""
    rows, heads, dim = queries.shape
    kv, columns = keys.shape[1], keys.shape[2]
    if (keys.dtype != torch.float32 or not keys.is_contiguous() or values.shape != keys.shape
            or not values.is_contiguous() or heads % kv or keys.shape[3] != dim or rows > keys.shape[0]
            or starts.dtype != torch.int64 or starts.shape != (rows,)):
        raise ValueError("decode_attention: fp32 contiguous cache buffers [rows, kv_heads, columns, "
                         f"{dim}] and int64 starts [{rows}]; got {tuple(keys.shape)} {keys.dtype}, "
                         f"starts {tuple(starts.shape)} {starts.dtype}")
    q = queries.to(torch.float32).contiguous()
    out = torch.empty_like(q)
    status = library().decode_attention(q.data_ptr(), keys.data_ptr(), values.data_ptr(), starts.data_ptr(),
                                        out.data_ptr(), rows, kv, heads // kv, dim, columns, end, scale,
                                        torch.get_num_threads()) if rows else 0
    if status == 2:
        raise ValueError(f"decode_attention: shapes it does not take (head_dim {dim}, {heads // kv} query "
                         f"heads per group, columns {columns}, end {end}, starts {starts.tolist()})")
    if status:
        raise MemoryError("decode_attention: no memory for the scores")
    return out
