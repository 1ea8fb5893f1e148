"""The one-step LoRA kernel against peft's own forward: same outputs, same gradients."""
from __future__ import annotations

import copy

import pytest
import torch

from tooltune.kernels.lora_linear import _plain_lora, use_lora_kernel


def _tiny(kind: str, **lora):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    shape = dict(vocab_size=120, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2)
    base = LlamaForCausalLM(LlamaConfig(**shape)) if kind == "llama" else Qwen2ForCausalLM(Qwen2Config(**shape))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=16, target_modules="all-linear", **lora))
    with torch.no_grad():  # peft starts lora_B at zero, which would hide half the math
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return model


def _loss_and_grads(model, ids):
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", ["llama", "qwen2"])  # qwen2: frozen q/k/v biases
def test_same_loss_and_gradients_as_peft(kind):
    reference = _tiny(kind)
    fused = copy.deepcopy(reference)
    assert use_lora_kernel(fused) == 2 * 7  # every linear layer but the head
    ids = torch.randint(0, 120, (2, 12), generator=torch.Generator().manual_seed(3))
    loss_a, grads_a = _loss_and_grads(reference, ids)
    loss_b, grads_b = _loss_and_grads(fused, ids)
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == 2 * 7 * 2
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-4), name


def test_what_the_kernel_leaves_to_peft():
    ids = torch.randint(0, 120, (1, 6))
    x = torch.randn(1, 6, 32)
    layer = _tiny("llama").base_model.model.model.layers[0].self_attn.q_proj
    assert _plain_lora(layer, x) is not None
    with torch.no_grad():
        assert _plain_lora(layer, x) is None  # inference: peft's path
    dropout = _tiny("llama", lora_dropout=0.1).base_model.model.model.layers[0].self_attn.q_proj
    assert _plain_lora(dropout, x) is None
    dora = _tiny("llama", use_dora=True).base_model.model.model.layers[0].self_attn.q_proj
    assert _plain_lora(dora, x) is None
    model = _tiny("llama", lora_dropout=0.1)
    use_lora_kernel(model)
    model(input_ids=ids).logits.sum().backward()  # falls back and still trains


@pytest.mark.parametrize("rows,n_in,n_out", [(601, 32, 48),    # weight folded in, both ways; an odd row left over
                                             (600, 256, 48),   # forward adds the term, backward folds
                                             (100, 32, 300)])  # neither; a reduction too short to split
def test_both_ways_of_adding_the_low_rank_term_give_the_reference_gradients(rows, n_in, n_out):
    from tooltune.kernels.lora_linear import _LoraLinear, _merge_pays

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the row-split reductions run on 2+ threads
    try:
        g = torch.Generator().manual_seed(1)
        x = torch.randn(rows, n_in, generator=g, dtype=torch.float64, requires_grad=True)
        w, bias = torch.randn(n_out, n_in, generator=g, dtype=torch.float64), torch.randn(n_out, dtype=torch.float64)
        a = torch.randn(8, n_in, generator=g, dtype=torch.float64, requires_grad=True)
        b = torch.randn(n_out, 8, generator=g, dtype=torch.float64, requires_grad=True)
        grad = torch.randn(rows, n_out, generator=g, dtype=torch.float64)
        ref = x @ w.t() + bias + 0.5 * (x @ a.t()) @ b.t()
        expected = torch.autograd.grad(ref, (x, a, b), grad)
        out = _LoraLinear.apply(x, w, bias, a, b, 0.5)
        got = torch.autograd.grad(out, (x, a, b), grad)
        assert torch.allclose(out, ref)
        for e, r in zip(expected, got):
            assert torch.allclose(e, r), (e - r).abs().max()
    finally:
        torch.set_num_threads(threads)
    assert _merge_pays(601, 32) and not _merge_pays(600, 256) and not _merge_pays(100, 300)
