"""`tooltune data preview | validate | stats | synth`."""
from __future__ import annotations

import argparse
import json
import statistics
import sys

from tooltune.errors import UserError


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="registry name(s), comma-separated, a file path or a hub id")
    p.add_argument("--dataset_dir", "--dataset-dir", default="data", help="folder with dataset_info.json")
    p.add_argument("--max_samples", "--max-samples", type=int, default=None)
    p.add_argument("--strict", action="store_true", help="fail at the first bad row instead of skipping it")


def _add_model(p: argparse.ArgumentParser) -> None:
    from tooltune.model.registry import DEFAULT_MODEL
    p.add_argument("--model", "--model_name_or_path", default=DEFAULT_MODEL, help="whose tokenizer to use")
    p.add_argument("--template", default=None, help="default: the model's own")
    p.add_argument("--cutoff_len", "--cutoff-len", type=int, default=None)
    p.add_argument("--train_on", "--train-on", choices=["all", "last", "tool_calls"], default="all")


def register(sub) -> None:
    data = sub.add_parser("data", help="preview, validate, summarize or synthesize datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("preview", help="show samples rendered with a template, trained tokens marked")
    _add_source(p)
    _add_model(p)
    p.add_argument("-n", "--num", type=int, default=2, help="how many samples")
    p.add_argument("--show-labels", "--show_labels", action="store_true",
                   help="mark trained spans with [[ ]] (besides colour) and list the trained tokens")
    p.set_defaults(func=cmd_preview)

    p = dsub.add_parser("validate", help="check every row; report bad ones with file, row and reason")
    _add_source(p)
    p.set_defaults(func=cmd_validate)

    p = dsub.add_parser("stats", help="token length percentiles and share of trained tokens")
    _add_source(p)
    _add_model(p)
    p.set_defaults(func=cmd_stats)

    p = dsub.add_parser("synth", help="generate tool-calling conversations (general corpus or the demo tools)")
    p.add_argument("-o", "--output", default="data/tooltune_demo.json",
                   help=".json (sharegpt, LLaMA-Factory compatible) or .jsonl (OpenAI messages)")
    p.add_argument("-n", "--num", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--langs", default="en,zh", help="comma-separated: en, zh")
    p.add_argument("--corpus", choices=["general", "demo"], default="general",
                   help="general: thousands of tools in every case kind (simple, multiple, parallel, "
                        "parallel_multiple, irrelevance, missing, multi_turn); demo: the 18 example tools, run for real")
    p.add_argument("--tools", default=None,
                   help="a .py file of typed, documented functions (or a JSON list of schemas): rows for these tools")
    p.add_argument("--split", choices=["train", "test", "all"], default="train",
                   help="general corpus: train = tools of the training families only; test = only the held-out "
                        "families (tools never seen in training)")
    p.add_argument("--holdout", type=float, default=None, help="general corpus: share of tool families held out (0.12)")
    p.add_argument("--distractors", type=int, default=3, help="demo corpus: at most this many unneeded tools offered per row")
    p.add_argument("--mix", default=None, help="kind weights, e.g. simple=20,irrelevance=25 (general) or "
                                                "single=45,no_tool=20 (demo)")
    p.set_defaults(func=cmd_synth)


def _load(args, strict=None):
    from tooltune.data.loader import load_conversations
    return load_conversations(args.dataset, dataset_dir=args.dataset_dir, max_samples=args.max_samples,
                              strict=args.strict if strict is None else strict)


def _tokenizer_and_template(args):
    from tooltune.model.hub import resolve_model
    from tooltune.model.loader import load_tokenizer
    from tooltune.templates import get_template
    resolved = resolve_model(args.model)
    return load_tokenizer(args.model), get_template(args.template or resolved.template or "default")


def cmd_preview(args) -> int:
    from rich.console import Console
    from rich.text import Text

    from tooltune.templates.render import trained_char_spans
    result = _load(args)
    tokenizer, template = _tokenizer_and_template(args)
    console = Console(highlight=False, soft_wrap=True)
    for i, conv in enumerate(result.train[: args.num]):
        text, spans = trained_char_spans(tokenizer, template, conv, args.train_on)
        out, pos = Text(), 0
        for a, b in spans:
            out.append(text[pos:a], style="dim")
            out.append("[[" if args.show_labels else "")
            out.append(text[a:b], style="bold green")
            out.append("]]" if args.show_labels else "")
            pos = b
        out.append(text[pos:], style="dim")
        meta = getattr(conv, "meta", None) or {}
        console.rule(f"sample {i} {meta.get('dataset', '')} row {meta.get('row', '?')} · template {template.name}")
        console.print(out)
        if args.show_labels:
            from tooltune.templates.render import encode
            enc = encode(tokenizer, template, conv, args.train_on, args.cutoff_len)
            console.print(f"[bold]{enc.n_trained}[/] of {len(enc.ids)} tokens trained "
                          "(green, between [[ ]]); the rest is context the loss ignores")
    console.print(result.report.summary())
    return 0


def cmd_validate(args) -> int:
    result = _load(args)
    report = result.report
    print(report.summary())
    for row in report.examples[:50]:
        print(f"  {row}")
    return 1 if report.skipped else 0


def cmd_stats(args) -> int:
    from tooltune.templates.render import encode
    result = _load(args)
    tokenizer, template = _tokenizer_and_template(args)
    lengths, trained = [], []
    for conv in result.train:
        enc = encode(tokenizer, template, conv, args.train_on)
        lengths.append(len(enc.ids))
        trained.append(enc.n_trained)
    if not lengths:
        raise UserError(f"dataset {args.dataset!r} has no usable rows")
    cuts = statistics.quantiles(lengths, n=100, method="inclusive") if len(lengths) > 1 else [lengths[0]] * 99
    with_calls = sum(any(m.get("tool_calls") for m in c.messages) for c in result.train)
    stats = {"conversations": len(lengths), "with_tool_calls": with_calls,
             "tokens_total": sum(lengths), "trained_tokens": sum(trained),
             "trained_share": round(sum(trained) / sum(lengths), 4),
             "length_p50": cuts[49], "length_p90": cuts[89], "length_p99": cuts[98], "length_max": max(lengths),
             "template": template.name, "skipped_rows": result.report.skipped}
    if args.cutoff_len:
        stats["over_cutoff"] = sum(n > args.cutoff_len for n in lengths)
    json.dump(stats, sys.stdout, indent=2)
    print()
    return 0


def cmd_synth(args) -> int:
    from collections import Counter

    from tooltune.data.synth import synthesize_to_file, write_conversations
    langs = tuple(s.strip() for s in args.langs.split(",") if s.strip())
    tools = None
    if args.tools:
        from tooltune.functions import load_tools
        tools = load_tools(args.tools)
    if args.corpus == "demo":
        path = synthesize_to_file(args.output, n=args.num, seed=args.seed, langs=langs, tools=tools,
                                  mix=args.mix, distractors=args.distractors)
        print(f"wrote {args.num} conversations to {path}")
        return 0
    from tooltune.data.synth.general import synthesize_general
    from tooltune.data.synth.split import HOLDOUT
    from tooltune.data.synth.harvest import families_from_tools
    families = families_from_tools(*tools) if tools else None
    convs = synthesize_general(args.num, seed=args.seed, langs=langs, mix=args.mix, split=args.split,
                               holdout=HOLDOUT if args.holdout is None else args.holdout, families=families)
    path = write_conversations(args.output, convs)
    kinds = Counter(c.meta["kind"] for c in convs)
    names = {t["function"]["name"] for c in convs for t in c.tools}
    print(f"wrote {len(convs)} conversations ({', '.join(f'{k} {v}' for k, v in kinds.items())}) "
          f"over {len(names)} distinct tools to {path}")
    return 0
