"""metrics.jsonl written as training goes (one flushed line per log step) and the loss curve."""
from __future__ import annotations

import json
from pathlib import Path

from tooltune.fsutil import atomic_file, atomic_write_text


class MetricsLog:
    def __init__(self, path: Path, resume_step: int = 0):
        self.path = path
        rows = self.read(path)
        if resume_step:  # a resumed run rewrites what came after its checkpoint
            keep = [r for r in rows if r.get("step", 0) <= resume_step]
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
        elif path.exists():
            path.unlink()

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()

    @staticmethod
    def read(path: Path) -> list[dict]:
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill
                pass
        return rows


def plot_loss(metrics_path: Path, out_png: Path) -> Path | None:
    rows = MetricsLog.read(metrics_path)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    if not train:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_file(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return out_png
