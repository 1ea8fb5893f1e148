"""Checkpoints that survive a kill -9: written to a temporary folder, renamed into place at the end."""
from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tooltune.errors import UserError
from tooltune.fsutil import atomic_dir

PATTERN = re.compile(r"^checkpoint-(\d+)$")


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(output_dir: Path, step: int, model, optimizer, scheduler, state: dict,
                    keep: int | None) -> Path:
    final = output_dir / f"checkpoint-{step}"
    with atomic_dir(final) as tmp:
        save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()}, tmp / "optimizer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({**state, "global_step": step}, indent=2))
    if keep:
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output_dir: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in output_dir.glob("checkpoint-*")
             if (m := PATTERN.match(p.name)) and (p / "trainer_state.json").exists()]
    return [p for _, p in sorted(found)]


def find_checkpoint(output_dir: Path, spec: str) -> Path | None:
    if spec == "auto":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(spec)
    if not (path / "trainer_state.json").exists():
        raise UserError(f"resume_from_checkpoint: {path} is not a tooltune checkpoint "
                        "(no trainer_state.json); use a checkpoint-N folder or 'auto'")
    return path


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    weights = load_file(str(path / "trainable.safetensors"))
    missing = set(weights) - {n for n, _ in model.named_parameters()}
    if missing:
        raise UserError(f"checkpoint {path} does not match this model/finetuning_type "
                        f"(unknown weights such as {sorted(missing)[0]})")
    model.load_state_dict(weights, strict=False)
    extra = torch.load(path / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["torch_rng"])
    random.setstate(extra["python_rng"])
    return json.loads((path / "trainer_state.json").read_text())
