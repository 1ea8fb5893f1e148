"""`tooltune export [CONFIG.yaml] --model M --adapter DIR --export_dir OUT [--gguf q8_0|f16] ...`."""
from __future__ import annotations

import argparse
import json



def register(sub) -> None:
    p = sub.add_parser("export", help="merge a LoRA adapter into its model; safetensors shards, GGUF, Modelfile",
                       description="Keys follow LLaMA-Factory's export config; command-line flags override the YAML.")
    p.add_argument("config", nargs="?", help="a YAML config with LLaMA-Factory's export keys")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--model", "--model_name_or_path", dest="model_name_or_path")
    p.add_argument("--adapter", "--adapter_name_or_path", dest="adapter_name_or_path")
    p.add_argument("--export_dir", "-o")
    p.add_argument("--export_size", type=float, help="GB per safetensors shard (default 5)")
    p.add_argument("--export_dtype", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--template")
    p.add_argument("--gguf", choices=["f16", "q8_0"], help="also write model.gguf and an Ollama Modelfile")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace a non-empty export_dir")
    p.set_defaults(func=cmd_export)


FLAG_KEYS = ("model_name_or_path", "adapter_name_or_path", "export_dir", "export_size", "export_dtype",
             "template", "gguf", "overwrite")


def cmd_export(args: argparse.Namespace) -> int:
    from tooltune.config import flag_overrides, load_config, split_config_arg
    from tooltune.export.merge import ExportConfig, export_model

    config, overrides = split_config_arg(args.config, args.overrides)
    cfg = load_config(ExportConfig, config, overrides + flag_overrides(args, FLAG_KEYS), )
    report = export_model(cfg)
    print(json.dumps(report.to_dict(), indent=2))
    return 0
