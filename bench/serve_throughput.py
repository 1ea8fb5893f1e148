"""Serving throughput: tooltune vs `transformers serve` vs LLaMA-Factory 0.9.5, side by side, in one invocation.

All three serve the same model (smollm2-135m-instruct, tooltune's pulled safetensors folder, or the
folder given with --model, such as the demo agent merged by `tooltune export`; fp32 on
CPU) behind an OpenAI /v1/chat/completions endpoint on 127.0.0.1, ONE SERVER AT A TIME: start it, poll
until it answers, warm it up with one chat request, run the concurrency levels, kill its process group.
`--rounds R` repeats that R times in alternating server order and keeps, per server and level, the
round with the median tokens/s (this shared 2-core machine drifts by ~20% over minutes).

- tooltune: `.venv/bin/tooltune api --model <folder>` (ready: GET /health).
- transformers: `.venv/bin/transformers serve <folder> --continuous-batching --device cpu --dtype float32`
  from the main venv (ready: GET /health; the folder is preloaded and named in every request's "model").
- llamafactory: `llamafactory-cli api` from bench/.venv-llamafactory (built by train_throughput.py's
  ensure_lf_venv and reused), template smollm2, infer_backend huggingface, infer_dtype float32; its
  default MAX_CONCURRENT=1 is kept (ready: GET /v1/models).

Each level runs N concurrent closed-loop clients (default 1, 4, 16) that share max(--min-requests,
N * --requests-per-client) requests taken in a fixed order from one deterministic mix: even requests
are plain chat prompts, odd ones tool prompts offering 2 or 3 OpenAI tools (get_weather,
convert_currency, search_flights) and asking for one. Every request streams (max_tokens 64,
temperature 0, stream_options.include_usage) and is read as raw SSE with httpx. A request is served
("ok") only when its stream carries at least one token (content or tool_calls delta), a finish_reason
and `data: [DONE]`; everything else is failed, with the reason counted (HTTP status, error event,
empty stream, no finish_reason, no [DONE], timeout...). `--allow-missing-done` also accepts streams
that end after a finish_reason without [DONE] (still counted in the `no_done` column).

Figures per server and level, over the ok requests:
- tokens/s = completion tokens / level wall-clock seconds; tokens are counted the same way for every
  server: the reply as the model's chat template writes it (content, and each tool call in the
  template's own markup, `<tool_call>{"name": ..., "arguments": ...}</tool_call>` for ChatML), less the
  end-of-turn tag, re-tokenized with the model's tokenizer. So a call streamed as parsed tool_calls
  and the same call streamed as plain text (transformers serve) count the same tokens: the ones the
  model generated. The servers' own `usage.completion_tokens` is recorded too where sent.
- p50/p95 request latency (send to end of stream) and p50 time to first token (first delta with
  content or tool_calls).
- tool-call correctness: the fraction of the level's tool prompts answered with tool_calls deltas
  naming an offered tool with JSON-object arguments (`tool_deltas`: with any tool_calls delta at all).
A level that runs past --level-timeout is cut (its unfinished requests count as failed "timeout") and
the server's remaining levels are skipped. The last line printed is JSON with every figure and the
ratios tooltune/transformers and tooltune/llamafactory (tokens/s at 1 and 16 clients, p95 at 16).

    .venv/bin/python bench/serve_throughput.py [--only tooltune,transformers,llamafactory] [--skip ...]
        [--levels 1,4,16] [--requests-per-client 2] [--threads 2] [--rounds 1]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

try:
    import httpx2 as httpx  # this venv's httpx distribution (the one openai depends on)
except ImportError:  # pragma: no cover
    import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import MODEL, REPO, ensure_lf_venv, lf_bin, lf_env, log  # noqa: E402

# tooltune-int8: the same server with `--quantize int8` (lossy; opt-in, so not in the default run);
# tooltune-bf16 / tooltune-fp32: one weights path asked for (`--cpu-weights`), beside the one
# `tooltune` measured fastest on this CPU (engine/weights.py);
# tooltune-nospec: without prompt-lookup drafts (`--speculative false`), to see what they bring;
# tooltune-nochunk: prompts prefilled in forwards of their own (`--prefill-chunk-tokens 0`), not
# inside the decode steps
SERVERS = ("tooltune", "tooltune-int8", "tooltune-bf16", "tooltune-fp32", "tooltune-nospec", "tooltune-nochunk",
           "transformers", "llamafactory")
DEFAULT_SERVERS = ("tooltune", "transformers", "llamafactory")
MAX_TOKENS = 64
CHAT_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in two sentences what a neural network is.",
    "Give me three tips for sleeping better.",
    "What is 17 times 23?",
    "Summarize the plot of Romeo and Juliet in one paragraph.",
    "Translate 'good morning, how are you?' into Spanish.",
    "Why is the sky blue?",
]
TOOLS = {
    "get_weather": {"description": "Get the current weather in a city",
                    "properties": {"city": {"type": "string", "description": "City name"}},
                    "required": ["city"]},
    "convert_currency": {"description": "Convert an amount of money from one currency to another",
                         "properties": {"amount": {"type": "number"},
                                        "from": {"type": "string", "description": "ISO code, e.g. USD"},
                                        "to": {"type": "string", "description": "ISO code, e.g. EUR"}},
                         "required": ["amount", "from", "to"]},
    "search_flights": {"description": "Search flights between two airports on a date",
                       "properties": {"origin": {"type": "string"}, "destination": {"type": "string"},
                                      "date": {"type": "string", "description": "YYYY-MM-DD"}},
                       "required": ["origin", "destination", "date"]},
}
TOOL_PROMPTS = [  # (tool wanted, user message)
    ("get_weather", "What's the weather like in Paris right now?"),
    ("convert_currency", "How much is 250 US dollars in euros?"),
    ("search_flights", "Find me a flight from Boston to Seattle on 2025-03-14."),
    ("get_weather", "Is it raining in Tokyo today?"),
    ("convert_currency", "Convert 1000 Japanese yen to British pounds."),
    ("search_flights", "Search flights from Madrid to Rome for 2025-06-01."),
]


def tool_spec(name: str) -> dict:
    t = TOOLS[name]
    return {"type": "function", "function": {"name": name, "description": t["description"], "parameters": {
        "type": "object", "properties": t["properties"], "required": t["required"]}}}


def make_request(i: int) -> dict:
    """Request i of the mix: even = plain chat, odd = a tool prompt offering all 3 tools or 2 of them."""
    if i % 2 == 0:
        return {"kind": "chat", "messages": [{"role": "user", "content": CHAT_PROMPTS[i // 2 % len(CHAT_PROMPTS)]}]}
    j = i // 2
    want, text = TOOL_PROMPTS[j % len(TOOL_PROMPTS)]
    names = list(TOOLS) if j % 2 == 0 else [want, next(n for n in TOOLS if n != want)]
    return {"kind": "tool", "want": want, "messages": [{"role": "user", "content": text}],
            "tools": [tool_spec(n) for n in names]}


# --- one streamed request ---------------------------------------------------------------------
async def stream_one(client, url: str, model: str, req: dict) -> dict:
    body = {"model": model, "messages": req["messages"], "stream": True, "max_tokens": MAX_TOKENS,
            "temperature": 0, "stream_options": {"include_usage": True}}
    if "tools" in req:
        body["tools"] = req["tools"]
    res = {"kind": req["kind"], "text": "", "calls": {}, "finish": None, "done": False, "usage": None,
           "ttft": None, "error": None}
    parts: list[str] = []
    t0 = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                detail = (await r.aread()).decode(errors="replace")[:160]
                res["error"] = f"HTTP {r.status_code}: {detail}"
            else:
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        res["done"] = True
                        break
                    try:
                        obj = json.loads(data)
                    except json.JSONDecodeError:
                        res["error"] = f"bad SSE data: {data[:80]}"
                        continue
                    if obj.get("error"):
                        res["error"] = f"error event: {str(obj['error'])[:120]}"
                    if obj.get("usage"):
                        res["usage"] = obj["usage"].get("completion_tokens")
                    for ch in obj.get("choices") or []:
                        d = ch.get("delta") or {}
                        if d.get("content") or d.get("tool_calls"):
                            res["ttft"] = res["ttft"] or time.perf_counter() - t0
                        if d.get("content"):
                            parts.append(d["content"])
                        for tc in d.get("tool_calls") or []:
                            call = res["calls"].setdefault(tc.get("index", 0), {"name": "", "arguments": ""})
                            fn = tc.get("function") or {}
                            call["name"] += fn.get("name") or ""
                            call["arguments"] += fn.get("arguments") or ""
                        res["finish"] = ch.get("finish_reason") or res["finish"]
    except (httpx.HTTPError, OSError) as e:
        res["error"] = f"{type(e).__name__}: {str(e)[:120]}"
    res["latency"] = time.perf_counter() - t0
    res["text"] = "".join(parts)
    res["calls"] = [res["calls"][k] for k in sorted(res["calls"])]
    return res


def verdict(res: dict, allow_missing_done: bool) -> str | None:
    """None when the request counts as served, else why not."""
    if res["error"]:
        return res["error"]
    if res["ttft"] is None:
        return "empty stream (no token)"
    if not res["finish"]:
        return "no finish_reason"
    if not res["done"] and not allow_missing_done:
        return "no [DONE]"
    return None


def tool_call_ok(res: dict, req: dict) -> bool:
    offered = {t["function"]["name"] for t in req.get("tools", [])}
    for call in res["calls"]:
        try:
            if call["name"] in offered and isinstance(json.loads(call["arguments"] or "{}"), dict):
                return True
        except json.JSONDecodeError:
            pass
    return False


# --- one level --------------------------------------------------------------------------------
async def run_level(url: str, model: str, n_clients: int, n_requests: int, timeout: float) -> tuple[list, float, bool]:
    """n_clients closed-loop clients share requests 0..n_requests-1; returns (results by index, wall s, timed out)."""
    reqs = [make_request(i) for i in range(n_requests)]
    results: list = [None] * n_requests
    todo = iter(range(n_requests))
    limits = httpx.Limits(max_connections=n_clients + 4, max_keepalive_connections=n_clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), limits=limits) as client:
        async def worker():
            for i in todo:  # a shared iterator: each client takes the next request when done
                results[i] = await stream_one(client, url, model, reqs[i])

        t0, timed_out = time.perf_counter(), False
        try:
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(n_clients))), timeout)
        except asyncio.TimeoutError:
            timed_out = True
        wall = time.perf_counter() - t0
    return [(reqs[i], r) for i, r in enumerate(results)], wall, timed_out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class ReplyTokens:
    """Counts a reply's tokens as the model's chat template writes the assistant turn."""

    def __init__(self, model_dir: Path):
        from transformers import AutoTokenizer

        self.chat = AutoTokenizer.from_pretrained(str(model_dir))
        self.user = [{"role": "user", "content": "hi"}]
        self.head = self.chat.apply_chat_template(self.user, add_generation_prompt=True, tokenize=False)
        empty = self.chat.apply_chat_template(self.user + [{"role": "assistant", "content": ""}], tokenize=False)
        self.tail = empty[len(self.head):] if empty.startswith(self.head) else None  # "<|im_end|>\n"

    def body(self, text: str, calls: list[dict]) -> str:
        """The turn's text between the generation prompt and the end-of-turn tag."""
        if not calls:
            return text
        msg = {"role": "assistant", "content": text or None,
               "tool_calls": [{"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                              for c in calls]}
        full = self.chat.apply_chat_template(self.user + [msg], tokenize=False)
        if self.tail is None or not (full.startswith(self.head) and full.endswith(self.tail)):
            return text + "".join(c["name"] + c["arguments"] for c in calls)  # a template without that shape
        return full[len(self.head):len(full) - len(self.tail)]

    def __call__(self, text: str, calls: list[dict]) -> int:
        return len(self.chat(self.body(text, calls), add_special_tokens=False)["input_ids"])


def summarize(pairs: list, wall: float, timed_out: bool, count_tokens: ReplyTokens,
              allow_missing_done: bool) -> dict:
    ok, reasons, no_done, usage = [], Counter(), 0, []
    tool_total = tool_good = tool_deltas = 0
    for req, res in pairs:
        if req["kind"] == "tool":
            tool_total += 1
        if res is None:
            reasons["timeout (unfinished)"] += 1
            continue
        if req["kind"] == "tool":
            tool_deltas += bool(res["calls"])
            tool_good += tool_call_ok(res, req)
        no_done += bool(res["ttft"] is not None and res["finish"] and not res["done"] and not res["error"])
        why = verdict(res, allow_missing_done)
        if why:
            reasons[why] += 1
            continue
        res["tokens"] = count_tokens(res["text"], res["calls"])
        ok.append(res)
        usage.append(res["usage"])
    tokens = sum(r["tokens"] for r in ok)
    r3 = lambda x: None if x is None else round(x, 3)  # noqa: E731
    return {
        "requests": len(pairs), "ok": len(ok), "failed": len(pairs) - len(ok), "no_done": no_done,
        "fail_reasons": dict(reasons.most_common(5)), "timed_out": timed_out, "wall_s": r3(wall),
        "tokens": tokens, "tokens_per_s": round(tokens / wall, 2) if ok and wall else None,
        "usage_tokens": sum(usage) if usage and None not in usage else None,
        "p50_latency_s": r3(pct([r["latency"] for r in ok], 0.5)),
        "p95_latency_s": r3(pct([r["latency"] for r in ok], 0.95)),
        "p50_ttft_s": r3(pct([r["ttft"] for r in ok], 0.5)),
        "tool_prompts": tool_total, "tool_deltas": tool_deltas,
        "tool_correct": round(tool_good / tool_total, 3) if tool_total else None,
    }


# --- servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cmd(name: str, model_dir: Path, port: int, work: Path, threads: int) -> tuple[list, dict, str]:
    """(command, environment, readiness path) of one server."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    if name.startswith("tooltune"):
        cmd = [str(REPO / ".venv" / "bin" / "tooltune"), "api", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port)]
        if name == "tooltune-int8":
            cmd += ["--quantize", "int8"]
        if name in ("tooltune-bf16", "tooltune-fp32"):  # one weights path, not the one measured fastest
            cmd += ["--cpu-weights", name.removeprefix("tooltune-")]
        if name == "tooltune-nospec":
            cmd += ["--speculative", "false"]
        if name == "tooltune-nochunk":
            cmd += ["--prefill-chunk-tokens", "0"]
        return cmd, env, "/health"
    if name == "transformers":
        cmd = [str(REPO / ".venv" / "bin" / "transformers"), "serve", str(model_dir), "--continuous-batching",
               "--device", "cpu", "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port)]
        return cmd, dict(env, CUDA_VISIBLE_DEVICES=""), "/health"
    ensure_lf_venv()
    import yaml  # a YAML config: LLaMA-Factory 0.9.5's JSON config loading is broken (json.load on a Path)
    cfg = work / "lf-api.yaml"
    cfg.write_text(yaml.safe_dump({"model_name_or_path": str(model_dir), "template": "smollm2",
                                   "infer_backend": "huggingface", "infer_dtype": "float32"}))
    env = dict(lf_env(work), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="",
               API_HOST="127.0.0.1", API_PORT=str(port), TOKENIZERS_PARALLELISM="false")
    return [lf_bin("llamafactory-cli"), "api", str(cfg)], env, "/v1/models"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (its own session), SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def log_tail(path: Path, n: int = 15) -> str:
    return "".join(path.read_text(errors="replace").splitlines(True)[-n:]) if path.exists() else ""


def engine_timing(base: str, name: str) -> dict | None:
    """tooltune's own counters (from /health): where a level's time went inside the engine."""
    if not name.startswith("tooltune"):
        return None
    try:
        return httpx.get(base + "/health", timeout=5).json().get("timing")
    except (httpx.HTTPError, ValueError):
        return None


def engine_split(before: dict, after: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    steps = d.get("decode_steps") or 1
    return {"prefill_s": round(d.get("prefill_s", 0), 2), "prefill_tokens": int(d.get("prefill_tokens", 0)),
            "chunked_prefill_tokens": int(d.get("chunked_prefill_tokens", 0)),
            "decode_s": round(d.get("decode_s", 0), 2), "decode_steps": int(d.get("decode_steps", 0)),
            "ms_per_step": round(1e3 * d.get("decode_s", 0) / steps, 1),
            "rows_per_step": round(d.get("decode_rows", 0) / steps, 1),
            "drafts_kept": f"{int(d.get('draft_accepted', 0))}/{int(d.get('draft_tokens', 0))}"}


def bench_server(name: str, model_dir: Path, work: Path, count_tokens: ReplyTokens, args) -> dict:
    port = free_port()
    cmd, env, ready = server_cmd(name, model_dir, port, work, args.threads)
    base, log_path = f"http://127.0.0.1:{port}", work / f"{name}.log"
    out: dict = {"cmd": " ".join(cmd), "log": str(log_path), "levels": {}}
    log(f"{name}: {out['cmd']}")
    t0 = time.time()
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
    try:
        while True:  # readiness: poll until the ready path answers 200
            if proc.poll() is not None:
                out["error"] = f"exited with {proc.returncode} before ready; log tail:\n{log_tail(log_path)}"
                return out
            if time.time() - t0 > args.start_timeout:
                out["error"] = f"not ready after {args.start_timeout:.0f} s"
                return out
            try:
                if httpx.get(base + ready, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        out["startup_s"] = round(time.time() - t0, 1)
        url = base + "/v1/chat/completions"
        pairs, wall, timed_out = asyncio.run(run_level(url, str(model_dir), 1, 1, args.start_timeout))
        warm = pairs[0][1]
        why = "timeout" if timed_out else verdict(warm, allow_missing_done=True)  # [DONE] is judged per level
        out["warmup_s"] = round(wall, 2)
        if why:
            out["error"] = f"warm-up request failed: {why}"
            return out
        log(f"{name}: ready in {out['startup_s']} s, warm-up {out['warmup_s']} s")
        for n in args.levels:
            n_req = max(args.min_requests, n * args.requests_per_client)
            before = engine_timing(base, name)
            pairs, wall, timed_out = asyncio.run(run_level(url, str(model_dir), n, n_req, args.level_timeout))
            lv = out["levels"][str(n)] = summarize(pairs, wall, timed_out, count_tokens, args.allow_missing_done)
            log(f"{name} x{n}: {lv['ok']}/{lv['requests']} ok, {lv['tokens_per_s']} tokens/s, "
                f"p95 {lv['p95_latency_s']} s" + (" TIMED OUT" if timed_out else ""))
            if before is not None and (after := engine_timing(base, name)) is not None:
                lv["engine"] = engine_split(before, after)
                log(f"  engine: {lv['engine']}")
            if args.show_samples:
                for req, res in pairs[:2]:
                    if res:
                        log(f"  {req['kind']}: {res['text'][:100]!r} calls={res['calls']} finish={res['finish']}")
            if timed_out:
                out["error"] = f"level {n} timed out after {args.level_timeout:.0f} s; later levels skipped"
                break
        return out
    finally:
        stop(proc)


# --- main -------------------------------------------------------------------------------------
def merge_rounds(results: list[dict]) -> dict:
    """One server's rounds as one result: per level the round with the median tokens/s (the lower
    middle one for an even count), with every round's tokens/s and p95 kept beside it."""
    out = dict(results[-1])
    out["levels"] = {}
    for n in dict.fromkeys(k for r in results for k in r["levels"]):
        levels = sorted((r["levels"][n] for r in results if n in r["levels"]), key=lambda lv: lv["tokens_per_s"] or 0)
        chosen = dict(levels[(len(levels) - 1) // 2])
        if len(levels) > 1:
            chosen["rounds_tokens_per_s"] = [lv["tokens_per_s"] for lv in levels]
            chosen["rounds_p95_latency_s"] = [lv["p95_latency_s"] for lv in levels]
        out["levels"][n] = chosen
    errors = [r["error"] for r in results if r.get("error")]
    out.pop("error", None)
    if errors:
        out["error"] = errors[-1]
    return out


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(DEFAULT_SERVERS), help=f"servers to run, in order: {', '.join(SERVERS)}")
    ap.add_argument("--skip", default="", help="servers not to run")
    ap.add_argument("--levels", default="1,4,16", help="concurrent clients per level")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--min-requests", type=int, default=4, help="requests per level at least")
    ap.add_argument("--level-timeout", type=float, default=300, help="seconds per server per level")
    ap.add_argument("--start-timeout", type=float, default=300, help="seconds for a server to get ready, and for its warm-up request")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP/MKL threads of the server")
    ap.add_argument("--allow-missing-done", action="store_true",
                    help="a stream that ends after a finish_reason without [DONE] counts as served")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every server this many times, in alternating order; per level the median round counts")
    ap.add_argument("--show-samples", action="store_true", help="log the first replies of each level")
    ap.add_argument("--keep", action="store_true", help="keep the server logs (printed path)")
    ap.add_argument("--model", default=MODEL,
                    help="a registry name or a local HF folder: e.g. the demo agent merged by `tooltune "
                         "export`, so that the tool prompts get tool calls to check (the base model makes none)")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    servers = [s for s in args.only.split(",") if s and s not in skip]
    if set(servers) - set(SERVERS) or skip - set(SERVERS):
        ap.error(f"unknown server: {sorted((set(servers) | skip) - set(SERVERS))}")
    args.levels = [int(x) for x in args.levels.split(",") if x]

    from tooltune.model.hub import pull
    model_dir = Path(args.model) if Path(args.model).is_dir() else Path(pull(args.model))
    count_tokens = ReplyTokens(model_dir)
    work = Path(tempfile.mkdtemp(prefix="tooltune-serve-bench-"))
    log(f"model {model_dir}; logs in {work}")
    rounds: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for r in range(args.rounds):
            # Alternate the order, so a machine that slows down (or speeds up) over the run
            # does not favour whoever goes first.
            for name in (servers if r % 2 == 0 else servers[::-1]):
                try:
                    res = bench_server(name, model_dir, work, count_tokens, args)
                except Exception as e:  # one broken server must not lose the others' figures
                    res = {"error": f"{type(e).__name__}: {e}", "levels": {}}
                if res.get("error"):
                    log(f"{name}: {res['error']}")
                rounds[name].append(res)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    runs = {name: merge_rounds(results) for name, results in rounds.items()}

    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    print(f"\nmodel {args.model} ({model_dir}); max_tokens {MAX_TOKENS}, temperature 0, streaming; "
          f"server threads {args.threads}; [DONE] {'optional' if args.allow_missing_done else 'required'}")
    print(f"{'server':<14}{'clients':>8}{'ok':>5}{'fail':>5}{'noDONE':>7}{'tokens/s':>10}{'p50 lat':>9}"
          f"{'p95 lat':>9}{'p50 TTFT':>9}{'tool ok':>8}{'deltas':>7}  failures")
    for name, r in runs.items():
        if not r["levels"]:
            print(f"{name:<14}{'-':>8}  {r.get('error', '').splitlines()[0] if r.get('error') else ''}")
        for n, lv in r["levels"].items():
            fails = "; ".join(f"{k[:60]} x{v}" for k, v in lv["fail_reasons"].items())
            print(f"{name:<14}{n:>8}{lv['ok']:>5}{lv['failed']:>5}{lv['no_done']:>7}"
                  f"{fmt(lv['tokens_per_s'], '.1f'):>10}{fmt(lv['p50_latency_s'], '.2f'):>9}"
                  f"{fmt(lv['p95_latency_s'], '.2f'):>9}{fmt(lv['p50_ttft_s'], '.2f'):>9}"
                  f"{fmt(lv['tool_correct'], '.0%'):>8}{lv['tool_deltas']:>4}/{lv['tool_prompts']:<2}  {fails}")
    for name, r in runs.items():
        for n, lv in r["levels"].items():
            if "rounds_tokens_per_s" in lv:
                print(f"  {name} x{n} rounds: tokens/s {lv['rounds_tokens_per_s']}, p95 s {lv['rounds_p95_latency_s']}")
    lvl = lambda s, n, k: runs.get(s, {}).get("levels", {}).get(str(n), {}).get(k)  # noqa: E731
    ratios, p95_16 = {}, {s: lvl(s, 16, "p95_latency_s") for s in runs}
    for ours in (s for s in runs if s.startswith("tooltune")):
        for other in ("transformers", "llamafactory"):
            for n in (1, 16):
                ratios[f"tokens_per_s_{ours}_vs_{other}_{n}"] = _ratio(lvl(ours, n, "tokens_per_s"),
                                                                      lvl(other, n, "tokens_per_s"))
            ratios[f"p95_latency_16_{ours}_vs_{other}"] = _ratio(p95_16.get(ours), p95_16.get(other))
    print("p95 latency at 16 clients (s): " + ", ".join(f"{s} {fmt(v, '.2f')}" for s, v in p95_16.items()))
    for k, v in ratios.items():
        print(f"{k}: {fmt(v, '')}")
    summary = {"model": args.model, "model_dir": str(model_dir), "max_tokens": MAX_TOKENS, "levels": args.levels,
               "requests_per_client": args.requests_per_client, "min_requests": args.min_requests,
               "threads": args.threads, "rounds": args.rounds, "allow_missing_done": args.allow_missing_done,
               "level_timeout_s": args.level_timeout, "ratios": ratios, "p95_latency_16_s": p95_16,
               "errors": {s: r["error"] for s, r in runs.items() if r.get("error")}, "servers": runs,
               "logs": str(work) if args.keep else None}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
