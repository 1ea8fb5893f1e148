"""tooltune: turn a language model into a tool-calling agent."""
import os

__version__ = "0.1.0"


def home() -> str:
    """Where pulled models and caches live ($TOOLTUNE_HOME, default ~/.cache/tooltune)."""
    return os.path.expanduser(os.environ.get("TOOLTUNE_HOME", "~/.cache/tooltune"))
