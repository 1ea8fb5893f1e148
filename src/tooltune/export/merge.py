"""Merge a LoRA adapter into its base model and write a self-contained model folder.

The folder holds sharded safetensors (+ index), the tokenizer with the template the adapter was
trained with, a generation config that stops at the template's end-of-turn token, tooltune.json,
and optionally a GGUF + Ollama Modelfile. It is built in a hidden sibling folder and renamed into
place at the end, so an interrupted export never leaves a half-written export_dir.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from tooltune.errors import UserError
from tooltune.fsutil import replace_dir
from tooltune.model.hub import META_FILE
from tooltune.templates.render import stop_token_ids

# The GGUF and its Modelfile get their own folder: transformers, given gguf_file= in a folder that
# also holds tokenizer_config.json, mixes the two and loses the GGUF's special tokens.
GGUF_DIR, GGUF_NAME = "gguf", "model.gguf"


@dataclass
class ExportConfig:
    """LLaMA-Factory's export keys (model_name_or_path, adapter_name_or_path, export_dir, ...)."""

    export_dir: str
    model_name_or_path: str | None = None  # default: the base recorded in the adapter's tooltune.json
    adapter_name_or_path: str | None = None
    template: str | None = None            # default: the adapter's template, else the model's
    export_size: float = 5.0               # GB per safetensors shard (LLaMA-Factory's default)
    export_dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: the base's stored dtype
    export_legacy_format: bool = False     # LLaMA-Factory: .bin instead of safetensors (refused)
    gguf: Literal["f16", "q8_0"] | None = None
    overwrite: bool = False
    export_device: str = "cpu"
    export_hub_model_id: str | None = None
    export_quantization_bit: int | None = None


@dataclass
class ExportReport:
    export_dir: Path
    base: str
    adapter: str | None
    template: str
    dtype: str
    shards: list[tuple[str, int]]          # (file name, bytes)
    seconds: dict[str, float] = field(default_factory=dict)
    gguf: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["export_dir"] = str(self.export_dir)
        return d


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _check_config(cfg: ExportConfig) -> None:
    if cfg.export_legacy_format:
        raise UserError("export_legacy_format (.bin weights) is not supported: tooltune writes safetensors only")
    if cfg.export_hub_model_id:
        raise UserError("export_hub_model_id is not supported: upload the folder with `huggingface-cli upload`")
    if cfg.export_quantization_bit:
        raise UserError("export_quantization_bit (GPTQ) is not supported; use gguf=q8_0 for a quantized file")
    if cfg.export_size <= 0:
        raise UserError(f"export_size must be a positive number of GB, got {cfg.export_size}")
    if not cfg.export_dir:
        raise UserError("export_dir is required")


def resolve_sources(cfg: ExportConfig) -> tuple[str, Path | None, str]:
    """(base model, adapter folder, template name) from the config and the adapter's records."""
    from tooltune.model.hub import resolve_model

    adapter = Path(cfg.adapter_name_or_path).expanduser() if cfg.adapter_name_or_path else None
    meta: dict = {}
    if adapter is not None:
        if not (adapter / "adapter_config.json").is_file():
            raise UserError(f"adapter {adapter} not found: expected a folder with adapter_config.json")
        meta = _read_json(adapter / META_FILE)
    base = cfg.model_name_or_path or meta.get("base_path") or meta.get("base_model")
    if not base and adapter is not None:
        base = _read_json(adapter / "adapter_config.json").get("base_model_name_or_path")
    if not base:
        raise UserError("no model to export: pass --model (model_name_or_path)")
    if adapter is None:
        _log("note: no adapter given; exporting the model as it is")
    template = cfg.template or meta.get("template") or resolve_model(base).template
    if not template:
        raise UserError(f"no chat template known for {base}: pass --template")
    return str(base), adapter, template


def _prepare_dir(out: Path, overwrite: bool, protected: list[Path]) -> None:
    resolved = out.resolve()
    for p in protected:
        if p is not None and resolved == p.resolve():
            raise UserError(f"export_dir {out} is the model or adapter being exported: pick another folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"export_dir {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"export_dir {out} is not empty: pass --overwrite (overwrite=true) to replace it")


def _torch_dtype(name: str, base_config: dict):
    import torch

    if name == "auto":
        stored = str(base_config.get("dtype") or base_config.get("torch_dtype") or "float32")
        name = {"bfloat16": "bf16", "float16": "fp16"}.get(stored, "fp32")
    return name, {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def load_merged(base: str, adapter: Path | None, device: str = "cpu"):
    """The base model in fp32 with the adapter folded into its weights (a plain transformers model)."""
    from tooltune.model.loader import load_model

    model = load_model(base, dtype="fp32", adapter=adapter, device=device)
    if adapter is not None:
        model = model.merge_and_unload()  # type: ignore[operator]  # W + scale * B @ A, in fp32 so the merge loses nothing
    return model.eval()


def load_export_tokenizer(base: str, adapter: Path | None, template):
    """The adapter's tokenizer when it saved one (it may add tokens), else the base's; our template."""
    from transformers import AutoTokenizer

    from tooltune.model.hub import resolve_model

    src = adapter if adapter is not None and (adapter / "tokenizer_config.json").is_file() \
        else resolve_model(base).path
    tok = AutoTokenizer.from_pretrained(src)
    tok.chat_template = template.chat_template
    return tok


def export_model(cfg: ExportConfig, log: Callable[[str], None] = _log) -> ExportReport:
    from tooltune.export import gguf as gguf_mod
    from tooltune.model.hub import read_meta, resolve_model
    from tooltune.templates import get_template

    _check_config(cfg)
    t0 = time.perf_counter()
    base, adapter, template_name = resolve_sources(cfg)
    template = get_template(template_name)
    resolved = resolve_model(base)
    out = Path(cfg.export_dir).expanduser()
    _prepare_dir(out, cfg.overwrite, [resolved.path] + ([adapter] if adapter else []))
    if cfg.gguf:  # refuse an architecture we cannot write before spending time on the merge
        from transformers import AutoConfig

        gguf_mod.gguf_arch(AutoConfig.from_pretrained(resolved.path))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    seconds: dict[str, float] = {}
    try:
        tmp.mkdir()
        log(f"merging {adapter or '(no adapter)'} into {base}")
        model = load_merged(base, adapter, cfg.export_device)
        tok = load_export_tokenizer(base, adapter, template)
        seconds["load_merge"] = time.perf_counter() - t0

        dtype_name, dtype = _torch_dtype(cfg.export_dtype, _read_json(resolved.path / "config.json"))
        eos = stop_token_ids(tok, template)
        gen = model.generation_config
        gen.eos_token_id = eos[0] if len(eos) == 1 else eos
        if gen.pad_token_id is None:
            gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = gen.pad_token_id
        gguf_info = None
        if cfg.gguf:  # from the fp32 merge, before any cast to a smaller export dtype
            t = time.perf_counter()
            meta = read_meta(resolved.path)
            (tmp / GGUF_DIR).mkdir()
            rep = gguf_mod.write_gguf(model, tok, tmp / GGUF_DIR / GGUF_NAME, qtype=cfg.gguf,
                                      chat_template=template.chat_template,
                                      end_of_turn=(template.stop_words or (None,))[0],
                                      name=str(meta.get("hf_id") or base), source_gguf=meta.get("gguf"))
            gguf_mod.write_modelfile(tmp / GGUF_DIR / "Modelfile", GGUF_NAME, template.name,
                                     [*template.stop_words, tok.eos_token or ""])
            gguf_info = {"file": f"{GGUF_DIR}/{GGUF_NAME}", "type": rep.qtype, "bytes": rep.size_bytes,
                         "tensors": rep.n_tensors, "architecture": rep.architecture}
            seconds["gguf"] = time.perf_counter() - t

        t = time.perf_counter()
        model.to(dtype)
        model.save_pretrained(tmp, max_shard_size=int(cfg.export_size * 10**9))
        tok.save_pretrained(tmp)
        seconds["save_safetensors"] = time.perf_counter() - t

        shards = sorted((f.name, f.stat().st_size) for f in tmp.glob("*.safetensors"))
        meta = {"base_model": base, "base_path": str(resolved.path),
                "adapter": str(adapter.resolve()) if adapter else None, "template": template.name,
                "finetuning_type": "lora" if adapter else None, "merged": adapter is not None,
                "dtype": dtype_name, "export_size_gb": cfg.export_size, "gguf": gguf_info,
                "eos_token_ids": eos, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        mode = (tmp / "config.json").stat().st_mode & 0o777  # safetensors are written 0600
        for f in tmp.rglob("*"):
            if f.is_file():
                os.chmod(f, mode)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds["total"] = time.perf_counter() - t0
    seconds = {k: round(v, 2) for k, v in seconds.items()}
    log(f"exported to {out} in {seconds['total']:.1f}s ({len(shards)} shard(s))")
    return ExportReport(out, base, str(adapter) if adapter else None, template.name, dtype_name, shards,
                        seconds, gguf_info)
