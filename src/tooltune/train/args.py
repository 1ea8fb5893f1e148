"""The `tooltune train` config. Key names follow LLaMA-Factory's, so its SFT YAMLs run as they are."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tooltune.config import load_config
from tooltune.model.registry import DEFAULT_MODEL  # the one default, beside the models it names


@dataclass
class TrainConfig:
    # what to tune
    stage: Literal["sft", "pt"] = "sft"
    model_name_or_path: str = DEFAULT_MODEL
    adapter_name_or_path: str | None = None
    template: str | None = None          # default: the model's registry entry, else "default"
    finetuning_type: Literal["lora", "full", "freeze"] = "lora"
    lora_rank: int = 8
    lora_alpha: int | None = None        # default: 2 x rank, as LLaMA-Factory
    lora_dropout: float = 0.0
    lora_target: str = "all"             # "all" = every linear layer but the LM head, or a list
    freeze_trainable_layers: int = 2     # freeze: train the last N layers
    # data
    dataset: str = "tooltune_demo"
    dataset_dir: str = "data"
    eval_dataset: str | None = None
    cutoff_len: int = 1024
    max_samples: int | None = None
    val_size: float = 0.0
    packing: bool | None = None          # default: on for both stages
    neat_packing: bool = True            # packed rows never attend across conversations (always)
    train_on: Literal["all", "last", "tool_calls"] = "all"
    mask_history: bool = False           # LLaMA-Factory's name for train_on=last
    # the loss weight of the tokens that decide a turn (its first: call a tool or answer in text;
    # after each call: another, or the end), a few against dozens of argument tokens; the mean is
    # over tokens as counted (a weight of 3 counts one 3 times). 1 = plain cross-entropy
    decision_weight: float = 1.0
    # optimisation
    per_device_train_batch_size: int = 4
    per_device_eval_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    num_train_epochs: float = 3.0
    max_steps: int = -1
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    bf16: bool | None = None             # default: on where the hardware does bf16 matmuls fast
    fp16: bool = False
    gradient_checkpointing: bool = False
    max_tokens_per_forward: int | None = None  # default cutoff_len: bounds activation memory
    # output
    output_dir: str = "saves/tooltune"
    overwrite_output_dir: bool = False
    logging_steps: int = 5
    save_steps: int = 500
    eval_steps: int | None = None
    save_total_limit: int | None = 2
    resume_from_checkpoint: str | None = None   # a checkpoint folder, or "auto" for the latest
    plot_loss: bool = True
    # tool-call accuracy on the held-out split before and after tuning (the demo turns it on)
    eval_toolcall: bool = False
    eval_toolcall_samples: int = 40
    # options used where installed, refused clearly where not
    flash_attn: Literal["auto", "disabled", "sdpa", "eager", "fa2"] = "auto"
    use_liger_kernel: bool = False
    quantization_bit: int | None = None
    deepspeed: str | None = None
    # LLaMA-Factory keys that change nothing here (do_train, report_to, ...): config.NO_EFFECT

    def __post_init__(self):
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_rank
        if self.mask_history:
            self.train_on = "last"
        if self.packing is None:
            self.packing = True


# LLaMA-Factory spellings of the same idea (beside config.ALIASES, which every command takes).
ALIASES = {"lr": "learning_rate"}


def load_train_config(path: str | None, overrides: list[str]) -> TrainConfig:
    return load_config(TrainConfig, path, overrides, ALIASES)
