"""`tooltune eval [CONFIG.yaml] [key=value ...]`: tool-call accuracy of a model (and adapter) on a
dataset, scored the way `tooltune train` scores its held-out split before and after tuning.

With `val_size` (and the same `seed`, `max_samples`) it picks the very conversations training held
out, so a base model, an adapter and a merged export can be compared on one split. Replies come
from the serving engine with the weights `tooltune api` would use."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

from tooltune.errors import UserError



@dataclass
class EvalConfig:
    model_name_or_path: str = ""
    adapter_name_or_path: str | None = None
    template: str | None = None
    dataset: str = ""
    dataset_dir: str = "data"
    max_samples: int | None = None        # conversations read from each dataset
    val_size: float = 0.0                 # score the held-out split training would make (same seed)
    seed: int = 42
    eval_toolcall_samples: int = 40       # cases scored (an assistant turn of a conversation is one)
    max_new_tokens: int = 96              # per case; more where the expected answer is longer
    batch_size: int = 32
    dtype: str = "auto"
    device: str = "cpu"
    save_path: str | None = None          # every case as JSON: expected, predicted, raw reply
    # calls held to the offered tools' schemas, as `tooltune api` holds them by default (None: where
    # the template can; false: off). Measured on held-out tool families: 47.9% -> 51.0% (AST)
    strict_tools: bool | None = None


def register(sub) -> None:
    p = sub.add_parser("eval", help="tool-call accuracy of a model or adapter on a dataset",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_dataset_args(p)
    p.add_argument("--template")
    p.add_argument("--save_path", "--save-path", "-o")
    p.set_defaults(func=cmd_eval)


def add_model_and_dataset_args(p) -> None:
    """[CONFIG.yaml] [key=value ...] --model --adapter --dataset --dataset_dir: what `eval` and
    `generate` both take."""
    p.add_argument("config", nargs="?", help="a YAML config")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--model", "--model_name_or_path", dest="model_name_or_path")
    p.add_argument("--adapter", "--adapter_name_or_path", dest="adapter_name_or_path")
    p.add_argument("--dataset")
    p.add_argument("--dataset_dir", "--dataset-dir")


def cmd_eval(args: argparse.Namespace) -> int:
    from tooltune.config import flag_overrides, load_config, split_config_arg

    config, overrides = split_config_arg(args.config, args.overrides)
    overrides += flag_overrides(args, ("model_name_or_path", "adapter_name_or_path", "dataset", "dataset_dir",
                                       "template", "save_path"))
    cfg = load_config(EvalConfig, config, overrides)
    result = run_eval(cfg, say=lambda msg: print(msg, flush=True))
    print(json.dumps(result["scores"]))
    return 0


def run_eval(cfg: EvalConfig, say=lambda msg: None) -> dict:
    """Scores (and the cases, and where they were saved) for `cfg`."""
    from tooltune.data.loader import load_conversations
    from tooltune.evaluate.toolcall import evaluate_toolcalls, format_table
    from tooltune.fsutil import atomic_write_text
    from tooltune.engine.weights import load_placed
    from tooltune.model.loader import template_name_for
    from tooltune.templates import get_template

    if not cfg.model_name_or_path:
        raise UserError("eval needs model_name_or_path (--model): a registry name, hub id or folder")
    if not cfg.dataset:
        raise UserError("eval needs dataset (--dataset): a dataset_info.json name, a file or a hub id")
    data = load_conversations(cfg.dataset, dataset_dir=cfg.dataset_dir, max_samples=cfg.max_samples,
                              val_size=cfg.val_size, seed=cfg.seed)
    convs = data.val if cfg.val_size else data.train
    if not any(c.tools for c in convs):
        raise UserError(f"dataset {cfg.dataset!r}: no conversation offers tools, so there is no tool call to score")
    template = get_template(cfg.template or template_name_for(cfg.model_name_or_path, cfg.adapter_name_or_path))
    # the weights path `tooltune api` takes with the same dtype (engine/weights.py), so eval scores its replies
    model, tokenizer, weights = load_placed(cfg.model_name_or_path, cfg.adapter_name_or_path, cfg.dtype, cfg.device)
    say(weights.describe())
    started = time.time()
    scores, records = evaluate_toolcalls(model, tokenizer, template, convs, limit=cfg.eval_toolcall_samples,
                                         max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                                         strict_tools=cfg.strict_tools)
    say(f"tool-call eval of {cfg.adapter_name_or_path or cfg.model_name_or_path} on {cfg.dataset} "
        f"({scores.cases} cases, template {template.name}{'' if cfg.strict_tools is not False else ', strict tools off'}) in {time.time() - started:.0f}s: "
        f"call-or-not {scores.decision:.1%}, names {scores.name:.1%}, arguments {scores.arguments:.1%}, "
        f"overall {scores.overall:.1%} (exact JSON), {scores.ast:.1%} (AST)\n{format_table(scores)}")
    result = {"scores": scores.to_dict(), "cases": records}
    if cfg.save_path:
        path = atomic_write_text(cfg.save_path, json.dumps(result, indent=2, ensure_ascii=False))
        say(f"cases written to {path}")
    return result
