"""The house's layers: a package imports only from layers below its own (lazy imports inside
functions count too), so a reader can learn the code bottom up and no change runs back up."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tooltune"

LAYERS = [
    {"tooltune", "errors", "allocator"},      # the package root (home()), errors
    {"config", "fsutil", "conversation"},     # configs, atomic writes, the conversation and call ids
    {"functions", "templates", "model", "kernels"},  # functions as tools; templates; models; CPU kernels
    {"data", "engine"},                       # datasets, synthesis; the generation engine
    {"serve"},                                # the HTTP API
    {"evaluate"},                             # scoring, with the engine
    {"train", "agent", "export"},             # the stages a user runs
    {"webui"},
    {"cli"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """tooltune.engine.kv_cache -> engine; tooltune -> tooltune."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "tooltune":
            if node.module == "tooltune":  # from tooltune import home / from tooltune import conversation
                out += [(node.lineno, a.name if a.name in LAYER else "tooltune") for a in node.names]
            else:
                out.append((node.lineno, _unit(node.module)))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, _unit(a.name)) for a in node.names if a.name.split(".")[0] == "tooltune"]
    return out


def test_every_unit_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert units <= set(LAYER), f"put {sorted(units - set(LAYER))} in a layer"


def test_imports_point_down_only():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        unit = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else "tooltune"
        for line, target in _imports(path):
            if target != unit and LAYER[target] >= LAYER[unit]:
                wrong.append(f"{rel}:{line} ({unit}, layer {LAYER[unit]}) imports {target} (layer {LAYER[target]})")
    assert not wrong, "imports that run sideways or back up:\n" + "\n".join(wrong)
