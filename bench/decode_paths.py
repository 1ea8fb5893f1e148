"""A decode step on each weight path this CPU can serve, side by side in one run.

`tooltune api` on a CPU can hold the model's linear layers as: bf16 (torch's oneDNN kernels,
AMX where the CPU has it), fp32 with fp16 weights (kernels/half_linear.py), or fp32 prepacked for
oneDNN (kernels/packed_linear.py). Which is fastest depends on the CPU, so this loads the same
model on each path, decodes the same greedy replies at 1 and 16 rows, and prints ms per decode
step (the engine's own timing), tokens/s, and whether each path's replies equal the fp32 path's.

    .venv/bin/python bench/decode_paths.py [--model smollm2-135m-instruct] [--tokens 64]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from agent_quality import cpu  # noqa: E402  (the CPU line every bench prints)

PROMPTS = ["Write a short story about a robot who learns to paint.",
           "Explain how a refrigerator works, step by step.",
           "What is the weather like in Paris? Use the tool.",
           "List ten fruits and one fact about each."]


def measure(model: str, path: str, rows: int, tokens: int) -> dict:
    from tooltune.engine.runtime import load_served_model
    from tooltune.engine.types import SamplingParams
    from tooltune.templates.render import render_prompt

    from tooltune.kernels.build import library

    avx2_only = path == "fp16-avx2"   # the fp16 kernel with its AVX-512 rows path off: what it gains
    if path.startswith("fp16"):
        library().half_linear_use_avx512(0 if avx2_only else 1)
    started = time.perf_counter()
    served = load_served_model(model, speculative=False, cpu_weights="fp16" if avx2_only else path)
    load_s = time.perf_counter() - started
    engine = served.engine
    tok = served.tokenizer
    prompts = [tok(render_prompt(tok, served.template, [{"role": "user", "content": PROMPTS[i % 4]}]),
                   add_special_tokens=False)["input_ids"] for i in range(rows)]
    params = SamplingParams(max_tokens=tokens, temperature=0.0)
    warm = tok(render_prompt(tok, served.template, [{"role": "user", "content": "Hello!"}]), add_special_tokens=False)
    engine.generate_all([warm["input_ids"]], SamplingParams(max_tokens=8, temperature=0.0))  # warm-up
    for k in engine.timing:
        engine.timing[k] = 0
    started = time.perf_counter()
    replies = engine.generate_all(prompts, params)
    wall = time.perf_counter() - started
    t = engine.timing
    generated = sum(len(served.tokenizer(r, add_special_tokens=False).input_ids) for r in replies)
    return {"path": path, "rows": rows, "load_s": round(load_s, 2),
            "ms_per_step": round(1000 * t["decode_s"] / max(t["decode_steps"], 1), 2),
            "tokens_per_s": round(generated / wall, 1), "replies": replies}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--paths", default="fp32,fp16,fp16-avx2,bf16",
                    help="those this CPU has are run (fp16-avx2: the fp16 kernel without its AVX-512 path)")
    ap.add_argument("--rows", default="1,16")
    args = ap.parse_args()
    print(f"CPU: {cpu()}; torch {torch.__version__}; {torch.get_num_threads()} threads; {platform.python_version()}")
    from tooltune.engine.weights import candidates

    from tooltune.kernels.build import library

    here = candidates() + (["fp16-avx2"] if "fp16" in candidates() and library().half_linear_has_avx512() else [])
    paths = [p for p in args.paths.split(",") if p in here]
    print(f"paths here: {', '.join(candidates())}")
    results = []
    for rows in map(int, args.rows.split(",")):
        for path in paths:
            r = measure(args.model, path, rows, args.tokens)
            base = next((x for x in results if x["rows"] == rows and x["path"] == "fp32"), None)
            r["same_as_fp32"] = None if base is None else sum(a == b for a, b in zip(r["replies"], base["replies"]))
            results.append(r)
            print(f"{rows:>3} rows  {path:<6} {r['ms_per_step']:>8.2f} ms a step  {r['tokens_per_s']:>7.1f} tok/s"
                  f"  load {r['load_s']:.1f} s  same replies as fp32: {r['same_as_fp32']}", flush=True)
    print(json.dumps([{k: v for k, v in r.items() if k != "replies"} for r in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
