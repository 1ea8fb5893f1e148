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
