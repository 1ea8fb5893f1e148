"""A lean decode-step forward for Llama-shaped decoders (Llama, SmolLM2, Yi, Mistral, Qwen2).

A decode step computes a handful of rows, so the glue around the matmuls costs as much as they
do: transformers' forward builds masks, dispatches through attention interfaces and, with a
padding mask, copies every layer's key/value window once per query head group (`repeat_kv`).
On SmolLM2-135M (2-core AVX2 CPU, fp32) that glue was ~20 ms of a 56 ms one-row step. Measured
side by side in one process, this forward makes a decode step 12-18% faster at 1 to 16 rows.

This runs the same modules (the model's own norms, rotary embedding and linear layers, packed or
not) in the same order with the same math. Attention is written out: each query head group
multiplies the cached keys of its one key/value head directly (on a CPU where the serving kernels
build, decode rows go through csrc/decode_attention.cpp instead, each reading only its own cached
columns: see decode_attention.py); so are rotary (queries and keys in one pass) and RMSNorm
(torch's one-op form), which save op dispatches. The same forward takes
pieces of new prompts along with the decode rows (chunked prefill): their tokens join the rows of
every matmul, and their attention over their own keys runs in torch's fused kernel. Every model
this doesn't recognise keeps transformers' forward.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tooltune.kernels.decode_attention import decode_attention, usable
from tooltune.kernels.half_linear import half_linear, half_weight
from tooltune.engine.kv_cache import SlotCache

# Decoder layers whose forward is exactly: x += attn(norm1(x)); x += mlp(norm2(x)), with a plain
# rotary q/k/v attention (optional biases) and a gated SiLU MLP.
_SUPPORTED = {"LlamaDecoderLayer", "MistralDecoderLayer", "Qwen2DecoderLayer"}


def build_fast_decoder(model: nn.Module) -> FastDecoder | None:
    """A FastDecoder for `model`, or None where its architecture or setup needs transformers' forward."""
    if not hasattr(model, "get_decoder") or type(model).__name__.startswith("Peft"):
        return None  # several LoRA adapters per batch go through peft's own forward
    decoder = model.get_decoder()
    layers = getattr(decoder, "layers", None)
    cfg = model.config
    if not layers or any(type(layer).__name__ not in _SUPPORTED
                         or not type(layer).__module__.startswith("transformers.models.") for layer in layers):
        return None  # remote code may reuse a name for a different layout
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True):
        return None  # windowed layers: the SlotCache's per-layer masks, through transformers
    act = getattr(cfg, "hidden_act", "silu")
    if act != "silu" or not hasattr(decoder, "rotary_emb"):
        return None
    return FastDecoder(model)


class FastDecoder:
    def __init__(self, model: nn.Module):
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        attn = self.decoder.layers[0].self_attn
        self.head_dim, self.scaling = attn.head_dim, attn.scaling
        self.groups, self.heads = attn.num_key_value_groups, self.decoder.config.num_attention_heads
        self.kv_heads = self.heads // self.groups
        self.norms = [(_rms_norm(l.input_layernorm), _rms_norm(l.post_attention_layernorm)) for l in self.decoder.layers]
        self.final_norm = _rms_norm(self.decoder.norm)
        # q/k/v and gate/up as one matmul each: one pass over the input instead of 3 and 2.
        self.qkv = [_Projection([l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj])
                    for l in self.decoder.layers]
        self.o = [_Projection([l.self_attn.o_proj]) for l in self.decoder.layers]
        self.gate_up = [_Projection([l.mlp.gate_proj, l.mlp.up_proj]) for l in self.decoder.layers]
        self.down = [_Projection([l.mlp.down_proj]) for l in self.decoder.layers]
        self.lm_head = _Projection([self.head])

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, cache: SlotCache, keep: int = 1,
                 chunks: Sequence[PrefillChunk] = ()) -> torch.Tensor:
        """fp32 logits of the last `keep` positions of each cache row's step: ``[batch, keep, vocab]``.

        `chunks` are prompt pieces of requests still being prefilled, computed in the same
        matmuls as the decode rows (chunked prefill): each chunk's keys/values are appended to
        its own, and its last position's logits are set on it."""
        b, q = input_ids.shape
        d, g, half, kv, heads = self.head_dim, self.groups, self.head_dim // 2, self.kv_heads, self.heads
        rows, keep, dev = b * q, min(keep, q), input_ids.device   # decode tokens first, then each chunk's
        ids, positions = [input_ids.reshape(-1)], [cache.positions().reshape(-1)] if b else []
        for c in chunks:
            ids.append(torch.tensor(c.ids, device=dev))
            positions.append(torch.arange(c.start, c.start + len(c.ids), device=dev))
        ids, positions = torch.cat(ids)[None], torch.cat(positions)[None]      # [1, tokens]
        x = self.decoder.embed_tokens(ids)
        cos, sin = self.decoder.rotary_emb(x, positions)   # [1, tokens, d]
        # Rotary embedding as x * cos + roll(x, d/2) * sin', where sin' carries rotate_half's sign:
        # roll(x, d/2) = cat(x2, x1), so this equals transformers' x * cos + cat(-x2, x1) * sin.
        cos, sin = cos[0, :, None], torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)[0, :, None]
        own_columns = b and usable(q, cache.dtype, cache.device, d, g)   # each row reads only its own
        if own_columns:
            starts = torch.tensor(cache.start, dtype=torch.int64)
        elif b:
            allowed = cache.attention_mask()                    # [b, 1, q, window] booleans
            bias = torch.zeros(allowed.shape, dtype=x.dtype, device=dev).masked_fill_(~allowed, float("-inf"))
            bias = bias[:, :, None]                             # [b, 1, 1, q, window]
        spans, offset = [], rows
        for c in chunks:                  # token span, and a causal mask over the chunk's past + itself
            past, n = c.start, len(c.ids)
            causal = torch.arange(past + n, device=dev)[None] <= past + torch.arange(n, device=dev)[:, None]
            spans.append((offset, n, causal))
            offset += n
        for i, layer in enumerate(self.decoder.layers):
            h = self.norms[i][0](x)
            qkv = self.qkv[i](h, split=False).view(-1, heads + 2 * kv, d)   # [tokens, heads + 2 kv, d]
            qk = qkv[:, :heads + kv]
            qk = qk * cos + qk.roll(half, dims=-1) * sin            # queries and keys rotated at once
            outs = []
            if own_columns:
                cache.update(qk[:rows, heads:].view(b, 1, kv, d).transpose(1, 2),
                             qkv[:rows, heads + kv:].view(b, 1, kv, d).transpose(1, 2), i)
                outs.append(decode_attention(qk[:rows, :heads], cache.k[i], cache.v[i], starts, cache.hi + 1,
                                             self.scaling).view(rows, -1))
            elif b:
                qs = qk[:rows, :heads].view(b, q, heads, d).transpose(1, 2)      # [b, heads, q, d]
                ks = qk[:rows, heads:].view(b, q, kv, d).transpose(1, 2)         # [b, kv, q, d]
                vs = qkv[:rows, heads + kv:].view(b, q, kv, d).transpose(1, 2)
                keys, values = cache.update(ks, vs, i)                           # [b, kv, window, d]
                # Query head h reads key/value head h // g (transformers' repeat_kv), so the g heads
                # of a group and their q positions are rows of one matmul against that head's keys.
                scores = torch.matmul(qs.reshape(b, kv, g * q, d), keys.transpose(-1, -2))
                scores = scores.mul_(self.scaling).view(b, kv, g, q, -1).add_(bias)
                probs = torch.softmax(scores, dim=-1).view(b, kv, g * q, -1)
                outs.append(torch.matmul(probs, values).view(b, heads, q, d).transpose(1, 2).reshape(rows, -1))
            for c, (start, n, causal) in zip(chunks, spans):
                part = qkv[start:start + n].transpose(0, 1)[None]               # [1, heads + 2 kv, n, d]
                rotated = qk[start:start + n].transpose(0, 1)[None]
                c.keys[i] = torch.cat([c.keys[i], rotated[:, heads:]], dim=2)
                c.values[i] = torch.cat([c.values[i], part[:, heads + kv:]], dim=2)
                out = torch.nn.functional.scaled_dot_product_attention(
                    rotated[:, :heads], c.keys[i], c.values[i], attn_mask=causal, scale=self.scaling,
                    enable_gqa=g > 1)
                outs.append(out[0].transpose(0, 1).reshape(n, -1))
            x = x + self.o[i](torch.cat(outs)[None] if len(outs) > 1 else outs[0][None])[0]
            h = self.norms[i][1](x)
            gate, up = self.gate_up[i](h)
            x = x + self.down[i](layer.mlp.act_fn(gate) * up)[0]
        last = x[0, :rows].view(b, q, x.shape[-1])[:, -keep:].reshape(b * keep, x.shape[-1])
        if chunks:                        # each chunk's last position: a first token if its prompt is done
            last = torch.cat([last, x[0, [start + n - 1 for start, n, _ in spans]]])
        logits = self.lm_head(self.final_norm(last)[None])[0][0].float()
        for j, c in enumerate(chunks):
            c.logits = logits[b * keep + j]
        return logits[:b * keep].view(b, keep, logits.shape[-1])


@dataclass
class PrefillChunk:
    """The next piece of a prompt whose prefill runs inside decode steps. `keys`/`values` hold, per
    layer, ``[1, kv_heads, start, head_dim]`` for the prompt's first `start` tokens; the step
    appends this piece's and sets `logits` (its last position's)."""
    ids: list[int]
    start: int
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    logits: torch.Tensor | None = None


_RMS_NORMS = {"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm"}  # all: weight * x / rms(x), in fp32


def _rms_norm(norm: nn.Module):
    """torch's one-op RMSNorm for transformers' own, whose forward is seven ops (27 -> 18 us a call,
    61 calls a step); anything else runs as it is."""
    if type(norm).__name__ not in _RMS_NORMS or not type(norm).__module__.startswith("transformers.models."):
        return norm
    weight, eps = norm.weight, norm.variance_epsilon
    return lambda x: torch.nn.functional.rms_norm(x, weight.shape, weight, eps)


class _Projection:
    """One decode-step matmul: a linear layer, or several that read the same input (q/k/v,
    gate/up) fused into one weight, with the output sizes to split it back.

    fp16 weights (kernels/half_linear.py, the server's default on AVX2) go through that kernel at
    every row count. With fp32 weights, several rows go through oneDNN's packed weights
    (kernels/packed_linear.py), and one row goes through
    the plain weight cut into one block of output rows per core, as one bmm: oneDNN and MKL run a
    one-row product on a single core (~12 GB/s of weights here), bmm gives each core its own block
    (~20 GB/s). Measured side by side on SmolLM2 (2-core AVX2, fp32): a one-row decode step
    ~46 -> ~38 ms (16%). At 2 and 4 rows the blocks' small gemms lose to oneDNN, so they stay there.
    """

    def __init__(self, linears: list[nn.Linear]):
        self.linears, self.sizes = linears, [m.out_features for m in linears]
        self.weight = self.bias = self.packed = self.half = None
        halves = [half_weight(m) for m in linears]
        if all(h is not None for h in halves):  # fp16 weights (kernels/half_linear.py): every row count
            self.half = halves[0] if len(halves) == 1 else _fuse(linears, halves)
            self.bias = _fused_bias(linears)
            self.parts = 0
            return
        plain = all(type(m) is nn.Linear and m.weight.dtype == torch.float32
                    and m.weight.device.type == "cpu" for m in linears)  # not int8, not bf16, not a GPU
        packed = plain and all("_packed_weight" in m.__dict__ for m in linears)
        if len(linears) == 1 and plain:
            self.weight, self.bias = linears[0].weight.detach(), linears[0].bias
        elif packed:
            self.weight = _fuse(linears, [m.weight.detach() for m in linears])
            self.bias = _fused_bias(linears)
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, None)
            for m in linears:  # their separate packed copies go: the model's footprint stays put
                del m._packed_weight
                del m.forward
        parts = torch.get_num_threads()
        self.parts = parts if self.weight is not None and parts > 1 and self.weight.shape[0] % parts == 0 else 0

    def __call__(self, h: torch.Tensor, split: bool = True):
        """The outputs of each linear (a list), or with split=False all of them as one tensor."""
        if self.half is not None:
            out = half_linear(h, self.half, self.bias)
        elif self.parts and h.numel() == h.shape[-1]:  # one row
            blocks = self.weight.view(self.parts, -1, h.shape[-1])
            # the row as a [in, 1] column with strides (1, in): MKL takes a (1, 1)-strided one
            # for a general matrix and runs ~8x slower
            column = h.reshape(1, 1, -1).expand(self.parts, -1, -1).transpose(1, 2)
            out = torch.bmm(blocks, column).view(*h.shape[:-1], -1)
            if self.bias is not None:
                out = out + self.bias
        elif self.packed is not None:
            rows = h.reshape(-1, h.shape[-1])
            out = torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")
            out = out.view(*h.shape[:-1], -1)
        else:
            outs = [m(h) for m in self.linears]
            return outs if split else torch.cat(outs, dim=-1)
        return list(out.split(self.sizes, dim=-1)) if split else out


def _fuse(linears: list[nn.Linear], weights: list[torch.Tensor]) -> torch.Tensor:
    """The weights as one [sum of outputs, in] matrix; the modules' own weights become views of it
    (prefill through the model's forward reads the same memory), so no copy stays behind."""
    fused = torch.cat(weights)
    start = 0
    for m, w in zip(linears, weights):
        view = fused[start:start + m.out_features]
        if "_half_weight" in m.__dict__:
            m._half_weight = view
        else:
            m.weight.data = view
        start += m.out_features
    return fused


def _fused_bias(linears: list[nn.Linear]) -> torch.Tensor | None:
    biases = [m.bias for m in linears]
    if all(b is None for b in biases):
        return None
    return torch.cat([b.detach() if b is not None else torch.zeros(m.out_features) for m, b in zip(linears, biases)])
