"""Templates: how conversations and tool calls become tokens, and how generated text becomes calls."""
from tooltune.templates.registry import ALIASES, TEMPLATES, Template, get_template

__all__ = ["ALIASES", "TEMPLATES", "Template", "get_template"]
