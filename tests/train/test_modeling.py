"""head_cross_entropy: chunked, gradients computed on the way, equal to F.cross_entropy."""
import pytest
import torch
import torch.nn.functional as F

from tooltune.train.modeling import head_cross_entropy


def reference(h, w, y, cap):
    z = (h @ w.t()).float()
    if cap:
        z = torch.tanh(z / cap) * cap
    return F.cross_entropy(z, y, reduction="sum")


@pytest.mark.parametrize("cap", [None, 30.0])
@pytest.mark.parametrize("train_weight", [False, True])
def test_values_and_gradients_match_cross_entropy(cap, train_weight):
    g = torch.Generator().manual_seed(0)
    # 600 rows x a 100,000-word vocabulary: two chunks (335 rows, then 265)
    h = torch.randn(600, 32, generator=g, requires_grad=True)
    w = (torch.randn(100_000, 32, generator=g) * 0.5).requires_grad_(train_weight)
    y = torch.randint(0, 100_000, (600,), generator=g)
    loss = head_cross_entropy(h, w, y, cap)
    (loss * 0.5).backward()
    got_h, got_w = h.grad.clone(), (w.grad.clone() if train_weight else None)
    h.grad = None
    w.grad = None
    ref = reference(h, w, y, cap)
    (ref * 0.5).backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(got_h, h.grad, rtol=1e-4, atol=2e-5)
    if train_weight:
        torch.testing.assert_close(got_w, w.grad, rtol=1e-4, atol=2e-5)


def test_no_grad_path_gives_the_same_loss():
    g = torch.Generator().manual_seed(1)
    h, w = torch.randn(50, 16, generator=g), torch.randn(1000, 16, generator=g)
    y = torch.randint(0, 1000, (50,), generator=g)
    with torch.no_grad():
        assert head_cross_entropy(h, w, y).item() == pytest.approx(reference(h, w, y, None).item(), rel=1e-5)


def test_no_trained_token_gives_zero_loss_and_gradient():
    h = torch.zeros(0, 16, requires_grad=True)
    loss = head_cross_entropy(h, torch.randn(1000, 16), torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0 and h.grad.shape == (0, 16)


@pytest.mark.parametrize("cap", [None, 30.0])
def test_token_weights_weigh_each_term_and_its_gradient(cap):
    g = torch.Generator().manual_seed(2)
    h = torch.randn(600, 32, generator=g, requires_grad=True)     # two chunks, as above
    w = torch.randn(100_000, 32, generator=g) * 0.5
    y = torch.randint(0, 100_000, (600,), generator=g)
    tw = torch.where(torch.arange(600) % 7 == 0, 3.0, 1.0)
    loss = head_cross_entropy(h, w, y, cap, tw)
    loss.backward()
    got = h.grad.clone()
    h.grad = None
    z = (h @ w.t()).float()
    z = torch.tanh(z / cap) * cap if cap else z
    ref = (F.cross_entropy(z, y, reduction="none") * tw).sum()
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5) and loss.item() > reference(h, w, y, cap).item()
    torch.testing.assert_close(got, h.grad, rtol=1e-4, atol=2e-5)


def test_decision_weight_counts_the_deciding_tokens(smollm2_path):
    """The deciding tokens (batching's `decisions`) weigh decision_weight in training; evaluation
    stays plain cross-entropy."""
    from tooltune.model.loader import load_model
    from tooltune.train.modeling import TrainedTokensLoss

    module = TrainedTokensLoss(load_model(str(smollm2_path), dtype="fp32"), decision_weight=4.0)
    ids = torch.tensor([[1, 20, 30, 40, 50, 60, 70, 80]])
    labels = torch.tensor([[-100, 30, 40, -100, -100, 70, 80, -100]])   # two spans: 30 and 70 open them
    decisions = labels == torch.tensor([[0, 30, 0, 0, 0, 70, 0, 0]])
    pos = torch.arange(8)[None]
    with torch.no_grad():
        plain, n = module.eval()(ids, pos, labels, decisions)
        weighted, n2 = module.train()(ids, pos, labels, decisions)
        lm = module.causal_lm()
        logits = lm(input_ids=ids, position_ids=pos).logits[0].float()
        keep = labels[0] != -100
        terms = F.cross_entropy(logits[keep], labels[0][keep], reduction="none")
    assert n == n2 == 4
    assert plain.item() == pytest.approx(terms.mean().item(), rel=1e-4)
    assert weighted.item() == pytest.approx((terms * torch.tensor([4.0, 1.0, 4.0, 1.0])).sum().item() / 4, rel=1e-4)
