"""What the API serves: one base model, its LoRA adapters by name, the template, the engine."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooltune.errors import UserError
from tooltune.engine.engine import Engine
from tooltune.engine.weights import WeightsChoice, load_dtype, place_weights
from tooltune.templates import Template, get_template


@dataclass
class ServedModel:
    engine: Engine
    tokenizer: Any
    template: Template
    base_name: str                                        # the name /v1/models lists first
    adapters: dict[str, str] = field(default_factory=dict)  # served name -> adapter inside the model
    # temperature / top_p the model's generation_config.json sets (those it leaves at HF's defaults are not here)
    generation_defaults: dict[str, float] = field(default_factory=dict)
    weights: WeightsChoice | None = None                  # how the CPU holds the weights, and why
    _compiler: Any = None

    @property
    def names(self) -> list[str]:
        return [self.base_name, *self.adapters]

    @property
    def max_model_len(self) -> int:
        return self.engine.max_model_len

    def adapter_for(self, model_name: str | None) -> str | None:
        """The adapter a request's `model` selects; unknown or empty names get the default model."""
        return self.adapters.get(model_name or "")

    def compiler(self):
        """The grammar compiler for constrained decoding, built on first use (a second or so)."""
        if self._compiler is None:
            try:
                from tooltune.engine.constrain import grammar_compiler
            except ImportError as e:
                raise UserError(f"constrained decoding (tool_choice required or named, response_format) needs "
                                f"xgrammar: pip install 'tooltune[serve]' ({e})") from None

            head = self.engine.model.get_output_embeddings()
            vocab = getattr(head, "out_features", None) or head.weight.shape[0]
            self._compiler = grammar_compiler(self.tokenizer, vocab, sorted(self.engine.stop_token_ids))
        return self._compiler


def load_served_model(model: str | os.PathLike, *, adapter: str | None = None, loras: dict[str, str] | None = None,
                      template: str | None = None, served_name: str | None = None, dtype: str = "auto",
                      device: str = "cpu", max_batch: int = 32, max_waiting: int = 256,
                      max_model_len: int | None = None, prefix_cache_tokens: int = 16384, speculative: bool = True,
                      quantize: str | None = None, prefill_chunk_tokens: int = 512,
                      cpu_weights: str = "auto", engine_threads: int | None = None) -> ServedModel:
    """Load the model; `adapter` is merged into it (fastest), `loras` stay separate, one per name.
    `engine_threads`: torch threads for the engine's thread (see Engine on threads and OpenMP)."""
    from tooltune.model.loader import load_model, load_tokenizer, template_name_for

    adapter_path = Path(adapter).expanduser() if adapter else None
    template_obj = get_template(template or template_name_for(model, adapter_path))
    net = load_model(model, dtype=load_dtype(dtype, device, quantize), adapter=adapter_path, device=device)
    if adapter_path is not None and hasattr(net, "merge_and_unload"):
        net = net.merge_and_unload()
    names = {}
    if loras:
        from peft import PeftModel

        for i, (name, path) in enumerate(loras.items()):
            folder = Path(path).expanduser()
            if not (folder / "adapter_config.json").exists():
                raise UserError(f"--lora {name}={path}: no adapter_config.json in that folder")
            if i == 0:
                net = PeftModel.from_pretrained(net, str(folder), adapter_name=name)
            else:
                net.load_adapter(str(folder), adapter_name=name)
            names[name] = name
    net.eval()
    tokenizer = load_tokenizer(model, padding_side="left")
    if quantize:
        net, weights = quantize_linear_layers(net, quantize, bool(names)), WeightsChoice("int8", "quantize")
    else:
        net, weights = place_weights(net, tokenizer, dtype, cpu_weights, engine_threads)
    engine = Engine.for_template(net, tokenizer, template_obj, max_model_len=max_model_len, max_batch=max_batch,
                                 max_waiting=max_waiting, prefix_cache_tokens=prefix_cache_tokens,
                                 multi_adapter=bool(names), speculative=speculative,
                                 chunk_tokens=prefill_chunk_tokens, threads=engine_threads)
    base = served_name or (adapter_path.name if adapter_path else Path(str(model)).name)
    gen = net.generation_config.to_diff_dict() if getattr(net, "generation_config", None) is not None else {}
    sampling = {k: float(gen[k]) for k in ("temperature", "top_p") if isinstance(gen.get(k), (int, float))}
    return ServedModel(engine, tokenizer, template_obj, base, names, generation_defaults=sampling, weights=weights)


def quantize_linear_layers(net, method: str, has_loras: bool):
    """int8 weights for every Linear (per output channel; activations quantized on the fly).

    Decoding on a CPU is bound by reading the weights once per step, so 4x smaller weights give
    ~1.7x faster steps. It is lossy: on SmolLM2-135M greedy replies part from the fp32 model's
    after a few tokens, so it is opt-in, never the default.
    """
    import torch

    if method != "int8":
        raise UserError(f"quantize {method!r}: the only CPU method is int8")
    if has_loras:
        raise UserError("quantize int8 cannot be combined with --lora adapters (merge one with --adapter instead)")
    if next(net.parameters()).device.type != "cpu":
        raise UserError("quantize int8 is a CPU option; on a GPU use --infer_backend vllm or a quantized export")
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    return quantize_dynamic(net.float(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
