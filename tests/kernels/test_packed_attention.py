"""Per-conversation attention over packed rows against transformers' own block-diagonal masking."""
from __future__ import annotations

import copy

import pytest
import torch

from tooltune.kernels import packed_attention


def _tiny(kind: str):
    torch.manual_seed(0)
    if kind == "llama":  # grouped-query attention: 4 query heads over 2 key/value heads
        from transformers import LlamaConfig, LlamaForCausalLM
        return LlamaForCausalLM(LlamaConfig(vocab_size=200, hidden_size=64, intermediate_size=128,
                                            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                            attn_implementation="sdpa"))
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig  # sliding-window layers, window 6
    return Gemma3ForCausalLM(Gemma3TextConfig(vocab_size=200, hidden_size=64, intermediate_size=128,
                                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                              head_dim=16, sliding_window=6, layer_types=["sliding_attention", "full_attention"],
                                              attn_implementation="sdpa"))


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_same_logits_and_gradients_as_block_diagonal_sdpa(kind):
    stock = _tiny(kind)
    packed = copy.deepcopy(stock)
    assert packed_attention.enable(packed)
    # two rows: three conversations (5 + 9 + 2 tokens), and two (11 + 5). Without a cache (as in
    # training) transformers masks packed rows block-diagonally from the position ids.
    position_ids = torch.tensor([[*range(5), *range(9), *range(2)], [*range(11), *range(5)]])
    ids = torch.randint(0, 200, position_ids.shape, generator=torch.Generator().manual_seed(1))
    results = []
    for model in (stock, packed):
        logits = model(input_ids=ids, position_ids=position_ids, use_cache=False).logits
        logits.pow(2).mean().backward()
        grad = model.get_decoder().layers[0].self_attn.q_proj.weight.grad
        results.append((logits.detach(), grad.clone()))
    (a, ga), (b, gb) = results
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(ga, gb, atol=1e-6, rtol=1e-4)
    # and a conversation really is cut off from the one before it in its row
    alone = packed(input_ids=ids[:1, 5:14], use_cache=False).logits
    assert torch.allclose(alone, b[:1, 5:14], atol=1e-5)
