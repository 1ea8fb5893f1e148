"""A preallocated key/value cache that sequences join and leave while a batch decodes.

transformers' DynamicCache concatenates every step (a full copy of the cache per token) and has
one length for the whole batch. Here every layer owns one buffer ``[rows, kv_heads, columns,
head_dim]``; all running sequences write their next token into the same column ``hi``, so a
decode step is a single batched forward. Row r holds its tokens right-aligned at
``[start[r], hi)``; columns left of ``start[r]`` are padding, masked out. Attention reads the
window ``[lo, hi]`` where ``lo`` is the smallest start, so old padding costs nothing.
A joining sequence copies its prefilled keys in; a leaving one is replaced by the last row.
Buffers grow by doubling; the window slides inside them when it reaches the right edge or a
longer prompt joins.
"""
from __future__ import annotations

import torch


class SlotCache:
    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu", max_rows: int = 32,
                 sliding_window: int | None = None, layer_types: list[str] | None = None):
        self.n_layers, self.heads, self.head_dim = n_layers, n_kv_heads, head_dim
        self.dtype, self.device, self.max_rows = dtype, torch.device(device), max_rows
        self.sliding_window, self.layer_types = sliding_window, layer_types
        self.start: list[int] = []   # first real column of each active row
        self.lo = self.hi = 0
        self.q = 1                   # tokens per row in the current step
        self.rows_cap, self.cols_cap = 0, 0
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []

    @property
    def batch(self) -> int:
        return len(self.start)

    # ------------------------------------------------------------- layout

    def _relayout(self, rows_cap: int, cols_cap: int, new_hi: int) -> None:
        """Move the live window so it ends at `new_hi` in buffers of the given size."""
        shift = new_hi - self.hi
        b, width = self.batch, self.hi - self.lo
        if (rows_cap, cols_cap) == (self.rows_cap, self.cols_cap):
            # Same size: slide the window inside the buffers. New buffers would cost a page fault
            # per 4 KiB (~9 ms per layer's buffer here), and this happens whenever a prompt longer
            # than the current window joins. Columns outside the window keep old values (`add`
            # zeroes the padding a row exposes).
            if b and width and shift:
                for buf in (*self.k, *self.v):
                    buf[:b, :, self.lo + shift:new_hi] = buf[:b, :, self.lo:self.hi].clone()
        else:
            new_k, new_v = [], []
            for old_k, old_v in zip(self.k or [None] * self.n_layers, self.v or [None] * self.n_layers):
                nk, nv = self._new_buffer(rows_cap, cols_cap), self._new_buffer(rows_cap, cols_cap)
                if old_k is not None and b and width:
                    nk[:b, :, self.lo + shift:new_hi] = old_k[:b, :, self.lo:self.hi]
                    nv[:b, :, self.lo + shift:new_hi] = old_v[:b, :, self.lo:self.hi]
                new_k.append(nk)
                new_v.append(nv)
            self.k, self.v = new_k, new_v
        self.start = [s + shift for s in self.start]
        self.lo, self.hi = self.lo + shift, new_hi
        self.rows_cap, self.cols_cap = rows_cap, cols_cap

    def _new_buffer(self, rows: int, cols: int) -> torch.Tensor:
        # empty, not zeros: a row's pages are touched only once a sequence uses it. Zeroing all
        # max_rows rows took ~1 s of page faults (SmolLM2, 32 rows x 512 columns: 755 MB) each time
        # a longer prompt grew the buffers. What a row exposes as padding is zeroed in `add`.
        return torch.empty(rows, self.heads, cols, self.head_dim, dtype=self.dtype, device=self.device)

    def _fit(self, rows: int, left: int, right: int) -> None:
        """Make room for `rows` rows, `left` columns before hi and `right` columns from hi on."""
        need_hi = max(self.hi, left)
        if rows <= self.rows_cap and need_hi == self.hi and self.hi + right <= self.cols_cap:
            return
        width = max(self.hi - self.lo, left)
        # All rows at once: growing them one doubling at a time re-allocates (page faults, a
        # copy) just as a burst of requests arrives. SmolLM2, 32 rows x 256 columns: 377 MB.
        rows_cap = max(self.max_rows, rows)
        cols_cap = self.cols_cap
        while cols_cap < width + right + 64:
            cols_cap = max(256, 2 * cols_cap)
        self._relayout(rows_cap, cols_cap, new_hi=width)

    # -------------------------------------------------------------- rows

    def add(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> int:
        """Append a prefilled sequence (per layer ``[1, heads, length, dim]``); returns its row."""
        length = keys[0].shape[-2]
        if self.batch == 0:
            self.lo = self.hi = 0
        self._fit(self.batch + 1, left=length, right=1)
        row, a = self.batch, self.hi - length
        old_lo = self.lo if row else a
        for layer in range(self.n_layers):
            self.k[layer][row, :, a:self.hi] = keys[layer][0]
            self.v[layer][row, :, a:self.hi] = values[layer][0]
        self.start.append(a)
        self.lo = min(self.start)
        # Attention reads every row's window [lo, hi), padding included: masked, but still
        # multiplied by 0, and 0 * NaN garbage = NaN. So the padding a row now shows is zeroed:
        # the new row's left of its start, and the older rows' left of the old lo.
        for buf in (*self.k, *self.v):
            buf[row, :, self.lo:a] = 0
            buf[:row, :, self.lo:old_lo] = 0
        return row

    def remove(self, row: int) -> None:
        """Drop a row; the last row moves into its place (callers mirror that move)."""
        last = self.batch - 1
        if row != last:
            for layer in range(self.n_layers):
                self.k[layer][row, :, self.lo:self.hi] = self.k[layer][last, :, self.lo:self.hi]
                self.v[layer][row, :, self.lo:self.hi] = self.v[layer][last, :, self.lo:self.hi]
            self.start[row] = self.start[last]
        self.start.pop()
        self.lo = min(self.start) if self.start else self.hi

    def row_kv(self, row: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        s = self.start[row]
        return ([k[row:row + 1, :, s:self.hi] for k in self.k], [v[row:row + 1, :, s:self.hi] for v in self.v])

    # ------------------------------------------------------------ decode

    def prepare_step(self, q: int = 1) -> None:
        """Make room for a step of `q` tokens per row (q > 1: speculative drafts being checked)."""
        self._fit(self.batch, left=0, right=q)
        self.q = q

    def positions(self) -> torch.Tensor:
        return torch.tensor([[self.hi - s + j for j in range(self.q)] for s in self.start],
                            dtype=torch.long, device=self.device)

    def attention_mask(self) -> torch.Tensor | dict[str, torch.Tensor]:
        """``[batch, 1, q, hi + q - lo]`` booleans (True = attend) for the tokens at columns hi.."""
        cols = torch.arange(self.lo, self.hi + self.q, device=self.device)
        last = self.hi + torch.arange(self.q, device=self.device)[:, None]   # each query's own column
        starts = torch.tensor(self.start, device=self.device)[:, None, None]
        full = ((cols >= starts) & (cols <= last))[:, None]
        if not self.layer_types:
            return full
        masks = {"full_attention": full}
        if self.sliding_window:
            masks["sliding_attention"] = full & (cols > last - self.sliding_window)[None, None]
        return masks

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args, **kwargs):
        """Called by every attention layer: store this step's keys/values, return the window."""
        b, end = self.batch, self.hi + self.q
        self.k[layer_idx][:b, :, self.hi:end] = key_states
        self.v[layer_idx][:b, :, self.hi:end] = value_states
        return self.k[layer_idx][:b, :, self.lo:end], self.v[layer_idx][:b, :, self.lo:end]

    def advance(self, n: int = 1) -> None:
        """Keep the first `n` columns of this step (the rest held rejected drafts: overwritten later)."""
        self.hi += n
        self.q = 1

    def get_seq_length(self, layer_idx: int = 0) -> int:  # the Cache API models may ask for
        return self.hi - self.lo
