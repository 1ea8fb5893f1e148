"""`tooltune train [CONFIG.yaml] [key=value ...]`."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("train", help="tune a model (sft or pt; lora, full or freeze)",
                       description="Keys follow LLaMA-Factory's names; see examples/*.yaml.")
    p.add_argument("config", nargs="?", help="a YAML config")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from tooltune.train.args import load_train_config
    from tooltune.train.sft import run_train
    from tooltune.config import split_config_arg

    config, overrides = split_config_arg(args.config, args.overrides)
    result = run_train(load_train_config(config, overrides))
    print(json.dumps(result, indent=2))
    return 0
