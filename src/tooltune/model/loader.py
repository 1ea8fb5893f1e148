"""Load a tokenizer / causal LM (optionally with a PEFT adapter) from anything resolve_model accepts."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tooltune.errors import UserError
from tooltune.model.hub import META_FILE, resolve_model

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPES = ("auto", "bf16", "fp16", "fp32")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_supported(device: str = "cpu") -> bool:
    """Whether bf16 compute is fast (not merely possible) on `device`.

    CPU: only with native bf16 instructions (AVX512-BF16 or AMX); elsewhere torch emulates bf16
    matmuls and they run slower than fp32. TOOLTUNE_BF16=0/1 overrides the guess.
    """
    forced = os.environ.get("TOOLTUNE_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.startswith("mps"):
        return False  # fp16 is the fast path on Apple GPUs
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_device(device: str = "cpu") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available: use --device cpu")
    return device


def resolve_dtype(dtype: str = "auto", device: str = "cpu") -> torch.dtype:
    """auto -> bf16 where it is fast on `device`, else fp32 (fp16 is never picked automatically)."""
    import torch

    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        dtype = "bf16" if bf16_supported(device) else "fp32"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]


def load_tokenizer(name_or_path: str | os.PathLike, padding_side: str = "right",
                   auto_pull: bool = False) -> PreTrainedTokenizerBase:
    """The model's tokenizer, with a pad token (eos when it has none) and the given padding side.

    Right padding suits training; pass padding_side="left" for batched generation.
    """
    from transformers import AutoTokenizer

    if padding_side not in ("left", "right"):
        raise UserError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
    resolved = resolve_model(name_or_path, auto_pull=auto_pull)
    tok = AutoTokenizer.from_pretrained(resolved.path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_model(
    name_or_path: str | os.PathLike,
    dtype: str = "auto",
    adapter: str | os.PathLike | None = None,
    device: str = "cpu",
    *,
    auto_pull: bool = False,
    trainable: bool = False,
    attn_implementation: str = "sdpa",
    **from_pretrained_kwargs,
) -> PreTrainedModel:
    """A causal LM in eval mode on `device`; `adapter` (a PEFT folder) is loaded on top of it.

    `trainable=True` keeps the adapter's weights trainable (to continue training it).
    """
    from transformers import AutoModelForCausalLM

    resolved = resolve_model(name_or_path, auto_pull=auto_pull)
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    kwargs = {"dtype": torch_dtype, **from_pretrained_kwargs}  # transformers 5: dtype=, not torch_dtype=
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved.path, attn_implementation=attn_implementation, **kwargs)
    except (ValueError, ImportError) as e:
        if attn_implementation == "eager" or "attn" not in str(e).lower():
            raise
        # architectures without SDPA support: the eager implementation always exists
        model = AutoModelForCausalLM.from_pretrained(resolved.path, attn_implementation="eager", **kwargs)
    if adapter is not None:
        model = _load_adapter(model, Path(adapter).expanduser(), trainable)
    model.to(device)
    if not trainable:
        model.eval()
    return model


def _load_adapter(model: PreTrainedModel, adapter: Path, trainable: bool) -> PreTrainedModel:
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise UserError(f"adapter {adapter} not found: expected a folder with adapter_config.json")
    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike, dtype: str = "auto", adapter: str | os.PathLike | None = None,
    device: str = "cpu", padding_side: str = "right", auto_pull: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    model = load_model(name_or_path, dtype=dtype, adapter=adapter, device=device, auto_pull=auto_pull)
    return model, load_tokenizer(name_or_path, padding_side=padding_side)


def template_name_for(name_or_path: str | os.PathLike, adapter: str | os.PathLike | None = None) -> str:
    """The chat template a model is used with: the adapter's (its tooltune.json), else the model
    folder's, else the registry's."""
    import json

    resolved = resolve_model(name_or_path)
    for folder in (Path(adapter).expanduser() if adapter else None, resolved.path):
        if folder is not None:
            try:
                name = json.loads((Path(folder) / META_FILE).read_text()).get("template")
            except (OSError, ValueError):
                name = None
            if name:
                return name
    if resolved.template:
        return resolved.template
    raise UserError(f"no chat template known for {resolved.path}: pass template=")


def load_merged(name_or_path: str | os.PathLike, adapter: str | os.PathLike | None = None, dtype: str = "auto",
                device: str = "cpu") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model with `adapter` merged into it, as `tooltune api --adapter` serves it, and its
    tokenizer padded on the left (batched generation)."""
    model = load_model(name_or_path, dtype=dtype, adapter=Path(adapter).expanduser() if adapter else None,
                       device=device)
    if adapter is not None and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model, load_tokenizer(name_or_path, padding_side="left")
