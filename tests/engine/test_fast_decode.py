"""The lean decode forward against transformers' forward, step by step over the same KV cache."""
from __future__ import annotations

import copy

import pytest
import torch

from tooltune.engine.engine import _cache_keyword
from tooltune.engine.fast_decode import build_fast_decoder
from tooltune.engine.kv_cache import SlotCache
from tooltune.kernels.packed_linear import pack_linear_layers
from tooltune.engine.runtime import quantize_linear_layers

THREADS = torch.get_num_threads()


def _slot_cache(model, prompts) -> SlotCache:
    """A SlotCache holding each prompt's keys/values, prefilled by transformers one at a time."""
    from transformers import DynamicCache

    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    cache = SlotCache(cfg.num_hidden_layers, cfg.num_key_value_heads, head_dim, torch.float32, max_rows=8)
    for p in prompts:
        dyn = DynamicCache()
        model(input_ids=torch.tensor([p]), use_cache=True, **{_cache_keyword(model): dyn})
        cache.add([layer.keys for layer in dyn.layers], [layer.values for layer in dyn.layers])
    return cache


def _stock_step(model, ids, cache, keep):
    cache.prepare_step(ids.shape[1])
    out = model(input_ids=ids, position_ids=cache.positions(), attention_mask=cache.attention_mask(),
                use_cache=True, logits_to_keep=keep, **{_cache_keyword(model): cache})
    return out.logits.float()


def _fast_step(fast, ids, cache, keep):
    cache.prepare_step(ids.shape[1])
    return fast(ids, cache, keep=keep)


def _greedy_both_ways(stock_model, fast_model, prompts, steps=12) -> float:
    """Greedy decoding with transformers' forward and with the fast one, each over its own cache:
    asserts the same tokens every step; returns the largest logit difference (relative)."""
    fast = build_fast_decoder(fast_model)
    assert fast is not None
    stock_cache, fast_cache = _slot_cache(stock_model, prompts), _slot_cache(stock_model, prompts)
    ids = torch.tensor([[p[-1]] for p in prompts])
    worst = 0.0
    with torch.inference_mode():
        # First a step checking 3 tokens per row, as a speculative draft does; then plain steps.
        for q in [3] + [1] * steps:
            step = ids.repeat(1, q)
            a = _stock_step(stock_model, step, stock_cache, q)
            b = _fast_step(fast, step, fast_cache, q)
            worst = max(worst, ((a - b).abs().max() / a.abs().max()).item())
            assert torch.equal(a.argmax(-1), b.argmax(-1))
            stock_cache.advance(1)
            fast_cache.advance(1)
            ids = a[:, -1].argmax(-1, keepdim=True)
    return worst


@pytest.fixture(scope="module")
def smol_pair(smollm2_path):
    """SmolLM2 as transformers runs it, and a packed copy (what `tooltune api` serves)."""
    from tooltune.model.loader import load_model, load_tokenizer
    stock = load_model(str(smollm2_path), dtype="fp32").eval()
    packed = copy.deepcopy(stock)
    pack_linear_layers(packed)
    return stock, packed, load_tokenizer(str(smollm2_path))


def test_smollm2_fast_steps_match_transformers(smol_pair):
    stock, packed, tok = smol_pair
    prompts = [tok(t)["input_ids"] for t in ("The capital of France is", "def fibonacci(n):\n    ",
                                             "Three colors: red, green,")]
    worst = _greedy_both_ways(stock, packed, prompts)
    assert worst < 1e-4  # relative to the largest logit: summation order only


def test_smollm2_one_row_steps_match_transformers(smol_pair):
    """A lone request: its steps take the plain weights cut into one block per core (one bmm)."""
    stock, _, tok = smol_pair
    packed = copy.deepcopy(stock)
    pack_linear_layers(packed)
    torch.set_num_threads(2)  # the split needs at least two threads; restored below
    try:
        worst = _greedy_both_ways(stock, packed, [tok("Once upon a time")["input_ids"]])
    finally:
        torch.set_num_threads(THREADS)
    assert worst < 1e-4


def test_prompt_chunks_inside_decode_steps_match_transformers_prefill(smol_pair):
    """Chunked prefill: a prompt computed 15 tokens a step in the same forward as two decoding rows
    ends with transformers' prefill keys/values and last logits, and the rows' own logits are
    those of steps without the chunks."""
    from transformers import DynamicCache

    from tooltune.engine.fast_decode import PrefillChunk

    stock, packed, tok = smol_pair
    fast = build_fast_decoder(packed)
    rows = [tok(t)["input_ids"] for t in ("The capital of France is", "def fibonacci(n):\n    ")]
    prompt = tok("Three colors: red, green, and blue. Four seasons: spring, summer, autumn and "
                 "winter. Five senses: sight, hearing, smell, taste and")["input_ids"]
    assert len(prompt) > 30
    with torch.inference_mode():
        ref_cache = DynamicCache()
        ref = stock(input_ids=torch.tensor([prompt]), use_cache=True, **{_cache_keyword(stock): ref_cache})
        with_chunks, without = _slot_cache(stock, rows), _slot_cache(stock, rows)
        heads, dim, layers = fast.kv_heads, fast.head_dim, stock.config.num_hidden_layers
        keys = [torch.zeros(1, heads, 0, dim)] * layers
        values = list(keys)
        ids = torch.tensor([[p[-1]] for p in rows])
        done = 0
        while done < len(prompt):
            chunk = PrefillChunk(prompt[done:done + 15], done, keys, values)  # extends keys/values
            b = _fast_step(fast, ids, without, 1)
            with_chunks.prepare_step(1)
            a = fast(ids, with_chunks, keep=1, chunks=[chunk])
            assert torch.allclose(a, b, atol=1e-4 * b.abs().max().item())
            with_chunks.advance(1)
            without.advance(1)
            ids = b[:, -1].argmax(-1, keepdim=True)
            done += len(chunk.ids)
        for layer in range(layers):
            assert torch.allclose(keys[layer], ref_cache.layers[layer].keys, atol=1e-4)
            assert torch.allclose(values[layer], ref_cache.layers[layer].values, atol=1e-4)
        last = ref.logits[0, -1]
        assert ((chunk.logits - last).abs().max() / last.abs().max()).item() < 1e-4
        assert chunk.logits.argmax() == last.argmax()


def test_fused_projections_replace_the_separate_packed_ones(smol_pair):
    packed = copy.deepcopy(smol_pair[0])
    pack_linear_layers(packed)
    fast = build_fast_decoder(packed)
    layer = packed.get_decoder().layers[0]
    assert fast.qkv[0] is not None and fast.gate_up[0] is not None
    # prefill now runs q/k/v/gate/up on the plain weights (as fast at prefill sizes); o/down stay packed
    assert "_packed_weight" not in layer.self_attn.q_proj.__dict__
    assert "_packed_weight" in layer.self_attn.o_proj.__dict__
    # and the modules' plain weights are views of the fused one: no second copy
    assert layer.self_attn.k_proj.weight.data_ptr() == fast.qkv[0].weight[576:].data_ptr()
    assert layer.mlp.gate_proj.weight.data_ptr() == fast.gate_up[0].weight.data_ptr()


def test_qwen2_biases_and_unpacked_layers():
    """Qwen2's q/k/v carry biases; an unpacked model calls its modules as they are."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    stock = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():
        for layer in stock.model.layers:  # random init leaves biases at zero: make them count
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    prompts = [[5, 17, 42, 99, 7], [3, 1, 4, 1, 5, 9, 2, 6]]
    packed = copy.deepcopy(stock)
    pack_linear_layers(packed)
    assert _greedy_both_ways(stock, packed, prompts) < 1e-4
    assert _greedy_both_ways(stock, copy.deepcopy(stock), prompts) < 1e-4


def test_other_architectures_keep_transformers_forward():
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    gemma = Gemma3ForCausalLM(Gemma3TextConfig(vocab_size=300, hidden_size=64, intermediate_size=128,
                                               num_hidden_layers=2, num_attention_heads=4,
                                               num_key_value_heads=1, head_dim=16))
    assert build_fast_decoder(gemma) is None
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    assert build_fast_decoder(llama) is not None
    lora = get_peft_model(llama, LoraConfig(r=4, target_modules=["q_proj"]))
    assert build_fast_decoder(lora) is None


def _clone_cache(cache: SlotCache) -> SlotCache:
    twin = copy.copy(cache)
    twin.k, twin.v, twin.start = [t.clone() for t in cache.k], [t.clone() for t in cache.v], list(cache.start)
    return twin


def test_int8_decode_steps_follow_transformers(smollm2_path, monkeypatch):
    """Teacher-forced steps: the fast forward over the quantized modules gives transformers' logits
    for the same quantized model, step by step from the same cache (each fast step runs on a copy
    of transformers' cache). Activations are quantized per forward, so the ~1e-7 differences of
    summation order now and then move a value across an int8 rounding step, and that moves the
    logits by 10-30% (seen on AVX-512 CPUs with fbgemm: 1 step in 16). Starting each step from
    the same cache keeps such a flip from carrying over, so nearly every step must agree exactly;
    an attention scale off by 5% makes every step differ. Attention runs torch's path here
    (the C++ kernel's differences flip roundings too); fp32 tests cover it.
    Free-running greedy decoding can't be compared token for token, for the same reason."""
    from tooltune.model.loader import load_model, load_tokenizer
    from tooltune.engine import fast_decode

    monkeypatch.setattr(fast_decode, "usable", lambda *args: False)

    tok = load_tokenizer(str(smollm2_path))
    fp32 = load_model(str(smollm2_path), dtype="fp32").eval()
    int8 = quantize_linear_layers(copy.deepcopy(fp32), "int8", False)
    fast = build_fast_decoder(int8)
    assert fast is not None
    assert all(p.packed is None and p.parts == 0 for p in fast.qkv)  # the quantized modules run as they are
    prompts = [tok(t)["input_ids"] for t in ("The capital of France is", "Water boils at")]
    stock_cache = _slot_cache(int8, prompts)
    ids = torch.tensor([[p[-1]] for p in prompts])
    exact, steps = 0, 16
    with torch.inference_mode():
        for _ in range(steps):
            b = _fast_step(fast, ids, _clone_cache(stock_cache), 1)[:, -1]
            a = _stock_step(int8, ids, stock_cache, 1)[:, -1]
            exact += ((a - b).abs().max() / a.abs().max()).item() < 1e-4  # summation order only
            stock_cache.advance(1)
            ids = a.argmax(-1, keepdim=True)  # both follow transformers' tokens
        # and the quantized model is still the same language model, if a lossy one (the logits'
        # cosine similarity to fp32's is 0.6-0.9 on these prompts)
        for p in prompts:
            ref = fp32(input_ids=torch.tensor([p])).logits[0, -1]
            got = int8(input_ids=torch.tensor([p])).logits[0, -1]
            assert ref.argmax() in got.topk(3).indices
    assert exact >= steps - 3, f"{exact} of {steps} steps agree"
