"""The CPU weights path a server takes: measured once per CPU and model, cached, each path served."""
from __future__ import annotations

import json
import time

import pytest
import torch

from tooltune.engine import weights as W
from tooltune.engine.types import SamplingParams
from tooltune.errors import UserError


def test_fastest_prefers_fp16_within_ten_percent():
    assert W.fastest({"fp16": [10.0, 40.0], "fp32": [20.0, 38.0], "bf16": [9.5, 39.0]}) == "fp16"
    assert W.fastest({"fp16": [20.0, 80.0], "fp32": [21.0, 60.0], "bf16": [12.0, 50.0]}) == "bf16"
    assert W.fastest({"fp32": [20.0, 60.0], "bf16": [30.0, 50.0]}) == "fp32"   # 2.2 against 2.5
    assert W.fastest({"fp32": [20.0, 60.0]}) == "fp32"


def test_auto_measures_once_then_reads_the_cache(smollm2_path, tmp_path, monkeypatch):
    from tooltune.model.loader import load_model, load_tokenizer

    monkeypatch.setenv("TOOLTUNE_HOME", str(tmp_path))
    monkeypatch.setattr(W, "_busy", lambda window=0.3: None)     # a test run is the machine's only work
    tok = load_tokenizer(str(smollm2_path))
    net = load_model(str(smollm2_path), dtype="fp32")
    served, choice = W.place_weights(net, tok, "auto")
    assert choice.how == "measured" and set(choice.ms) == set(W.candidates())
    assert all(len(v) == 2 and all(x > 0 for x in v) for v in choice.ms.values())
    assert choice.weights == W.fastest(choice.ms)
    assert next(served.parameters()).dtype == (torch.bfloat16 if choice.weights == "bf16" else torch.float32)
    table = json.loads((tmp_path / "kernels" / "weights.json").read_text())
    assert [e["weights"] for e in table.values()] == [choice.weights]
    again, second = W.place_weights(load_model(str(smollm2_path), dtype="fp32"), tok, "auto")
    assert second.how == "cached" and second.weights == choice.weights and second.ms == choice.ms
    assert second.describe().startswith(f"decode: {choice.weights}") and "cached" in second.describe()


def test_a_busy_machine_measures_but_does_not_cache(smollm2_path, tmp_path, monkeypatch):
    from tooltune.model.loader import load_model, load_tokenizer

    monkeypatch.setenv("TOOLTUNE_HOME", str(tmp_path))
    monkeypatch.setattr(W, "_busy", lambda window=0.3: "other work used 90% of the CPU")
    monkeypatch.setattr(W, "_ROWS", (1, 2))   # the figures do not matter here: keep it short
    _, choice = W.place_weights(load_model(str(smollm2_path), dtype="fp32"), load_tokenizer(str(smollm2_path)),
                                "auto")
    assert choice.how.startswith("measured while other work used 90%") and "not cached" in choice.how
    assert not (tmp_path / "kernels" / "weights.json").exists()


def test_timing_runs_with_the_engines_threads_in_a_thread_of_its_own(smollm2_path, tmp_path, monkeypatch):
    """`tooltune api` loads with one torch thread and decodes with all: the timing takes the
    decode thread count, in a thread that ends after it (its OpenMP team with it)."""
    import threading

    from tooltune.model.loader import load_model, load_tokenizer

    monkeypatch.setenv("TOOLTUNE_HOME", str(tmp_path))
    monkeypatch.setattr(W, "_busy", lambda window=0.3: None)
    monkeypatch.setattr(W, "_ROWS", (1, 2))
    seen, step_ms = [], W._step_ms
    monkeypatch.setattr(W, "_step_ms", lambda *a, **k: seen.append(
        (threading.current_thread().name, torch.get_num_threads())) or step_ms(*a, **k))
    before = torch.get_num_threads()
    _, choice = W.place_weights(load_model(str(smollm2_path), dtype="fp32"), load_tokenizer(str(smollm2_path)),
                                "auto", threads=before + 1)
    assert seen and set(seen) == {("tooltune-weights-timing", before + 1)}
    assert torch.get_num_threads() == before and choice.how == "measured"
    assert W.cached_choice(load_model(str(smollm2_path), dtype="fp32").config, before + 1) is not None
    assert W.cached_choice(load_model(str(smollm2_path), dtype="fp32").config, before) is None   # per thread count


def test_busy_sees_other_work_on_the_cores():
    import os
    import subprocess
    import sys

    cores = len(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.3)                # the spinners running
        busy = W._busy(0.3)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert busy is not None and busy.startswith("other work used")


@pytest.mark.parametrize("path", W.PATHS)
def test_each_path_serves_and_fp16_replies_do_not_depend_on_batching(smollm2_path, path):
    """Every path this CPU has: its model, its dtype, its replies; fp16's are the same bits alone
    and in a batch of four (the README's promise for the default path)."""
    if path not in W.candidates():
        pytest.skip(f"cpu_weights {path} does not run on this machine")
    from tooltune.engine.runtime import load_served_model

    served = load_served_model(str(smollm2_path), cpu_weights=path, speculative=False)
    assert served.weights.weights == path and served.weights.how == "asked for"
    assert next(served.engine.model.parameters()).dtype == (torch.bfloat16 if path == "bf16" else torch.float32)
    tok = served.tokenizer
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
               for q in ("Tell me a joke about cats.", "What is the capital of France?",
                         "Write a haiku about autumn.", "List three uses of copper.")]
    prompts = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    params = SamplingParams(max_tokens=16, temperature=0)
    together = served.engine.generate_all(prompts, params)
    assert all(together) and "Paris" in together[1]
    if path == "fp16":
        assert [served.engine.generate_all([p], params)[0] for p in prompts] == together


def test_paths_that_cannot_run_say_why(smollm2_path, monkeypatch):
    from tooltune.model.loader import load_model, load_tokenizer

    tok = load_tokenizer(str(smollm2_path))
    fp32 = load_model(str(smollm2_path), dtype="fp32")
    with pytest.raises(UserError, match="cpu_weights 'fp8': use auto, fp16, fp32, bf16"):
        W.place_weights(fp32, tok, "auto", "fp8")
    monkeypatch.setenv("TOOLTUNE_BF16", "0")          # a CPU without native bf16
    assert "bf16" not in W.candidates()
    with pytest.raises(UserError, match="cpu_weights bf16: not on this machine .this CPU has no native bf16"):
        W.place_weights(fp32, tok, "auto", "bf16")
    bf16 = load_model(str(smollm2_path), dtype="bf16")
    with pytest.raises(UserError, match="cpu_weights fp16 is for a model on a CPU loaded with dtype auto"):
        W.place_weights(bf16, tok, "bf16", "fp16")
    same, choice = W.place_weights(bf16, tok, "bf16")
    assert same is bf16 and choice.weights == "bfloat16" and choice.how == "as loaded"
