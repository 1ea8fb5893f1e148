"""From encoded conversations to training batches: packing, length grouping, padding.

Packed rows hold several conversations back to back with position ids restarting at 0 for each;
with no attention mask, transformers turns those position ids into a block-diagonal mask, so no
token attends across conversations (packed and unpacked losses agree; tests check it).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from tooltune.templates.render import Encoded


@dataclass
class Row:
    ids: list[int]
    mask: list[bool]
    positions: list[int]
    decisions: list[bool] | None = None   # see Encoded.decisions

    def __len__(self) -> int:
        return len(self.ids)


def pack(samples: list[Encoded], max_len: int) -> list[Row]:
    """First-fit-decreasing bin packing of samples into rows of at most `max_len` tokens."""
    order = sorted(range(len(samples)), key=lambda i: -len(samples[i].ids))
    rows: list[Row] = []
    space: list[int] = []
    for i in order:
        s = samples[i]
        n = len(s.ids)
        slot = next((r for r, free in enumerate(space) if free >= n), None)
        if slot is None:
            rows.append(Row([], [], [], []))
            space.append(max_len)
            slot = len(rows) - 1
        row = rows[slot]
        row.ids += s.ids
        row.mask += s.mask
        row.decisions += s.decisions if s.decisions is not None else [False] * n
        row.positions += list(range(n))
        space[slot] -= n
    return rows


def unpacked(samples: list[Encoded]) -> list[Row]:
    return [Row(list(s.ids), list(s.mask), list(range(len(s.ids))),
                list(s.decisions) if s.decisions is not None else [False] * len(s.ids)) for s in samples]


def make_batches(rows: list[Row], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Row indices per batch: rows of similar length together (less padding), batch order shuffled
    with (seed, epoch) so a resumed run sees the very same order."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(rows)))
    rng.shuffle(order)
    # Length grouping inside windows of 16 batches keeps randomness while cutting padding.
    window = batch_size * 16
    grouped = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: len(rows[i]))
        grouped += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(grouped)
    return grouped


def token_chunks(rows: list[Row], max_tokens: int) -> list[list[Row]]:
    """Consecutive groups of rows holding at most `max_tokens` tokens (at least one row each)."""
    chunks: list[list[Row]] = []
    size = 0
    for r in rows:
        if chunks and size + len(r) <= max_tokens:
            chunks[-1].append(r)
            size += len(r)
        else:
            chunks.append([r])
            size = len(r)
    return chunks


def collate(rows: list[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row; padding is its own 'conversation' (positions from 0) and is
    never trained. Labels are the next token where that token is trained, else -100; `decisions`
    is True where that label is a deciding token (Encoded.decisions)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    decisions = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, r in enumerate(rows):
        n = len(r)
        ids[b, :n] = torch.tensor(r.ids)
        pos[b, :n] = torch.tensor(r.positions)
        pos[b, n:] = torch.arange(width - n)
        target = torch.tensor(r.ids[1:] + [pad_id])
        trained = torch.tensor(r.mask[1:] + [False])
        # A position's label is the next token, but never across a packed boundary.
        restart = torch.tensor(r.positions[1:] + [0]) == 0
        labels[b, :n] = torch.where(trained & ~restart, target, torch.full_like(target, -100))
        if r.decisions is not None:
            decisions[b, :n] = torch.tensor(r.decisions[1:] + [False]) & trained & ~restart
    return {"input_ids": ids, "position_ids": pos, "labels": labels, "decisions": decisions,
            "n_tokens": torch.tensor(sum(len(r) for r in rows))}
