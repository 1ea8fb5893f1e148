"""The batching engine against transformers' own generate, on the real SmolLM2."""
from __future__ import annotations

import random
import threading
import time

import pytest
import torch

from tooltune.engine.engine import Engine
from tooltune.engine.kv_cache import SlotCache
from tooltune.engine.types import EngineFull, SamplingParams

QUESTIONS = ["What's the weather in Paris?", "Tell me a joke about cats.", "What is 2+2?",
             "Write a haiku about rain.", "Who are you?", "Name three colors."]


@pytest.fixture(scope="module")
def smol(smollm2_path):
    from tooltune.model.loader import load_model, load_tokenizer
    model = load_model(str(smollm2_path), dtype="fp32")
    model.eval()
    return model, load_tokenizer(str(smollm2_path), padding_side="left")


@pytest.fixture(scope="module")
def prompts(smol):
    from tooltune.templates import get_template
    from tooltune.templates.render import render_prompt
    _, tok = smol
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    return [tok(render_prompt(tok, get_template("chatml"), [{"role": "user", "content": q}],
                              tools if i % 2 == 0 else None), add_special_tokens=False)["input_ids"]
            for i, q in enumerate(QUESTIONS)]


@pytest.fixture
def engine(smol):
    """A started engine with default settings, shut down after the test."""
    model, tok = smol
    started = Engine(model, tok, stop_token_ids=_stops(tok)).start()
    yield started
    started.shutdown()


def _stops(tok):
    return [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]


def _generate_greedy(model, tok, prompts, max_new_tokens):
    """Each prompt's greedy reply from transformers' own generate, one at a time."""
    stops, replies = _stops(tok), []
    for p in prompts:
        out = model.generate(torch.tensor([p]), max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                             pad_token_id=tok.pad_token_id)[0, len(p):].tolist()
        replies.append(tok.decode([t for t in out if t not in stops]))
    return replies


def _text(handle):
    outs = list(handle)
    return "".join(o.text for o in outs), outs[-1]


def test_batched_greedy_equals_generate_one_by_one(smol, prompts):
    model, tok = smol
    stops = _stops(tok)
    expected = _generate_greedy(model, tok, prompts, 24)
    engine = Engine(model, tok, stop_token_ids=stops).start()
    try:
        handles = [engine.submit(p, SamplingParams(max_tokens=24, temperature=0)) for p in prompts]
        got = [_text(h) for h in handles]
        assert [g[0] for g in got] == expected
        for (text, last), p in zip(got, prompts):
            assert last.finish_reason in ("stop", "length")
            assert last.prompt_tokens == len(p) and 0 < last.completion_tokens <= 24
        # Second round: the long (tool) prompts now come from the prefix cache, answers unchanged.
        hits = engine.stats().prefix_cache_hits
        again = [_text(engine.submit(p, SamplingParams(max_tokens=24, temperature=0)))[0] for p in prompts]
        assert again == expected
        assert engine.stats().prefix_cache_hits >= hits + len(prompts) // 2
    finally:
        engine.shutdown()


def test_prompts_prefilled_together_answer_as_alone(smol, prompts):
    """Queued requests are prefilled in one padded forward (with and without cached prefixes):
    the path of models without the lean forward, here forced with chunk_tokens=0."""
    model, tok = smol
    params = SamplingParams(max_tokens=12, temperature=0)
    alone = []
    for p in prompts:
        engine = Engine(model, tok, stop_token_ids=_stops(tok), prefix_cache_tokens=0, chunk_tokens=0)
        alone.append(engine.generate_all([p], params)[0])
        engine.shutdown()
    engine = Engine(model, tok, stop_token_ids=_stops(tok), chunk_tokens=0)
    engine._thread = threading.current_thread()  # driven by hand below: every prompt waits first
    sizes = []
    take_group = engine._take_group
    engine._take_group = lambda *a: sizes.append(len(g := take_group(*a))) or g
    for round_ in range(2):  # the second round starts from cached prefixes
        handles = [engine.submit(p, params) for p in prompts]
        with torch.inference_mode():
            while engine._waiting or engine._running:
                engine._admit()
                if engine._running:
                    engine._decode_step()
        assert ["".join(o.text for o in h) for h in handles] == alone, f"round {round_}"
    assert max(sizes) > 1 and engine.stats().prefix_cache_hits >= 3


def test_prompts_joining_mid_stream_are_prefilled_in_chunks(smol, prompts):
    """Requests arriving while another decodes are prefilled inside its decode steps, 16 prompt
    tokens a step (chunked prefill): every answer is still transformers' greedy one."""
    model, tok = smol
    stops = _stops(tok)
    expected = _generate_greedy(model, tok, prompts, 16)
    engine = Engine(model, tok, stop_token_ids=stops, chunk_tokens=16, prefix_cache_tokens=0)
    steps = []  # (decoding rows, prompt pieces) of each step
    next_chunks = engine._next_chunks
    engine._next_chunks = lambda: steps.append((len(engine._running), len(c := next_chunks()))) or c
    engine.start()
    try:
        params = SamplingParams(max_tokens=16, temperature=0)
        first = engine.submit(prompts[0], params)
        stream = iter(first)
        head = next(stream)  # it decodes now: the others join its steps
        rest = [engine.submit(p, params) for p in prompts[1:]]
        got = [head.text + "".join(o.text for o in stream)] + [_text(h)[0] for h in rest]
        assert got == expected
    finally:
        engine.shutdown()
    assert engine.timing["chunked_prefill_tokens"] == sum(len(p) for p in prompts)
    assert engine.timing["prefill_tokens"] == 0
    assert any(rows and pieces for rows, pieces in steps)           # prompts shared steps with rows
    assert sum(pieces for _, pieces in steps) > len(prompts)        # and long ones took several


def test_seeded_sampling_same_alone_or_batched(engine, prompts):
    params = SamplingParams(max_tokens=20, temperature=0.9, top_p=0.95, seed=1234)
    alone = _text(engine.submit(prompts[1], params))[0]
    others = [engine.submit(p, SamplingParams(max_tokens=20, temperature=1.0, seed=i))
              for i, p in enumerate(prompts)]
    batched = _text(engine.submit(prompts[1], params))[0]
    for h in others:
        list(h)
    assert alone == batched and alone
    different = _text(engine.submit(prompts[1], SamplingParams(max_tokens=20, temperature=0.9, seed=99)))[0]
    assert different != alone


def test_stop_strings_length_and_cancel(engine, prompts):
    full, _ = _text(engine.submit(prompts[3], SamplingParams(max_tokens=30, temperature=0)))
    word = full.split()[2]
    cut, last = _text(engine.submit(prompts[3], SamplingParams(max_tokens=30, temperature=0, stop=(word,))))
    assert last.finish_reason == "stop" and word not in cut and full.startswith(cut)
    _, last = _text(engine.submit(prompts[3], SamplingParams(max_tokens=3, temperature=0)))
    assert last.finish_reason == "length" and last.completion_tokens == 3

    # the template's stop words that are not one token end every reply the same way
    model, tok = engine.model, engine.tokenizer
    worded = Engine(model, tok, stop_token_ids=sorted(engine.stop_token_ids), stop_strings=(word,), max_batch=2)
    assert worded.generate_all([prompts[3]], SamplingParams(max_tokens=30, temperature=0), with_reasons=True) == \
        [(cut, "stop")]

    handle = engine.submit(prompts[0], SamplingParams(max_tokens=500, temperature=0))
    first = next(iter(handle))
    assert first.finish_reason is None
    handle.cancel()
    deadline = time.time() + 10
    while engine.stats().running and time.time() < deadline:
        time.sleep(0.05)
    assert engine.stats().running == 0


def test_a_request_cancelled_mid_prefill_frees_its_place(smol, prompts):
    """A client that hangs up while its prompt is still being computed, chunk by chunk, is gone
    before the next step, and the engine goes on with the others. Driven by `step()`, one at a time."""
    model, tok = smol
    engine = Engine(model, tok, stop_token_ids=_stops(tok), chunk_tokens=16, prefix_cache_tokens=0)
    params = SamplingParams(max_tokens=4, temperature=0)
    leaving = engine.submit(prompts[0], params, start=False)
    staying = engine.submit(prompts[1], params, start=False)
    with torch.inference_mode():
        assert engine.step()
        assert engine.stats().running == 2 and engine.stats().extra["chunked_prefill_tokens"] == 16
        leaving.cancel()
        assert engine.step() and engine.stats().running == 1  # the next step has it gone
        steps = 2
        while engine.step():
            steps += 1
    assert "".join(o.text for o in staying) == _generate_greedy(model, tok, prompts[1:2], 4)[0]
    assert engine.stats().running == 0 and not engine.step()
    assert steps > len(prompts[1]) // 16  # the prompt took a chunk a step


def test_an_engine_answers_again_after_shutdown(engine, prompts):
    params = SamplingParams(max_tokens=8, temperature=0)
    before, _ = _text(engine.submit(prompts[2], params))
    engine.shutdown()
    after, last = _text(engine.submit(prompts[2], params))  # submit starts it again
    assert after == before and last.finish_reason in ("stop", "length")


def test_a_failing_request_fails_alone(engine, prompts):
    good = engine.submit(prompts[2], SamplingParams(max_tokens=8, temperature=0))
    bad = engine.submit([10**7, 5, 6], SamplingParams(max_tokens=8, temperature=0))  # no such token
    assert _text(bad)[1].finish_reason == "abort"
    assert _text(good)[1].finish_reason in ("stop", "length")
    assert _text(engine.submit(prompts[2], SamplingParams(max_tokens=4, temperature=0)))[0]


def test_a_prompt_that_is_not_token_ids_is_refused_at_submit(engine, prompts, smol):
    _, tok = smol
    encoded = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    for bad in (encoded, "hello", [[1, 2], [3]]):  # a dict of ids and mask, a string, a batch
        with pytest.raises(TypeError, match="prompt_ids"):
            engine.submit(bad, SamplingParams(max_tokens=4, temperature=0))
    assert _text(engine.submit(prompts[2], SamplingParams(max_tokens=4, temperature=0)))[0]


def test_full_queue_raises(smol, prompts):
    model, tok = smol
    engine = Engine(model, tok, stop_token_ids=_stops(tok), max_batch=1, max_waiting=1)
    # Not started: nothing leaves the queue, so the second request finds it full.
    engine._thread = threading.current_thread()
    engine.submit(prompts[0], SamplingParams(max_tokens=4))
    with pytest.raises(EngineFull) as err:
        engine.submit(prompts[1], SamplingParams(max_tokens=4))
    assert err.value.retry_after >= 1


def test_slot_cache_rows_survive_joins_leaves_and_relayouts():
    rng = random.Random(0)
    cache = SlotCache(n_layers=2, n_kv_heads=1, head_dim=2, dtype=torch.float32, max_rows=6)
    # New buffers hold garbage (torch.empty); NaN garbage shows any padding that attention would
    # read without it having been zeroed.
    cache._new_buffer = lambda rows, cols: torch.full((rows, 1, cols, 2), float("nan"))
    layouts = []   # (same buffers?) per relayout: most slide the window inside the buffers
    relayout = cache._relayout
    cache._relayout = lambda *a, **kw: (layouts.append(a[:2] == (cache.rows_cap, cache.cols_cap)), relayout(*a, **kw))
    reference: list[list[float]] = []  # per row: the values written, in order
    counter = 0.0
    for _ in range(1000):
        op = rng.random()
        if op < 0.15 and cache.batch < 6:
            length = rng.randint(1, 250)
            vals = [counter + i for i in range(length)]
            counter += length
            t = torch.tensor(vals).view(1, 1, length, 1).expand(1, 1, length, 2).contiguous()
            cache.add([t, t * 2], [t * 3, t * 4])
            reference.append(vals)
        elif op < 0.3 and cache.batch:
            row = rng.randrange(cache.batch)
            cache.remove(row)
            last = reference.pop()
            if row < len(reference):
                reference[row] = last
        elif cache.batch:
            b = cache.batch
            q = rng.choice([1, 3]) if b == 1 else 1   # a lone row may check drafts: q tokens, keep some
            cache.prepare_step(q)
            mask = cache.attention_mask()
            assert mask.shape == (b, 1, q, cache.hi + q - cache.lo)
            assert [int(m.sum()) for m in mask[0, 0]] == [len(reference[0]) + j + 1 for j in range(q)]
            new = torch.arange(counter, counter + b * q).view(b, 1, q, 1).expand(b, 1, q, 2).contiguous()
            for layer in range(2):
                cache.update(new * (layer + 1), new * (layer + 3), layer)
            keep = rng.randint(1, q)
            cache.advance(keep)
            for r in range(b):
                reference[r].extend(counter + r * q + j for j in range(keep))
            counter += b * q
        for r, vals in enumerate(reference):
            keys, values = cache.row_kv(r)
            assert keys[0][0, 0, :, 0].tolist() == vals
            assert values[1][0, 0, :, 1].tolist() == [4 * v for v in vals]
        if cache.batch:
            for buf in (*cache.k, *cache.v):   # everything attention reads is finite
                assert torch.isfinite(buf[:cache.batch, :, cache.lo:cache.hi]).all()
            mask = cache.attention_mask()
            assert mask.shape == (cache.batch, 1, 1, cache.hi + 1 - cache.lo)
            assert [int(m.sum()) - 1 for m in mask[:, 0, 0]] == [len(v) for v in reference]
    assert sum(layouts) >= 5 and len(layouts) - sum(layouts) >= 2, layouts


def test_prompt_lookup_drafts_give_exactly_the_greedy_tokens(smol, prompts):
    model, tok = smol
    echo = tok(tok.apply_chat_template([{"role": "user", "content": (
        "Copy this sentence exactly, twice: the quick brown fox jumps over the lazy dog near the river bank.")}],
        tokenize=False, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
    answers = {}
    for speculative in (False, True):
        engine = Engine(model, tok, stop_token_ids=_stops(tok), speculative=speculative).start()
        try:  # one request at a time: drafts are checked only for a lone greedy request
            answers[speculative] = [_text(engine.submit(p, SamplingParams(max_tokens=40, temperature=0)))[0]
                                    for p in [echo, *prompts]]
            timing = engine.stats().extra
        finally:
            engine.shutdown()
    assert answers[True] == answers[False]
    assert timing["draft_accepted"] >= 10 and timing["decode_steps"] < sum(
        len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers[True])


def _random_adapter(base_path, folder, seed: int):
    from peft import LoraConfig, get_peft_model

    from tooltune.model.loader import load_model
    torch.manual_seed(seed)
    model = get_peft_model(load_model(str(base_path), dtype="fp32"), LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    model.save_pretrained(folder)
    return model.eval()


def test_several_lora_adapters_in_one_batch(smollm2_path, prompts, tmp_path):
    """Each request names its adapter; mixed in one batch, each row gets exactly its own model."""
    from tooltune.model.loader import load_tokenizer
    from tooltune.engine.runtime import load_served_model
    from tooltune.templates import get_template

    singles = {}
    for name, seed in (("a", 1), ("b", 2)):
        model = _random_adapter(smollm2_path, tmp_path / name, seed)
        tok = load_tokenizer(str(smollm2_path))
        engine = Engine(model, tok, stop_token_ids=_stops(tok))
        singles[name] = engine.generate_all(prompts[:3], SamplingParams(max_tokens=12, temperature=0))
        engine.shutdown()
    served = load_served_model(str(smollm2_path), loras={"a": str(tmp_path / "a"), "b": str(tmp_path / "b")},
                               template="chatml", dtype="fp32")
    assert served.names == [smollm2_path.name, "a", "b"] and served.adapter_for("b") == "b"
    assert served.adapter_for("nonexistent") is None and served.template == get_template("chatml")
    engine = served.engine.start()
    try:
        handles = [(name, engine.submit(p, SamplingParams(max_tokens=12, temperature=0), adapter=name))
                   for p in prompts[:3] for name in ("a", "b", None)]
        got: dict = {"a": [], "b": [], None: []}
        for name, h in handles:
            got[name].append(_text(h)[0])
        assert got["a"] == singles["a"] and got["b"] == singles["b"]
        assert got["a"] != got["b"] and got[None] != got["a"]
    finally:
        engine.shutdown()
