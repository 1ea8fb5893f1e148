"""Agent quality on tools it has never seen: the general recipe, before and after tuning, in one run.

1. Unless --adapter is given: the data `examples/general_agent.yaml`'s header makes (the general
   corpus, its held-out families, the model's own chat replies), then the recipe, with its
   wall-clock time. --model/--template/--output retarget it (e.g. gemma-3-270m, gemma).
2. Per-category AST scores on the held-out families (no tool of them is in training), for the
   untuned model, the tuned one, and the tuned one with strict tools (calls held to the schemas).
3. The external sets, written by other people: glaive (../shared/data) and Seal-Tools, API-Bank,
   ToolTalk (../shared/data/tooluse; evaluation sets, never training data), untuned vs tuned.
4. The reference article's GPA client (examples/gpa_client.py, the openai library) against
   `tooltune api` serving the tuned model: greedy with and without strict tools, and
   --gpa-repeats runs at the server's default sampling (the client sets no temperature).
5. Tool requests written by hand, the way people ask (bench/natural_requests), per category.
6. Does it still chat: held-out plain prompts (alpaca_en_demo rows the chat mix did not use):
   the share answered in text, the share that ends within 256 tokens, and the loss of the base
   model's own replies under each model (the tuned model's rise is what tuning moved).

Restraint (irrelevance, missing) is printed beside accuracy, always. The last line is JSON.

    .venv/bin/python bench/agent_quality.py [--adapter saves/smollm2-general] [--samples 96]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
EXTERNAL = [("glaive_toolcall_en_demo", SHARED), ("seal_tools", SHARED / "tooluse"),
            ("api_bank", SHARED / "tooluse"), ("tooltalk", SHARED / "tooluse")]
TOOLTUNE = [sys.executable, "-m", "tooltune.cli"]


def cpu() -> str:
    flags = set()
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    shown = sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    return f"{model}, {os.cpu_count()} cores, {' '.join(shown) or 'no AVX2'}"


def sh(*args: str) -> None:
    subprocess.run([*TOOLTUNE, *args], check=True, cwd=ROOT)


def train(args) -> tuple[Path, float, float]:
    """The recipe's data and training run, as the yaml's header says: (adapter, data s, training s)."""
    out = Path(args.output)
    started = time.time()
    sh("data", "synth", "-o", "data/tooltune_general.json", "-n", str(args.rows), "--langs", "en,en,en,zh")
    sh("data", "synth", "-o", "data/tooltune_general_test.json", "-n", "320", "--split", "test",
       "--langs", "en,en,en,zh", "--seed", "1")
    sh("generate", "--model", args.model, "--dataset", "alpaca_en_demo", "--dataset_dir", str(SHARED),
       "-n", "240", "-o", "data/tooltune_self_chat.json")
    data_seconds = time.time() - started
    overrides = [f"model_name_or_path={args.model}", f"output_dir={out}", "overwrite_output_dir=true"]
    if args.template:
        overrides.append(f"template={args.template}")
    started = time.time()
    sh("train", "examples/general_agent.yaml", *overrides, *args.overrides)
    return out, data_seconds, time.time() - started


def scores(model: str, adapter: str | None, dataset: str, dataset_dir: Path, samples: int,
           strict: bool = False) -> dict:
    from tooltune.evaluate.commands import EvalConfig, run_eval

    cfg = EvalConfig(model_name_or_path=model, adapter_name_or_path=adapter, dataset=dataset,
                     dataset_dir=str(dataset_dir), eval_toolcall_samples=samples, strict_tools=strict,
                     max_samples=400)
    return run_eval(cfg)["scores"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpa_flow(model: str, adapter: str | None, strict: bool, greedy: bool, repeats: int = 1) -> dict:
    """The article's client against a real `tooltune api` process on 127.0.0.1, `repeats` times;
    it sets no temperature, so the server's default sampling (or greedy) decides."""
    import httpx2 as httpx
    from openai import OpenAI

    spec = importlib.util.spec_from_file_location("gpa_client", ROOT / "examples" / "gpa_client.py")
    client_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client_module)
    port = _free_port()
    argv = [*TOOLTUNE, "api", "--model", model, "--port", str(port), "--strict-tools", str(strict).lower()]
    argv += ["--adapter", adapter] if adapter else []
    argv += ["--do_sample", "false"] if greedy else []
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="0", timeout=300, max_retries=0)
        for _ in range(repeats):
            try:
                name, arguments, answer = client_module.run(client)
            except SystemExit as e:   # the client's own "no tool call"
                runs.append({"call_ok": False, "ok": False, "call": None, "answer": str(e)})
                continue
            except Exception as e:    # noqa: BLE001 - e.g. arguments that are not JSON: the client fails
                runs.append({"call_ok": False, "ok": False, "call": None,
                             "answer": f"the client failed: {type(e).__name__}: {e}"})
                continue
            right = (name, arguments) == ("calculate_gpa", {"grades": ["A", "A", "B", "C"], "hours": [3, 4, 3, 2]})
            runs.append({"call_ok": right, "ok": right and "3.4" in (answer or ""), "call": [name, arguments],
                         "answer": answer})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"calls": sum(r["call_ok"] for r in runs), "answers": sum(r["ok"] for r in runs), "of": len(runs),
            "example": next((r for r in runs if not r["ok"]), runs[0])}


def still_chats(model: str, adapter: str | None, n: int = 24) -> dict:
    """Held-out plain prompts: replies in text, replies that end, and the loss of the base
    model's own replies (greedy, 256 tokens) under this model."""
    import torch

    from tooltune.data.loader import load_conversations
    from tooltune.conversation import Conversation
    from tooltune.evaluate.own_replies import own_replies
    from tooltune.model.loader import load_merged, template_name_for
    from tooltune.templates import get_template
    from tooltune.templates.parsers import get_parser
    from tooltune.templates.render import encode

    used = set()
    mix = ROOT / "data" / "tooltune_self_chat.json"
    if mix.exists():
        used = {row["conversations"][0]["value"] for row in json.loads(mix.read_text())}
    convs = [c for c in load_conversations("alpaca_en_demo", dataset_dir=str(SHARED)).train
             if c.messages[0]["content"] not in used][-n:]
    prompts = [[m for m in c.messages if m["role"] == "user"][:1] for c in convs]
    template = get_template(template_name_for(model, adapter))
    parser = get_parser(template.parser)
    out = {}
    base_replies = None
    for name, which in (("untuned", None), ("tuned", adapter)):
        net, tokenizer = load_merged(model, which, dtype="fp32")
        replies = own_replies(net, tokenizer, template, prompts, max_new_tokens=256)
        if which is None:
            base_replies = replies
        losses = []
        with torch.no_grad():
            for p, r in zip(prompts, base_replies):
                if r is None:
                    continue
                enc = encode(tokenizer, template, Conversation([*p, {"role": "assistant", "content": r}], []),
                             loss_on="last")
                ids = torch.tensor([enc.ids])
                labels = torch.tensor([[t if m else -100 for t, m in zip(enc.ids, enc.mask)]])
                losses.append(float(net(input_ids=ids, labels=labels).loss))
        ended = [r for r in replies if r is not None]
        out[name] = {"text": round(sum(not parser.parse(r).calls for r in ended) / len(prompts), 3),
                     "ended": round(len(ended) / len(prompts), 3),
                     "base_reply_loss": round(sum(losses) / max(len(losses), 1), 4),
                     "example": next((r for r in replies if r), "")[:200]}
    return out


NATURAL = ROOT / "bench" / "natural_requests"


def natural_requests(model: str, adapter: str | None) -> dict:
    """Tool requests written by hand the way people ask (bench/natural_requests: 42 cases over 15
    tools of their own, English and Chinese, every single-turn kind, 11 with no fitting tool),
    strict tools, AST: the held-out split shares the generator's phrasing, these do not."""
    return scores(model, adapter, "natural_requests", NATURAL, 100, strict=True)


def table(rows: dict[str, dict]) -> str:
    """Per-category AST scores, one column per system."""
    names = list(rows)
    cats = list(dict.fromkeys(c for r in rows.values() for c in r["by_category"]))
    lines = [f"{'category':<18}" + "".join(f"{n:>16}" for n in names)]
    for c in cats:
        cells = [f"{r['by_category'][c]['ast']:.1%}" if c in r["by_category"] else "-" for r in rows.values()]
        lines.append(f"{c:<18}" + "".join(f"{x:>16}" for x in cells))
    lines.append(f"{'all (AST)':<18}" + "".join(f"{r['ast']:>16.1%}" for r in rows.values()))
    lines.append(f"{'all (exact JSON)':<18}" + "".join(f"{r['overall']:>16.1%}" for r in rows.values()))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--template", default=None)
    ap.add_argument("--adapter", help="score this adapter instead of training one")
    ap.add_argument("--output", default="saves/smollm2-general")
    ap.add_argument("--rows", type=int, default=2000, help="general rows (760 fit an hour on AVX2 only)")
    ap.add_argument("--samples", type=int, default=96, help="held-out-family cases")
    ap.add_argument("--external-samples", type=int, default=40)
    ap.add_argument("--skip", default="", help="comma list of: unseen,natural,external,gpa,chat")
    ap.add_argument("--gpa-repeats", type=int, default=8, help="client runs at the server's default sampling")
    ap.add_argument("overrides", nargs="*", help="key=value for the recipe's training (e.g. eval_dataset=none "
                                                 "eval_toolcall=false: this script scores the adapter itself)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(f"cpu: {cpu()}", flush=True)
    result = {"cpu": cpu(), "model": args.model}
    if args.adapter:
        adapter = args.adapter
    else:
        path, data_s, train_s = train(args)
        adapter = str(path)
        result.update(data_seconds=round(data_s), train_seconds=round(train_s))
        print(f"data {data_s:.0f}s, training (with its evals) {train_s:.0f}s", flush=True)
    result["adapter"] = adapter

    if "unseen" not in skip:
        unseen = {"untuned": scores(args.model, None, "tooltune_general_test", ROOT / "data", args.samples),
                  "tuned": scores(args.model, adapter, "tooltune_general_test", ROOT / "data", args.samples),
                  "tuned, strict": scores(args.model, adapter, "tooltune_general_test", ROOT / "data",
                                          args.samples, strict=True)}
        print(f"\nheld-out tool families ({args.samples} cases, AST matching):\n{table(unseen)}", flush=True)
        result["unseen"] = unseen

    if "natural" not in skip:
        result["natural"] = {k: natural_requests(args.model, a) for k, a in (("untuned", None), ("tuned", adapter))}
        print(f"\nrequests written by hand (bench/natural_requests, strict tools):\n{table(result['natural'])}", flush=True)

    if "external" not in skip:
        external = {}
        for name, folder in EXTERNAL:
            if not (folder / "dataset_info.json").exists() and not (folder / f"{name}.json").exists():
                continue
            external[name] = {"untuned": scores(args.model, None, name, folder, args.external_samples),
                              "tuned": scores(args.model, adapter, name, folder, args.external_samples)}
            print(f"\n{name} ({args.external_samples} cases):\n{table(external[name])}", flush=True)
        result["external"] = external

    if "gpa" not in skip:
        result["gpa"] = {"strict, greedy": gpa_flow(args.model, adapter, strict=True, greedy=True),
                         "free, greedy": gpa_flow(args.model, adapter, strict=False, greedy=True),
                         "strict, sampled": gpa_flow(args.model, adapter, strict=True, greedy=False,
                                                     repeats=args.gpa_repeats)}
        print("\nGPA client (the server's default sampling unless greedy):", flush=True)
        for k, v in result["gpa"].items():
            e = v["example"]
            print(f"  {k:<16} exact call {v['calls']}/{v['of']}, answer with 3.4 {v['answers']}/{v['of']}"
                  f"  e.g. call={e['call']} answer={(e['answer'] or '')[:80]!r}", flush=True)

    if "chat" not in skip:
        result["chat"] = still_chats(args.model, adapter)
        print("\nplain prompts (held out):", flush=True)
        for k, v in result["chat"].items():
            print(f"  {k:<8} text {v['text']:.0%}  ended {v['ended']:.0%}  loss of the base model's replies "
                  f"{v['base_reply_loss']:.3f}  e.g. {v['example'][:100]!r}", flush=True)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
