"""`tooltune generate`: a model's own replies to a dataset's prompts, written as a dataset.

Mixed into tool-use tuning, such rows hold the model's chat where it was: they teach nothing new,
they keep tuning from moving what it already answered (the reference article mixes glaive with
alpaca_gpt4 and oaast for this; offline, the model's own replies are the chat data at hand).
Replies cut at `max_new_tokens` are dropped: a half sentence is not worth learning to say.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from tooltune.errors import UserError

ALIASES = {"output": "save_path"}


@dataclass
class GenerateConfig:
    model_name_or_path: str = ""
    adapter_name_or_path: str | None = None
    template: str | None = None
    dataset: str = ""                     # prompts: each conversation's first user turn (+ system)
    dataset_dir: str = "data"
    max_samples: int | None = None        # prompts read (sampled with `seed`)
    seed: int = 42
    max_new_tokens: int = 256
    temperature: float = 0.0              # greedy: the answer the model itself finds likeliest
    batch_size: int = 32
    dtype: str = "auto"
    device: str = "cpu"
    save_path: str = ""                   # .json (sharegpt) or .jsonl (OpenAI messages)


def register(sub) -> None:
    from tooltune.evaluate.commands import add_model_and_dataset_args

    p = sub.add_parser("generate", help="a model's own replies to a dataset's prompts, as a dataset",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_dataset_args(p)
    p.add_argument("--max_samples", "--max-samples", "-n", type=int)
    p.add_argument("--output", "-o", dest="save_path")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from tooltune.config import flag_overrides, load_config, split_config_arg

    config, overrides = split_config_arg(args.config, args.overrides)
    overrides += flag_overrides(args, ("model_name_or_path", "adapter_name_or_path", "dataset", "dataset_dir",
                                       "max_samples", "save_path"))
    cfg = load_config(GenerateConfig, config, overrides, aliases=ALIASES)
    kept, total, path = generate_to_file(cfg)
    print(f"{kept} replies of {total} prompts written to {path} ({total - kept} cut at "
          f"max_new_tokens={cfg.max_new_tokens} left out)")
    return 0


def own_replies(model, tokenizer, template, prompts: list[list[dict]], max_new_tokens: int = 256,
                temperature: float = 0.0, seed: int = 42, batch_size: int = 32) -> list[str | None]:
    """The model's reply to each prompt (messages), None where it was cut at `max_new_tokens`."""
    from tooltune.engine.engine import Engine
    from tooltune.kernels.half_linear import serving_linear_layers
    from tooltune.engine.types import SamplingParams
    from tooltune.templates.render import render_prompt

    ids = [tokenizer(render_prompt(tokenizer, template, p, None), add_special_tokens=False)["input_ids"]
           for p in prompts]
    params = [SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed + i)
              for i in range(len(ids))]
    model.eval()
    with serving_linear_layers(model):
        engine = Engine.for_template(model, tokenizer, template, max_batch=batch_size, max_waiting=max(len(ids), 1))
        results = engine.generate_all(ids, params, with_reasons=True)
    return [text.strip() if reason == "stop" and text.strip() else None for text, reason in results]


def generate_to_file(cfg: GenerateConfig) -> tuple[int, int, Path]:
    """(replies kept, prompts, the file written)."""
    from tooltune.data.loader import load_conversations
    from tooltune.data.synth import write_conversations
    from tooltune.conversation import Conversation
    from tooltune.engine.weights import load_placed
    from tooltune.model.loader import template_name_for
    from tooltune.templates import get_template

    for key in ("model_name_or_path", "dataset", "save_path"):
        if not getattr(cfg, key):
            raise UserError(f"generate needs {key} (--{key.split('_')[0] if key != 'save_path' else 'output'})")
    data = load_conversations(cfg.dataset, dataset_dir=cfg.dataset_dir, max_samples=cfg.max_samples, seed=cfg.seed)
    prompts = []
    for conv in data.train:
        first = next((i for i, m in enumerate(conv.messages) if m["role"] == "user"), None)
        if first is not None:
            prompts.append([m for m in conv.messages[:first + 1] if m["role"] in ("system", "user")])
    if not prompts:
        raise UserError(f"dataset {cfg.dataset!r}: no conversation has a user turn to reply to")
    template = get_template(cfg.template or template_name_for(cfg.model_name_or_path, cfg.adapter_name_or_path))
    model, tokenizer, _ = load_placed(cfg.model_name_or_path, cfg.adapter_name_or_path, cfg.dtype, cfg.device)
    replies = own_replies(model, tokenizer, template, prompts, cfg.max_new_tokens, cfg.temperature,
                          cfg.seed, cfg.batch_size)
    rows = [Conversation([*p, {"role": "assistant", "content": r}], [])
            for p, r in zip(prompts, replies) if r is not None]
    if not rows:
        raise UserError(f"every one of the {len(prompts)} replies ran to max_new_tokens={cfg.max_new_tokens} "
                        "(or was empty); nothing written: raise max_new_tokens")
    return len(rows), len(prompts), write_conversations(cfg.save_path, rows)
