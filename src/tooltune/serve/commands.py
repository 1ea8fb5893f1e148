"""`tooltune api [CONFIG.yaml] [key=value ...] [--model M --adapter DIR ...]`: the OpenAI-compatible server.

Flags and YAML keys use LLaMA-Factory's names too (model_name_or_path, adapter_name_or_path,
template, infer_backend; API_HOST / API_PORT from the environment), so its command lines run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from tooltune.config import ALIASES as CONFIG_ALIASES, NO_EFFECT
from tooltune.errors import UserError


@dataclass
class ApiConfig:
    model_name_or_path: str = ""
    adapter_name_or_path: str | None = None     # merged into the model at load
    lora: list[str] = field(default_factory=list)  # NAME=DIR, each served under its own model name
    template: str | None = None
    served_model_name: str | None = None
    infer_backend: str = "tooltune"             # tooltune | huggingface (same thing) | vllm
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    dtype: str = "auto"
    device: str = "cpu"
    max_batch: int = 32                         # requests decoding together
    max_waiting: int = 256                      # queued beyond that: 429 with Retry-After
    max_model_len: int | None = None
    prefix_cache_tokens: int = 16384
    # prompt tokens a decode step takes in (chunked prefill): larger starts new requests sooner,
    # smaller keeps running streams smoother; 0 prefills in forwards of their own
    prefill_chunk_tokens: int = 512
    speculative: bool = True                    # prompt-lookup drafts for a lone greedy request (exact)
    # tool_choice auto: a call the model opens is held to the offered tools and their schemas, as
    # for tools marked `strict: true` (those requests lose prompt-lookup drafts). Default (None):
    # on where the template has fixed text that opens its calls; true: fail where it has none
    strict_tools: bool | None = None
    # int8: CPU weights in int8, ~0.95x (1 client) to ~1.1x (16) the fp16 default's tokens/s; lossy, and since
    # activation scales are per forward, a reply can change with what it is batched with
    quantize: str | None = None
    # with dtype auto on a CPU: auto = the fastest path here, timed on the first start and cached
    # (engine/weights.py): fp16 (fp32 math on fp16 weights, a C++ kernel; replies independent of
    # batching; preferred within 10%), fp32 (oneDNN, prepacked) or bf16 (native bf16 CPUs only)
    cpu_weights: str = "auto"
    # sampling for a request that sets no temperature / top_p (LLaMA-Factory's generation keys):
    # these, else the model's generation_config.json, else LLaMA-Factory's 0.95 / 0.7; do_sample false: greedy
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_body_mb: float = 8.0
    max_messages: int = 1024


ALIASES = {"backend": "infer_backend", "api_port": "port", "api_host": "host", "max_num_seqs": "max_batch"}
# LLaMA-Factory's `api` command line runs as it is: its other keys are flags too, noted and dropped
_FIELDS = [f.name for f in fields(ApiConfig)]
FLAGS = _FIELDS + [*CONFIG_ALIASES, *ALIASES] + sorted(NO_EFFECT - set(_FIELDS))


def register(sub) -> None:
    p = sub.add_parser("api", help="serve a model behind an OpenAI-compatible API (tools, streaming, batching)",
                       description=__doc__)
    p.add_argument("config", nargs="?", help="a YAML config")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    for name in FLAGS:
        dashed = name.replace("_", "-")
        opts = sorted({f"--{name}", f"--{dashed}"})
        if name == "lora":
            p.add_argument(*opts, dest="flag_lora", action="append", metavar="NAME=DIR")
        else:
            p.add_argument(*opts, dest=f"flag_{name}", metavar=name.upper())
    p.set_defaults(func=cmd_api)


def api_config_from_args(args) -> ApiConfig:
    from tooltune.config import load_config, split_config_arg

    config, overrides = split_config_arg(args.config, args.overrides)
    for env, key in (("API_HOST", "host"), ("API_PORT", "port"), ("TOOLTUNE_API_KEY", "api_key")):
        if os.environ.get(env):
            overrides.insert(0, f"{key}={os.environ[env]}")
    for name in FLAGS:
        value = getattr(args, f"flag_{name}", None)
        if value is None:
            continue
        if name == "lora":
            overrides.append("lora=" + ",".join(value))
        else:
            overrides.append(f"{name}={value}")
    cfg = load_config(ApiConfig, config, overrides, aliases=ALIASES)
    if not cfg.model_name_or_path:
        raise UserError("no model: pass --model NAME_OR_PATH (or model_name_or_path in the config)")
    return cfg


def _loras(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--lora {spec!r}: expected NAME=DIR")
        out[name.strip()] = path.strip()
    return out


def cmd_api(args) -> int:
    cfg = api_config_from_args(args)
    if cfg.infer_backend == "vllm":
        from tooltune.serve.vllm_backend import run_vllm_server

        return run_vllm_server(cfg)
    if cfg.infer_backend not in ("tooltune", "huggingface", "hf"):
        raise UserError(f"infer_backend {cfg.infer_backend!r}: use tooltune (default) or vllm")
    loras = _loras(cfg.lora)
    import torch
    import uvicorn

    # The engine's thread must own the process's only OpenMP team (see Engine): this thread loads
    # the model and answers HTTP with one torch thread, the engine decodes with all of them.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    from tooltune.serve.app import Limits, create_app
    from tooltune.engine.runtime import load_served_model

    served = load_served_model(
        cfg.model_name_or_path, adapter=cfg.adapter_name_or_path, loras=loras,
        template=cfg.template, served_name=cfg.served_model_name, dtype=cfg.dtype, device=cfg.device,
        max_batch=cfg.max_batch, max_waiting=cfg.max_waiting, max_model_len=cfg.max_model_len,
        prefix_cache_tokens=cfg.prefix_cache_tokens, quantize=cfg.quantize,
        speculative=cfg.speculative, prefill_chunk_tokens=cfg.prefill_chunk_tokens, cpu_weights=cfg.cpu_weights,
        engine_threads=threads)
    limits = Limits(max_body_bytes=int(cfg.max_body_mb * 1024 * 1024), max_messages=cfg.max_messages)
    strict = cfg.strict_tools is not False and _can_hold_calls(served, required=cfg.strict_tools is True)
    sampling = sampling_defaults(cfg, served.generation_defaults)
    app = create_app(served, api_key=cfg.api_key, limits=limits, strict_tools=strict, sampling=sampling)
    served.engine.start()
    said = "greedy" if sampling.temperature == 0 else f"temperature {sampling.temperature:g}, top_p {sampling.top_p:g}"
    print(f"tooltune api: serving {', '.join(served.names)} (template {served.template.name}"
          f"{', strict tools' if strict else ''}; unset sampling: {said}) on http://{cfg.host}:{cfg.port}/v1",
          flush=True)
    if served.weights is not None:
        print(f"tooltune api: {served.weights.describe()}", flush=True)
    try:
        uvicorn.run(app, host=cfg.host, port=int(cfg.port), log_level="warning")
    finally:
        served.engine.shutdown()
    return 0


def sampling_defaults(cfg: ApiConfig, model_defaults: dict[str, float]):
    """The server's sampling for requests that set none: the config's, else the model's
    generation_config.json's, else LLaMA-Factory's (see SamplingDefaults)."""
    from tooltune.serve.protocol import SamplingDefaults

    if cfg.do_sample is False:
        return SamplingDefaults(temperature=0.0, top_p=1.0)
    base = SamplingDefaults()
    temperature = next(v for v in (cfg.temperature, model_defaults.get("temperature"), base.temperature)
                       if v is not None)
    top_p = next(v for v in (cfg.top_p, model_defaults.get("top_p"), base.top_p) if v is not None)
    try:
        return SamplingDefaults(temperature=float(temperature), top_p=float(top_p))
    except ValueError as e:
        raise UserError(f"tooltune api: {e}") from None


def _can_hold_calls(served, required: bool) -> bool:
    """Whether the template's calls can be held to the tools' schemas in `auto` mode; with
    `required` (strict_tools=true) a template that cannot fails here, not per request."""
    from tooltune.engine.constrain import strict_tool_call_constraint

    try:
        strict_tool_call_constraint(served.compiler(), served.template, [{"type": "function", "function": {"name": "f"}}])
    except UserError:
        if required:
            raise
        return False
    return True
