"""How a CPU holds the served model's linear weights: the fastest path here, measured once, cached.

A decode step reads every weight once, so which path is fastest depends on the CPU: on an AVX2
EPYC, fp16 weights in the C++ kernel (kernels/half_linear.py) halve the bytes of fp32 and torch's
bf16 matmuls are emulated (~100x slower); on a Xeon with AMX, torch's bf16 runs natively, but its
one-row steps keep the whole forward in bf16, without the decode-attention kernel. So with
`dtype auto` and `cpu_weights auto`, the server times a decode step of the model it serves on each
path this CPU has, at 1 and 16 rows, and keeps the fastest:

- ``fp16``: an fp32 model, its linear weights fp16 in the kernel; products do not depend on the
  batch (bitwise). Preferred unless another path is 10% faster: replies independent of batching
  are worth that much.
- ``fp32``: an fp32 model, weights prepacked for oneDNN (kernels/packed_linear.py).
- ``bf16``: the model in bf16 (torch's oneDNN kernels; AMX where the CPU has it); only on CPUs
  with native bf16.

The choice is written to $TOOLTUNE_HOME/kernels/weights.json, keyed by the CPU (model name and
flags), torch's version, its thread count and the model's shape, so a server measures on its
first start only. Timings taken while other work loads the cores are used but not cached: with
a core busy every parallel region of a step waits for it, one path more than another.
"""
from __future__ import annotations

import copy
import hashlib
import json
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text
from tooltune.kernels.half_linear import KernelUnavailable, halve_linear_layers, unavailable_reason
from tooltune.kernels.packed_linear import pack_linear_layers
from tooltune.model.loader import cpu_flags

PATHS = ("fp16", "fp32", "bf16")
PREFER_FP16 = 1.10      # another path must be this much faster than fp16 to be chosen
_ROWS = (1, 16)


@dataclass
class WeightsChoice:
    weights: str                                            # fp16 | fp32 | bf16
    how: str                                                # "measured", "cached" or why it is fixed
    ms: dict[str, list[float]] = field(default_factory=dict)  # path -> ms a decode step at 1 and 16 rows

    def describe(self) -> str:
        """One line for the server's start: the path, and the figures it was chosen by."""
        kind = {"fp16": "fp16 weights, fp32 math (kernel)", "fp32": "fp32 weights (oneDNN, prepacked)",
                "bf16": f"bf16 ({'AMX' if 'amx_bf16' in cpu_flags() else 'AVX512-BF16'}, oneDNN)",
                }.get(self.weights, self.weights)
        if not self.ms:
            return f"decode: {kind} ({self.how})"
        figures = ", ".join(f"{p} {a:.1f}/{b:.1f}" for p, (a, b) in self.ms.items())
        return f"decode: {kind}; ms a step at 1/16 rows, {self.how}: {figures}"


def candidates() -> list[str]:
    """The paths this CPU can run."""
    from tooltune.model.loader import bf16_supported

    out = ["fp16"] if unavailable_reason() is None else []
    return out + ["fp32"] + (["bf16"] if bf16_supported("cpu") else [])


def _key(config, threads: int) -> str:
    """The CPU, torch and the model's shape: what a decode step's time depends on."""
    cpu = platform.processor()
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    except OSError:
        pass
    cfg = getattr(config, "text_config", None) or config
    shape = [getattr(cfg, k, None) for k in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                                             "num_attention_heads", "num_key_value_heads", "vocab_size")]
    raw = json.dumps([cpu, sorted(cpu_flags()), torch.__version__, threads, shape])
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _cache_file() -> Path:
    from tooltune import home

    return Path(home()) / "kernels" / "weights.json"


def cached_choice(config, threads: int) -> WeightsChoice | None:
    """The choice measured earlier for this CPU, thread count and model shape, if any (and still
    runnable here)."""
    try:
        entry = json.loads(_cache_file().read_text()).get(_key(config, threads))
    except (OSError, ValueError):
        return None
    if not entry or entry.get("weights") not in candidates():
        return None
    return WeightsChoice(entry["weights"], "cached", {k: list(v) for k, v in entry.get("ms", {}).items()})


def _remember(config, threads: int, choice: WeightsChoice) -> None:
    path = _cache_file()
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    table[_key(config, threads)] = {"weights": choice.weights, "ms": choice.ms}
    try:
        atomic_write_text(path, json.dumps(table, indent=1))
    except OSError:
        pass  # a read-only home: measured again next time, nothing else lost


def _step_ms(net, tokenizer, rows: int, tokens: int = 8) -> float:
    """ms per decode step of `net` at `rows` rows: the engine's own steps and timing."""
    from tooltune.engine.engine import Engine
    from tooltune.engine.types import SamplingParams

    engine = Engine(net, tokenizer, stop_token_ids=[], max_batch=rows, max_model_len=64 + tokens,
                    prefix_cache_tokens=0, speculative=False, chunk_tokens=0)
    vocab = net.get_input_embeddings().num_embeddings
    prompts = [[(7 + 13 * r + 31 * i) % vocab for i in range(32)] for r in range(rows)]
    engine.generate_all(prompts, SamplingParams(max_tokens=3, temperature=0.0))  # warm-up
    for k in engine.timing:
        engine.timing[k] = 0
    engine.generate_all(prompts, SamplingParams(max_tokens=tokens, temperature=0.0))
    return 1000 * engine.timing["decode_s"] / max(engine.timing["decode_steps"], 1)


def measure(net, tokenizer, threads: int | None = None) -> tuple[dict[str, list[float]], torch.nn.Module | None]:
    """ms a step at 1 and 16 rows on every path here, for the fp32 model `net` (left as it was),
    and the bf16 copy made for it (None where bf16 is not a path here). With `threads` other
    than this thread's (`tooltune api` loads in a one-thread main thread and decodes in a thread
    of its own with all of them), the timing runs in a short-lived thread with that many: its
    OpenMP team ends with it, so the engine's stays the only one (see Engine on threads)."""
    if threads and threads != torch.get_num_threads():
        box: dict = {}

        def run():
            torch.set_num_threads(threads)  # per thread: this one's OpenMP team
            try:
                box["result"] = measure(net, tokenizer)
            except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
                box["error"] = e

        worker = threading.Thread(target=run, name="tooltune-weights-timing")
        worker.start()
        worker.join()
        if "error" in box:
            raise box["error"]
        return box["result"]
    from tooltune.kernels.half_linear import half_linear_layers
    from tooltune.kernels.packed_linear import packed_linear_layers

    ms, bf16 = {}, None
    for path in candidates():
        if path == "fp16":
            with half_linear_layers(net):
                ms[path] = [_step_ms(net, tokenizer, r) for r in _ROWS]
        elif path == "fp32":
            with packed_linear_layers(net):
                ms[path] = [_step_ms(net, tokenizer, r) for r in _ROWS]
        else:
            bf16 = copy.deepcopy(net).to(torch.bfloat16)
            ms[path] = [_step_ms(bf16, tokenizer, r) for r in _ROWS]
        ms[path] = [round(x, 2) for x in ms[path]]
    return ms, bf16


def _busy(window: float = 0.3) -> str | None:
    """Why timings taken now would mislead (other work on the cores, over a short window while
    this process sleeps: a busy core stalls every parallel region of a step, one path more than
    another), or None. Reads /proc/stat; elsewhere assumes an idle machine."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)   # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    used = 1 - (idle1 - idle0) / max(total1 - total0, 1)
    return f"other work used {used:.0%} of the CPU" if used > 0.3 else None


def fastest(ms: dict[str, list[float]]) -> str:
    """The path with the least time summed over the row counts, each relative to its best;
    fp16 where no other path is PREFER_FP16 times faster."""
    best = [min(v[i] for v in ms.values()) for i in range(len(_ROWS))]
    score = {p: sum(v[i] / best[i] for i in range(len(_ROWS))) for p, v in ms.items()}
    pick = min(score, key=score.get)
    if "fp16" in score and score["fp16"] <= score[pick] * PREFER_FP16:
        return "fp16"
    return pick


def load_dtype(dtype: str, device: str, quantize: str | None) -> str:
    """The dtype to load a served model in: fp32 where the weights path is chosen here (a CPU,
    `dtype auto`, no quantization), else the one asked for."""
    from tooltune.model.loader import resolve_device

    return "fp32" if dtype == "auto" and resolve_device(device) == "cpu" and not quantize else dtype


def place_weights(net, tokenizer, dtype: str, cpu_weights: str = "auto",
                  threads: int | None = None) -> tuple[torch.nn.Module, WeightsChoice]:
    """The served model on its weights path; `net` as loaded with `load_dtype(dtype, ...)`.

    dtype auto on a CPU: `cpu_weights` auto takes the cached or measured fastest path, fp16 / fp32 /
    bf16 that path. An explicit fp32 model: fp16 weights where the kernel builds (auto), as asked
    otherwise. Any other model (bf16, fp16, a GPU) is served as loaded. An asked-for path that
    cannot run here is an error that says why. `threads`: the torch threads the model will decode
    with (default: this thread's). Returns the model to serve (a bf16 copy on bf16)."""
    if cpu_weights not in ("auto", *PATHS):
        raise UserError(f"cpu_weights {cpu_weights!r}: use auto, {', '.join(PATHS)}")
    embedding = net.get_input_embeddings().weight
    if embedding.dtype != torch.float32 or embedding.device.type != "cpu":
        loaded = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}.get(embedding.dtype)
        if cpu_weights not in ("auto", loaded):
            raise UserError(f"cpu_weights {cpu_weights} is for a model on a CPU loaded with dtype auto; this one "
                            f"is {embedding.dtype} on {embedding.device.type} (set dtype auto and device cpu)")
        return net, WeightsChoice(str(embedding.dtype).removeprefix("torch."), "as loaded")
    if cpu_weights == "auto" and dtype == "auto":
        threads = threads or torch.get_num_threads()
        choice, bf16 = cached_choice(net.config, threads), None
        if choice is None:
            busy = _busy()
            ms, bf16 = measure(net, tokenizer, threads)
            choice = WeightsChoice(fastest(ms), f"measured while {busy}: not cached" if busy else "measured", ms)
            if not busy:
                _remember(net.config, threads, choice)
        return apply(net, choice.weights, bf16), choice
    if cpu_weights == "auto":  # an fp32 model asked for: fp16 weights, fp32 math, where the kernel builds
        why = unavailable_reason()
        return apply(net, "fp32" if why else "fp16"), WeightsChoice("fp32" if why else "fp16", why or "dtype fp32")
    if cpu_weights not in candidates():
        why = unavailable_reason() if cpu_weights == "fp16" else "this CPU has no native bf16 (AVX512-BF16 or AMX)"
        raise UserError(f"cpu_weights {cpu_weights}: not on this machine ({why})")
    if cpu_weights == "bf16" and dtype != "auto":
        raise UserError(f"cpu_weights bf16 with dtype {dtype}: set dtype auto (or dtype bf16)")
    return apply(net, cpu_weights), WeightsChoice(cpu_weights, "asked for")


def load_placed(model: str, adapter: str | None, dtype: str = "auto", device: str = "cpu"):
    """(model with `adapter` merged, left-padded tokenizer, WeightsChoice): the weights `tooltune
    api --adapter` serves with the same dtype, for `eval` and `generate`."""
    from tooltune.model.loader import load_merged

    net, tokenizer = load_merged(model, adapter, load_dtype(dtype, device, None), device)
    net, choice = place_weights(net, tokenizer, dtype)
    return net, tokenizer, choice


def apply(net, weights: str, bf16: torch.nn.Module | None = None) -> torch.nn.Module:
    """`net` (fp32) on the `weights` path; `bf16` is a bf16 copy already made."""
    if weights == "bf16":
        return bf16 if bf16 is not None else net.to(torch.bfloat16)
    if weights == "fp16":
        try:
            halve_linear_layers(net)
            return net
        except KernelUnavailable as e:
            raise UserError(f"cpu_weights fp16: {e}") from None
    pack_linear_layers(net)
    return net
