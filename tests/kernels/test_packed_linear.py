"""Linear layers on prepacked oneDNN weights: the same model, the same greedy replies."""
from __future__ import annotations

import pytest
import torch

from tooltune.kernels.packed_linear import can_pack, pack_linear_layers, packed_linear_layers, unpack_linear_layers

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")


@pytest.fixture(scope="module")
def smol(smollm2_path):
    from tooltune.model.loader import load_model, load_tokenizer
    model = load_model(str(smollm2_path), dtype="fp32")
    model.eval()
    return model, load_tokenizer(str(smollm2_path))


def _ids(tok, text: str) -> torch.Tensor:
    return tok(tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                       add_generation_prompt=True), return_tensors="pt")["input_ids"]


def test_packed_model_gives_the_same_logits_and_greedy_reply(smol):
    model, tok = smol
    ids = _ids(tok, "Name three rivers in Europe and say which is longest.")
    with torch.inference_mode():
        plain = model(ids).logits
        reply = model.generate(ids, max_new_tokens=24, do_sample=False)
    layers = sum(type(m) is torch.nn.Linear for m in model.modules())
    with packed_linear_layers(model) as packed:
        assert packed == layers == 211   # 30 layers x 7 projections + the LM head
        assert all("_packed_weight" in m.__dict__ for m in model.modules() if type(m) is torch.nn.Linear)
        with torch.inference_mode():
            fast = model(ids).logits
            fast_reply = model.generate(ids, max_new_tokens=24, do_sample=False)
        # the packed path really runs (a changed packed copy changes the output) ...
        head = model.get_output_embeddings()
        saved = head._packed_weight
        head._packed_weight = torch.ops.mkldnn._reorder_linear_weight(torch.zeros_like(head.weight), None)
        with torch.inference_mode():
            assert model(ids).logits.abs().max() == 0
        head._packed_weight = saved
    torch.testing.assert_close(fast, plain, atol=2e-4, rtol=1e-4)   # ... and only the summation order differs
    assert fast_reply.tolist() == reply.tolist()
    # unpacked again: plain forwards, no packed copies left
    assert not any("_packed_weight" in m.__dict__ or "forward" in m.__dict__ for m in model.modules())
    with torch.inference_mode():
        torch.testing.assert_close(model(ids).logits, plain, atol=0, rtol=0)


def test_gradients_flow_through_the_plain_path():
    """Packed weights have no backward: a forward that needs gradients takes F.linear."""
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8, requires_grad=True)
    layer(x).sum().backward()
    expected = (x.grad.clone(), layer.weight.grad.clone())
    x.grad, layer.weight.grad = None, None
    assert pack_linear_layers(layer) == 1
    layer(x).sum().backward()
    torch.testing.assert_close((x.grad, layer.weight.grad), expected)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias, atol=1e-5, rtol=1e-5)
    unpack_linear_layers(layer)
    assert "forward" not in layer.__dict__


def test_only_fp32_cpu_models_are_packed():
    bf16 = torch.nn.Sequential(torch.nn.Linear(8, 8)).to(torch.bfloat16)
    assert not can_pack(bf16) and pack_linear_layers(bf16) == 0
    assert "forward" not in bf16[0].__dict__
    assert can_pack(torch.nn.Sequential(torch.nn.Linear(8, 8)))
