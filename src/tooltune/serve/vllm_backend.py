"""`tooltune api --infer_backend vllm`: the same API served by vLLM's OpenAI server (GPU).

vLLM gets tooltune's own chat template and the matching tool-call parser, so a model is served
with exactly the prompt layout it was trained on; adapters become vLLM LoRA modules.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

from tooltune.errors import UserError

# tooltune parser name -> vLLM's --tool-call-parser
# (GLM-4's name-then-JSON calls have no vLLM parser: glm45 reads GLM-4.5's XML calls.)
VLLM_TOOL_PARSERS = {"hermes": "hermes", "llama3_json": "llama3_json", "mistral": "mistral"}


def vllm_argv(cfg, model_path: str, template_file: str, parser: str) -> list[str]:
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
            "--host", cfg.host, "--port", str(cfg.port), "--chat-template", template_file,
            "--enable-auto-tool-choice", "--tool-call-parser", VLLM_TOOL_PARSERS[parser],
            "--max-num-seqs", str(cfg.max_batch)]
    if cfg.served_model_name:
        argv += ["--served-model-name", cfg.served_model_name]
    if cfg.max_model_len:
        argv += ["--max-model-len", str(cfg.max_model_len)]
    if cfg.api_key:
        argv += ["--api-key", cfg.api_key]
    if cfg.dtype != "auto":
        argv += ["--dtype", {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[cfg.dtype]]
    sampling = {"temperature": 0.0} if cfg.do_sample is False else {
        k: v for k, v in (("temperature", cfg.temperature), ("top_p", cfg.top_p)) if v is not None}
    if sampling:  # vLLM's default for a request that sets none; else the model's generation_config
        argv += ["--override-generation-config", json.dumps(sampling)]
    modules = [f"{Path(cfg.adapter_name_or_path).name}={cfg.adapter_name_or_path}"] if cfg.adapter_name_or_path else []
    modules += list(cfg.lora)
    if modules:
        argv += ["--enable-lora", "--lora-modules", *modules]
    return argv


def run_vllm_server(cfg) -> int:
    if importlib.util.find_spec("vllm") is None:
        raise UserError("infer_backend vllm: vLLM is not installed (pip install vllm; it needs a CUDA GPU). "
                        "Without it, leave infer_backend at its default (tooltune).")
    from tooltune.model.loader import template_name_for
    from tooltune.model.hub import resolve_model
    from tooltune.templates import get_template

    resolved = resolve_model(cfg.model_name_or_path)
    adapter = Path(cfg.adapter_name_or_path).expanduser() if cfg.adapter_name_or_path else None
    template = get_template(cfg.template or template_name_for(cfg.model_name_or_path, adapter))
    if template.parser not in VLLM_TOOL_PARSERS:
        raise UserError(f"infer_backend vllm: vLLM has no parser for template {template.name!r}'s tool calls; "
                        "serve it with the default backend (tooltune)")
    fd, template_file = tempfile.mkstemp(suffix=".jinja", prefix="tooltune-")
    with os.fdopen(fd, "w") as f:
        f.write(template.chat_template)
    argv = vllm_argv(cfg, str(resolved.path), template_file, template.parser)
    print("tooltune api: starting vLLM:", " ".join(argv), flush=True)
    os.execv(argv[0], argv)  # vLLM takes over this process (signals, exit code)
    return 0  # not reached
