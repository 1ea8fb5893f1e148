"""fp16 weights with fp32 math: the C++ kernel, the converted model, and the served replies."""
from __future__ import annotations

import copy

import pytest
import torch

from tooltune.errors import UserError
from tooltune.kernels import half_linear as hl
from tooltune.kernels import build as kernels
from tooltune.kernels.half_linear import half_linear, half_linear_layers, half_weight, halve_linear_layers, to_panels

pytestmark = pytest.mark.skipif(hl.unavailable_reason() is not None, reason=f"kernel: {hl.unavailable_reason()}")


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 7, 17, 70, 133])   # 6-row blocks, 60-row tiles, tails
@pytest.mark.parametrize("n_out", [16, 32, 48, 80])               # odd and even panel counts
def test_kernel_is_the_fp16_weights_product_and_batch_invariant(rows, n_out):
    gen = torch.Generator().manual_seed(rows * 100 + n_out)
    k = (3, 8, 17, 64, 100)[(rows + n_out) % 5]
    x = torch.randn(rows, k, generator=gen)
    w = (torch.randn(n_out, k, generator=gen) * 0.05).half()
    b = torch.randn(n_out, generator=gen)
    panels = to_panels(w)
    assert panels.shape == w.shape and not torch.equal(panels, w)   # same shape, the kernel's order
    for bias in (b, None):
        out = half_linear(x, panels, bias)
        ref = x.double() @ w.double().T + (bias.double() if bias is not None else 0)
        torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
        # every row alone, and inside any other batch, is the same bits
        for i in {0, rows // 2, rows - 1}:
            assert torch.equal(half_linear(x[i:i + 1], panels, bias), out[i:i + 1])
        assert torch.equal(half_linear(torch.cat([x, x[:3]]), panels, bias)[:rows], out)
    # row slices at multiples of 16 are whole panels: a fused weight's parts multiply alone
    if n_out > 16:
        torch.testing.assert_close(half_linear(x, panels[16:]), out[:, 16:], atol=0, rtol=0)  # out: no bias


@pytest.mark.skipif(hl.unavailable_reason() is None and not kernels.library().half_linear_has_avx512(),
                    reason="this CPU has no AVX-512")
@pytest.mark.parametrize("rows", [2, 11, 12, 13, 25, 61, 133])   # 12-row blocks, 60-row tiles, tails
def test_avx512_rows_are_the_avx2_bits(rows):
    """Several rows on AVX-512 (12-row blocks, two panels a task) sum each output in the AVX2
    path's order: the same bits, so a reply does not change with the CPU's vector width."""
    gen = torch.Generator().manual_seed(rows)
    x, w, b = torch.randn(rows, 100, generator=gen), (torch.randn(48, 100, generator=gen) * 0.05).half(), torch.randn(48)
    panels = to_panels(w)
    wide = half_linear(x, panels, b)
    lib = kernels.library()
    was = lib.half_linear_use_avx512(0)
    try:
        narrow = half_linear(x, panels, b)
    finally:
        lib.half_linear_use_avx512(was)
    assert was == 1 and torch.equal(wide, narrow)


def test_kernel_rejects_inputs_it_cannot_read():
    w = to_panels(torch.zeros(16, 8))
    with pytest.raises(ValueError, match="fp32"):
        half_linear(torch.zeros(2, 8, dtype=torch.float16), w)
    with pytest.raises(ValueError, match="8"):
        half_linear(torch.zeros(2, 4), w)
    with pytest.raises(ValueError, match="to_panels"):
        half_linear(torch.zeros(2, 8), torch.zeros(12, 8, dtype=torch.float16))
    assert half_linear(torch.zeros(0, 8), w).shape == (0, 16)
    assert half_linear(torch.ones(2, 3, 8), w).shape == (2, 3, 16)   # leading dims kept


def test_kernel_builds_once_into_tooltune_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLTUNE_HOME", str(tmp_path))
    kernels._build.cache_clear()
    try:
        assert hl.unavailable_reason() is None
        built = list((tmp_path / "kernels").iterdir())
        assert len(built) == 1 and built[0].name.startswith("kernels-") and built[0].suffix == ".so"
        stamp = built[0].stat().st_mtime_ns
        kernels._build.cache_clear()
        assert hl.unavailable_reason() is None
        assert [p.stat().st_mtime_ns for p in (tmp_path / "kernels").iterdir()] == [stamp]  # reused
        # no compiler: a reason, not a crash
        kernels._build.cache_clear()
        monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
        monkeypatch.setenv("TOOLTUNE_HOME", str(tmp_path / "empty"))
        assert "compiler" in hl.unavailable_reason()
    finally:
        kernels._build.cache_clear()


@pytest.fixture(scope="module")
def smol(smollm2_path):
    from tooltune.model.loader import load_model, load_tokenizer
    return load_model(str(smollm2_path), dtype="fp32").eval(), load_tokenizer(str(smollm2_path))


def _ids(tok, text: str) -> torch.Tensor:
    return tok(tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                       add_generation_prompt=True), return_tensors="pt")["input_ids"]


def test_converted_model_keeps_its_greedy_reply(smol):
    stock, tok = smol
    model = copy.deepcopy(stock)
    ids = _ids(tok, "Name three rivers in Europe and say which is longest.")
    with torch.inference_mode():
        plain = model(ids).logits
        reply = model.generate(ids, max_new_tokens=24, do_sample=False)
    assert halve_linear_layers(model) == 211          # 30 layers x 7 projections + the LM head
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.weight is embed.weight and head.weight.dtype == torch.float32   # tied: the embedding reads it
    assert half_weight(head).dtype == torch.float16
    assert model.model.layers[0].mlp.down_proj.weight.dtype == torch.float16    # the fp32 copy is gone
    with torch.inference_mode():
        halved = model(ids).logits
        halved_reply = model.generate(ids, max_new_tokens=24, do_sample=False)
        # the kernel really runs: zeroed fp16 head weights zero the logits
        saved = head._half_weight
        head._half_weight = torch.zeros_like(saved)
        assert model(ids).logits.abs().max() == 0
        head._half_weight = saved
    worst = ((halved - plain).abs().max() / plain.abs().max()).item()
    assert 0 < worst < 2e-3                            # fp16 weights: close, not equal
    assert halved_reply.tolist() == reply.tolist()


def test_context_manager_leaves_the_fp32_model_as_it_was(smol):
    model, tok = smol
    ids = _ids(tok, "Hello")
    weights = {n: p.clone() for n, p in model.named_parameters()}
    with torch.inference_mode():
        plain = model(ids).logits
    with half_linear_layers(model) as changed, torch.inference_mode():
        assert changed == 211
        assert not torch.equal(model(ids).logits, plain)
    assert not any("_half_weight" in m.__dict__ or "forward" in m.__dict__ for m in model.modules())
    assert all(torch.equal(p, weights[n]) and p.dtype == torch.float32 for n, p in model.named_parameters())
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, plain)


def test_served_replies_do_not_depend_on_batching(smollm2_path):
    """fp16 weights through the engine (fused projections, chunked prefill, a thread of its own):
    each reply alone is the same as inside a batch of four, and the fp32 weights are gone. The path
    is asked for by name: `dtype auto` takes whichever path is fastest on this CPU."""
    from tooltune.engine.runtime import load_served_model
    from tooltune.engine.types import SamplingParams

    served = load_served_model(str(smollm2_path), cpu_weights="fp16", speculative=False)
    engine, tok = served.engine, served.tokenizer
    assert engine.fast is not None and engine.fast.gate_up[0].half is not None
    assert engine.fast.qkv[0].half.shape == (576 + 2 * 192, 576)
    layer = served.engine.model.model.layers[0]
    assert layer.self_attn.k_proj.weight.data_ptr() == engine.fast.qkv[0].half[576:].data_ptr()  # views, no copy
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
               for q in ("Tell me a joke about cats.", "What is the capital of France?",
                         "Write a haiku about autumn.", "List three uses of copper.")]
    prompts = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    params = SamplingParams(max_tokens=24, temperature=0)
    try:
        alone = [engine.generate_all([p], params)[0] for p in prompts]    # in this thread
        assert engine._thread is None
        engine.start()
        together = engine.generate_all(prompts, params)                   # in the engine's thread
    finally:
        engine.shutdown()
    assert all(alone) and together == alone


def test_cpu_weights_setting(smollm2_path, monkeypatch):
    """An fp32 model asked for (dtype fp32): fp16 weights where the kernel builds, fp32 otherwise
    (saying why), as asked with cpu_weights; engine/weights.py holds the dtype-auto choice."""
    from tooltune.model.loader import load_model, load_tokenizer
    from tooltune.engine.weights import place_weights

    tok = load_tokenizer(str(smollm2_path))
    model = load_model(str(smollm2_path), dtype="fp32")
    _, choice = place_weights(model, tok, "fp32", "fp32")
    assert choice.weights == "fp32" and half_weight(model.lm_head) is None
    kernels._build.cache_clear()
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    try:
        fallback = load_model(str(smollm2_path), dtype="fp32")
        _, choice = place_weights(fallback, tok, "fp32")                  # falls back, and says why
        assert choice.weights == "fp32" and half_weight(fallback.lm_head) is None
        assert "no C++ compiler" in choice.describe()
        with pytest.raises(UserError, match="cpu_weights fp16: not on this machine .no C\\+\\+ compiler"):
            place_weights(fallback, tok, "fp32", "fp16")
    finally:
        kernels._build.cache_clear()
    monkeypatch.undo()
    model = load_model(str(smollm2_path), dtype="fp32")
    _, choice = place_weights(model, tok, "fp32")
    assert choice.weights == "fp16" and half_weight(model.lm_head) is not None
