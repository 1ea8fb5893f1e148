"""Packing and collation: nothing lost, nothing trained across a conversation boundary."""
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltune.templates.render import Encoded
from tooltune.train.batching import collate, make_batches, pack

samples = st.lists(st.integers(2, 40).flatmap(
    lambda n: st.tuples(st.lists(st.integers(3, 99), min_size=n, max_size=n),
                        st.lists(st.booleans(), min_size=n, max_size=n))), min_size=1, max_size=30)


@settings(max_examples=80, deadline=None)
@given(samples=samples, max_len=st.integers(40, 120))
def test_pack_keeps_every_sample_whole(samples, max_len):
    enc = [Encoded(ids, mask) for ids, mask in samples]
    rows = pack(enc, max_len)
    assert all(len(r) <= max_len for r in rows)
    # Split rows back at position restarts: the very same samples come out.
    got = []
    for r in rows:
        starts = [i for i, p in enumerate(r.positions) if p == 0] + [len(r)]
        got += [(tuple(r.ids[a:b]), tuple(r.mask[a:b])) for a, b in zip(starts, starts[1:])]
    assert sorted(got) == sorted((tuple(i), tuple(m)) for i, m in samples)


def test_labels_never_cross_a_boundary():
    a, b = Encoded([5, 6, 7], [False, True, True]), Encoded([8, 9], [True, True])
    rows = pack([a, b], 10)
    batch = collate(rows, pad_id=0)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    # position 2 (token 7) would predict token 8, the next conversation's first token: not trained
    assert batch["labels"].tolist() == [[6, 7, -100, 9, -100]]
    assert int(batch["n_tokens"]) == 5


def test_decisions_follow_their_labels():
    """A label's decision flag is its token's, shifted with it; never across a boundary."""
    a = Encoded([5, 6, 7], [False, True, True], [False, True, False])
    b = Encoded([8, 9], [True, True], [True, False])
    batch = collate(pack([a, b], 10), pad_id=0)
    assert batch["labels"].tolist() == [[6, 7, -100, 9, -100]]
    assert batch["decisions"].tolist() == [[True, False, False, False, False]]   # 8 opens b: no label


def test_padding_is_its_own_untrained_sequence():
    rows = pack([Encoded([1, 2, 3, 4], [False] + [True] * 3), Encoded([5, 6], [False, True])], 4)
    batch = collate(rows, pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [5, 6, 0, 0]]
    assert batch["position_ids"][1].tolist() == [0, 1, 0, 1]
    assert batch["labels"][1].tolist() == [6, -100, -100, -100]


def test_batch_order_is_deterministic_per_seed_and_epoch():
    rows = pack([Encoded([1] * n, [True] * n) for n in range(2, 60)], 64)
    assert make_batches(rows, 4, 1, 0) == make_batches(rows, 4, 1, 0)
    assert make_batches(rows, 4, 1, 0) != make_batches(rows, 4, 1, 1)
    assert sorted(i for b in make_batches(rows, 4, 1, 0) for i in b) == list(range(len(rows)))


def test_token_chunks_bound_the_tokens_per_forward():
    from tooltune.train.batching import token_chunks
    rows = pack([Encoded([1] * n, [True] * n) for n in (30, 30, 50, 10, 64)], 64)
    chunks = token_chunks(rows, 64)
    assert [r for c in chunks for r in c] == rows
    assert all(sum(len(r) for r in c) <= 64 for c in chunks)
    assert token_chunks(rows, 10_000) == [rows]
