"""The generation engine, a library: continuous batching over one model (engine.py), a request's
handle and its sequence's stops (requests.py), its KV and prefix caches, the lean decode forward,
sampling, incremental detokenizing, constrained decoding (constrain.py: grammars for tool calls
and JSON), and loading a model to serve (runtime.py).
`tooltune api` (serve/), `tooltune eval` and `tooltune chat` all generate through it."""

__all__ = ["Engine"]


def __getattr__(name: str):  # lazily: engine.types and friends import without torch
    if name == "Engine":
        from tooltune.engine.engine import Engine
        return Engine
    raise AttributeError(name)
