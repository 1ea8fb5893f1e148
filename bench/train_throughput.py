"""Training throughput: tooltune vs LLaMA-Factory 0.9.5, side by side, in one invocation.

Both systems LoRA-tune the same model (smollm2-135m-instruct, tooltune's pulled safetensors folder)
on the same data (glaive_toolcall_en_demo, first --max-samples rows) with the same recipe: cutoff 1024,
batch 4, LoRA on all linear layers (rank 8), lr 1e-4 cosine, 1 epoch. Each training run is a
subprocess; what is measured:

- trained tokens/s = non-padding tokens of the epoch / wall-clock seconds of the training loop only
  (model and data loading excluded). Tokens are counted by each system's own pipeline (each renders
  tool calls its own way): tooltune's with its encode_dataset (chatml, truncated at cutoff_len),
  LLaMA-Factory's from the tokenized dataset it saves (`tokenized_path`; non-zero attention mask).
  Seconds: tooltune's last metrics.jsonl `elapsed` (counted from the start of its loop);
  LLaMA-Factory's `train_runtime` (HF Trainer).
- peak RSS: the process tree's summed RSS, polled every 0.2 s with psutil; the max is kept.
- final loss: the last logged training loss (every step is logged); loss@S: the mean of the losses
  logged at steps 1..S, S being the fewest steps any finished run took (packing puts more
  conversations in a step, so the runs differ in step count).
- roofline: this CPU's matmul peak (2048x576 @ 576x1536, fp32 and bf16, warmed up), measured in the
  same run (fp32 before the runs and again after each; the highest counts); roofline tokens/s =
  peak FLOP/s of the faster dtype / (4 * n_params) (forward 2N plus backward-to-activations 2N;
  the frozen base gets no weight gradients). Also printed: the FLOPs the epoch really needs (the
  linear layers, the LM head at trained positions only, causal attention, LoRA: `epoch_flops`), and
  the "ceiling", the tokens/s of a run in which every one of them went at the matmul peak and
  nothing else cost anything; each system's tokens/s as a share of it.

LLaMA-Factory runs in its own venv (bench/.venv-llamafactory, built on first use and then reused)
in two configs: "default" (fp32, padded batches) and "tuned" (bf16 + packing + neat_packing). A run
that passes --timeout is killed and reported as timed out, its tokens/s estimated from the steps
logged so far. The last line printed is JSON with every figure.

    .venv/bin/python bench/train_throughput.py [--quick] [--systems tooltune,llamafactory]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
LF_VENV = REPO / "bench" / ".venv-llamafactory"
LF_STUBS = LF_VENV / "stubs"  # import stubs put on PYTHONPATH (torchaudio)
MODEL, DATASET = "smollm2-135m-instruct", "glaive_toolcall_en_demo"
RECIPE = {"cutoff_len": 1024, "per_device_train_batch_size": 4, "finetuning_type": "lora", "lora_target": "all",
          "lora_rank": 8, "learning_rate": 1e-4, "lr_scheduler_type": "cosine", "num_train_epochs": 1,
          "logging_steps": 1, "overwrite_output_dir": True}
LF_CONFIGS = {"default": {},
              "tuned": {"bf16": True, "use_cpu": True, "packing": True, "neat_packing": True}}
GiB = 1024 ** 3


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run_monitored(cmd: list[str], log_path: Path, timeout: float, env: dict | None = None) -> dict:
    """Run cmd (output to log_path), polling its process tree's RSS every 0.2 s; kill it past timeout."""
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        root, peak, t0, timed_out = psutil.Process(proc.pid), 0, time.time(), False
        while proc.poll() is None:
            rss = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak = max(peak, rss)
            if time.time() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, 9)  # the session we started for it
                proc.wait()
                break
            time.sleep(0.2)
    if proc.returncode and not timed_out:
        tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-40:])
        raise RuntimeError(f"{cmd[0]} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    return {"peak_rss_gib": round(peak / GiB, 3), "timed_out": timed_out, "wall_s": round(time.time() - t0, 1)}


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def matmul_gflops(dtype_name: str, min_seconds: float = 1.0) -> float:
    import torch
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(2048, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    a @ b  # warm-up (bf16 can take seconds per call on CPUs without native bf16: keep it short)
    n, t0 = 0, time.perf_counter()
    while n < 1 or time.perf_counter() - t0 < min_seconds:
        a @ b
        n += 1
    return 2 * 2048 * 576 * 1536 * n / (time.perf_counter() - t0) / 1e9


def count_params(model_dir: Path) -> int:
    from safetensors import safe_open
    total = 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                n = 1
                for d in st.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


# --- tooltune -------------------------------------------------------------------------------
def tooltune_encoded(model_dir: Path, args) -> list:
    """The conversations tooltune trains on: its own encode_dataset (chatml, truncated at cutoff_len).

    (`tooltune data stats` prints tokens_total too, but untruncated: 10 of the first 100 samples
    are over 1024 tokens.)
    """
    from tooltune.data.loader import load_conversations
    from tooltune.model.loader import load_tokenizer
    from tooltune.templates import get_template
    from tooltune.train.args import TrainConfig
    from tooltune.train.setup import encode_dataset
    cfg = TrainConfig(model_name_or_path=str(model_dir), dataset=DATASET, dataset_dir=str(args.dataset_dir),
                      max_samples=args.max_samples, cutoff_len=RECIPE["cutoff_len"], template="chatml")
    data = load_conversations(cfg.dataset, dataset_dir=cfg.dataset_dir, max_samples=cfg.max_samples,
                              val_size=cfg.val_size, seed=cfg.seed)
    encoded, _ = encode_dataset(data.train, load_tokenizer(cfg.model_name_or_path), get_template("chatml"), cfg)
    return encoded


def epoch_flops(model_dir: Path, encoded: list) -> dict:
    """FLOPs one epoch of LoRA training needs, whoever runs it (for a Llama-shaped decoder):
    every linear layer forward plus the gradient to its input (4 x its weights per token; the frozen
    base gets no weight gradient), the LM head at trained positions only, causal attention
    (QK and PV over the lower triangle, backward 2.5x forward), and the rank-r LoRA products.
    The bench's roofline counts 4 x params per token instead; this is what a run would take if every
    FLOP went at the matmul peak and nothing else cost anything."""
    c = json.loads((model_dir / "config.json").read_text())
    hidden, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads, kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    head_dim = c.get("head_dim") or hidden // heads
    shapes = [(hidden, heads * head_dim), (hidden, kv * head_dim), (hidden, kv * head_dim),
              (heads * head_dim, hidden), (hidden, inter), (hidden, inter), (inter, hidden)]
    linear = layers * sum(i * o for i, o in shapes)
    lora = layers * sum(i + o for i, o in shapes) * RECIPE["lora_rank"] * 6  # x@A, .@B, and 2x back
    tokens = sum(len(e.ids) for e in encoded)
    trained = sum(e.n_trained for e in encoded)
    attention = sum(layers * 4 * len(e.ids) ** 2 / 2 * heads * head_dim * 3.5 for e in encoded)
    parts = {"linear": 4 * linear * tokens, "lm_head": 4 * hidden * c["vocab_size"] * trained,
             "attention": attention, "lora": lora * tokens}
    return {"tokens": tokens, "trained": trained, "gflop": {k: round(v / 1e9) for k, v in parts.items()},
            "flops_per_token": sum(parts.values()) / tokens}


def run_tooltune(model_dir: Path, work: Path, args) -> dict:
    out = work / "tooltune"
    keys = {**RECIPE, "model_name_or_path": model_dir, "dataset": DATASET, "dataset_dir": args.dataset_dir,
            "max_samples": args.max_samples, "template": "chatml", "output_dir": out}
    cmd = [str(REPO / ".venv" / "bin" / "tooltune"), "train"]
    cmd += [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in keys.items()]
    log("tooltune: " + " ".join(cmd))
    res = run_monitored(cmd, work / "tooltune.log", args.timeout)
    rows = [r for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    res["tokens"] = sum(len(e.ids) for e in tooltune_encoded(model_dir, args))
    res["final_loss"] = rows[-1]["loss"] if rows else None
    res["steps"] = rows[-1]["step"] if rows else 0
    res["loss_curve"] = [[r["step"], r["loss"]] for r in rows]
    res["train_seconds"] = rows[-1]["elapsed"] if rows else None
    if res["timed_out"] and rows:  # tokens seen so far ~ sum of each log window's tokens/s x its length
        prev, seen = 0.0, 0.0
        for r in rows:
            seen, prev = seen + r["tokens_per_s"] * (r["elapsed"] - prev), r["elapsed"]
        res["tokens_seen"] = int(seen)
    res["tokens_per_s"] = _rate(res)
    return res


# --- LLaMA-Factory --------------------------------------------------------------------------
def lf_bin(name: str) -> str:
    return str(LF_VENV / "bin" / name)


def ensure_lf_venv() -> None:
    """Build bench/.venv-llamafactory once: CPU torch first, then llamafactory, minus the CUDA extras."""
    if (LF_VENV / ".ready").exists():
        return
    log(f"building {LF_VENV} (one-off: llamafactory==0.9.5 on CPU torch 2.13.0)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LF_VENV)], check=True)
    pip = [lf_bin("python"), "-m", "pip", "install", "-q"]
    # torch first, and pinned again with llamafactory, so pip keeps the CPU wheel instead of
    # resolving a multi-GB CUDA build.
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    subprocess.run(pip + ["llamafactory==0.9.5", "torch==2.13.0"], check=True)
    # pip's torchvision/torchaudio are CUDA builds that break CPU torch: drop them; LLaMA-Factory
    # imports torchaudio at start (data/mm_plugin.py), so it gets an empty stub on PYTHONPATH.
    subprocess.run([lf_bin("python"), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio"],
                   check=True)
    (LF_STUBS / "torchaudio").mkdir(parents=True, exist_ok=True)
    (LF_STUBS / "torchaudio" / "__init__.py").write_text('"""Stub: audio is not used by this benchmark."""\n')
    subprocess.run([lf_bin("llamafactory-cli"), "version"], check=True, capture_output=True,
                   env=lf_env(Path(tempfile.gettempdir())))
    (LF_VENV / ".ready").write_text("ok\n")


def lf_env(work: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(LF_STUBS), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_DATASETS_CACHE=str(work / "hf-datasets-cache"), DISABLE_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    return env


def lf_dataset_dir(work: Path, args) -> Path:
    """The shared data folder has no dataset_info.json: make one next to a link to the file."""
    d = work / "lf-data"
    d.mkdir(exist_ok=True)
    link = d / f"{DATASET}.json"
    if not link.exists():
        link.symlink_to(Path(args.dataset_dir).resolve() / f"{DATASET}.json")
    info = {DATASET: {"file_name": f"{DATASET}.json", "formatting": "sharegpt",
                      "columns": {"messages": "conversations", "tools": "tools"}}}
    (d / "dataset_info.json").write_text(json.dumps(info, indent=2))
    return d


def lf_tokens(tokenized: Path) -> int | None:
    """Non-padding tokens of the dataset LLaMA-Factory tokenized (neat packing: segment ids, 0 = pad)."""
    if not tokenized.exists():
        return None
    code = ("import sys, datasets; d = datasets.load_from_disk(sys.argv[1])['train'];"
            "print(sum(sum(1 for m in r if m) for r in d['attention_mask']))")
    out = subprocess.run([lf_bin("python"), "-c", code, str(tokenized)], check=True, capture_output=True,
                         text=True, env=lf_env(tokenized.parent))
    return int(out.stdout.strip().splitlines()[-1])


def run_llamafactory(name: str, model_dir: Path, work: Path, args) -> dict:
    import yaml
    out = work / f"lf-{name}"
    cfg = {"model_name_or_path": str(model_dir), "stage": "sft", "do_train": True, **RECIPE,
           "gradient_accumulation_steps": 1, "dataset": DATASET, "dataset_dir": str(lf_dataset_dir(work, args)),
           "template": "smollm2", "max_samples": args.max_samples, "output_dir": str(out),
           "tokenized_path": str(work / f"lf-{name}-tokenized"), "report_to": "none", "save_strategy": "no",
           "plot_loss": False, **LF_CONFIGS[name]}
    cfg_path = work / f"lf-{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log(f"llamafactory ({name}): {lf_bin('llamafactory-cli')} train {cfg_path}")
    res = run_monitored([lf_bin("llamafactory-cli"), "train", str(cfg_path)], work / f"lf-{name}.log",
                        args.timeout, env=lf_env(work))
    res["tokens"] = lf_tokens(work / f"lf-{name}-tokenized")
    rows = [r for r in read_jsonl(out / "trainer_log.jsonl") if "loss" in r]
    res["final_loss"] = rows[-1]["loss"] if rows else None
    res["steps"] = rows[-1]["current_steps"] if rows else 0
    res["loss_curve"] = [[r["current_steps"], r["loss"]] for r in rows]
    results = out / "all_results.json"
    if results.exists():
        res["train_seconds"] = json.loads(results.read_text())["train_runtime"]
    elif rows:  # timed out: its own h:mm:ss elapsed time at the last logged step
        h, m, s = (int(x) for x in rows[-1]["elapsed_time"].split(":"))
        res["train_seconds"] = h * 3600 + m * 60 + s
        if res["tokens"]:
            res["tokens_seen"] = int(res["tokens"] * rows[-1]["current_steps"] / rows[-1]["total_steps"])
    res["tokens_per_s"] = _rate(res)
    return res


def _rate(res: dict) -> float | None:
    tokens = res.get("tokens_seen", res.get("tokens"))
    secs = res.get("train_seconds")
    return round(tokens / secs, 1) if tokens and secs else None


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


# --- main -----------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="tooltune,llamafactory")
    ap.add_argument("--lf-configs", default="default,tuned", help="LLaMA-Factory configs: default,tuned")
    ap.add_argument("--dataset_dir", "--dataset-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--max-samples", "--max_samples", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="max_samples 8: a smoke run")
    ap.add_argument("--timeout", type=float, default=1500, help="seconds per training run")
    ap.add_argument("--keep", action="store_true", help="keep the outputs (printed path)")
    args = ap.parse_args()
    if args.quick:
        args.max_samples = 8
    systems = [s for s in args.systems.split(",") if s]
    lf_configs = [c for c in args.lf_configs.split(",") if c] if "llamafactory" in systems else []
    unknown = set(systems) - {"tooltune", "llamafactory"} | set(lf_configs) - set(LF_CONFIGS)
    if unknown:
        ap.error(f"unknown system/config: {sorted(unknown)}")

    from tooltune.model.hub import pull
    model_dir = Path(pull(MODEL))
    work = Path(tempfile.mkdtemp(prefix="tooltune-bench-"))
    log(f"outputs in {work}")
    try:
        # fp32's peak again after every run, and the highest counts: this machine drifts by ~40%
        # over minutes, and a peak taken in a slow minute would flatter every roofline share.
        peak = {d: round(matmul_gflops(d), 1) for d in ("float32", "bfloat16")}
        fp32_peaks = [peak["float32"]]
        n_params = count_params(model_dir)
        runs: dict[str, dict] = {}
        jobs = [("tooltune", lambda: run_tooltune(model_dir, work, args))] if "tooltune" in systems else []
        if lf_configs:
            ensure_lf_venv()
        jobs += [(f"llamafactory-{c}", lambda c=c: run_llamafactory(c, model_dir, work, args)) for c in lf_configs]
        for name, job in jobs:
            try:
                runs[name] = job()
            except RuntimeError as e:  # one failed run must not lose the others' figures
                log(str(e))
                runs[name] = {"error": str(e).splitlines()[0], "timed_out": False, "tokens_per_s": None,
                              "peak_rss_gib": None}
            fp32_peaks.append(round(matmul_gflops("float32"), 1))
        peak["float32"] = max(fp32_peaks)
        roofline = max(peak.values()) * 1e9 / (4 * n_params)
        flops = epoch_flops(model_dir, tooltune_encoded(model_dir, args))
        ceiling = max(peak.values()) * 1e9 / flops["flops_per_token"]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmatmul peak GFLOP/s: fp32 {peak['float32']} (highest of {fp32_peaks}: before the runs and after "
          f"each), bf16 {peak['bfloat16']}; model params {n_params:,}; "
          f"LoRA roofline {roofline:,.0f} tokens/s; max_samples {args.max_samples}")
    print(f"FLOPs the epoch needs: {flops['flops_per_token'] / 1e6:,.0f} MFLOP per token ({flops['gflop']} GFLOP); "
          f"every FLOP at the peak, nothing else: {ceiling:,.0f} tokens/s = {ceiling / roofline:.0%} of the roofline")
    # Packing puts more conversations in a step, so the runs take different numbers of steps;
    # compare losses over the same optimizer steps: the mean of the losses of steps 1..S (one
    # batch's loss swings 0.7-1.5 with its conversations, too much to compare single steps).
    equal_step = min((r["steps"] for r in runs.values() if r.get("loss_curve") and not r["timed_out"]), default=0)
    for r in runs.values():
        window = [loss for step, loss in r.get("loss_curve", []) if step <= equal_step]
        r["loss_at_equal_step"] = round(sum(window) / len(window), 4) if equal_step and window else None
    print(f"{'system':<24}{'tokens/s':>10}{'roofline':>10}{'ceiling':>10}{'train s':>10}{'tokens':>9}{'peak RSS GiB':>14}"
          f"{'final loss':>12}{f'loss@1-{equal_step}':>12}  note")
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for name, r in runs.items():
        share = r["tokens_per_s"] / roofline if r["tokens_per_s"] else None
        note = "TIMED OUT: estimate from the steps logged" if r["timed_out"] else r.get("error", "")
        of_ceiling = r["tokens_per_s"] / ceiling if r["tokens_per_s"] else None
        print(f"{name:<24}{fmt(r['tokens_per_s'], '.1f'):>10}{fmt(share, '.1%'):>10}{fmt(of_ceiling, '.1%'):>10}"
              f"{fmt(r.get('train_seconds'), '.1f'):>10}{fmt(r.get('tokens'), 'd'):>9}"
              f"{fmt(r['peak_rss_gib'], '.2f'):>14}{fmt(r.get('final_loss'), '.4f'):>12}"
              f"{fmt(r.get('loss_at_equal_step'), '.4f'):>12}  {note}")
        r["roofline_share"] = round(r["tokens_per_s"] / roofline, 4) if r["tokens_per_s"] else None
        r["ceiling_share"] = round(of_ceiling, 4) if of_ceiling else None
    tt = runs.get("tooltune", {})
    ratios = {}
    for name in lf_configs:
        lf = runs[f"llamafactory-{name}"]
        ratios[f"tokens_per_s_tooltune_vs_lf_{name}"] = _ratio(tt.get("tokens_per_s"), lf["tokens_per_s"])
        ratios[f"peak_rss_tooltune_vs_lf_{name}"] = _ratio(tt.get("peak_rss_gib"), lf["peak_rss_gib"])
    lf_default = runs.get("llamafactory-default", {}).get("tokens_per_s")
    if lf_default:  # what the issue's 3.5x target asks, as a share of the perfect run
        ratios["target_3_5x_lf_default_as_ceiling_share"] = round(3.5 * lf_default / ceiling, 4)
    for k, v in ratios.items():
        print(f"{k}: {v if v is not None else '-'}")
    summary = {"max_samples": args.max_samples, "matmul_gflops": peak, "fp32_peaks": fp32_peaks, "n_params": n_params,
               "roofline_tokens_per_s": round(roofline, 1), "ceiling_tokens_per_s": round(ceiling, 1),
               "epoch_flops": flops,
               "tooltune_roofline_share": tt.get("roofline_share"), "ratios": ratios,
               "equal_step": equal_step,
               "timed_out": [n for n, r in runs.items() if r["timed_out"]], "runs": runs,
               "outputs": str(work) if args.keep else None}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
