"""`tooltune data synth`: demo tool-calling conversations from our own example tools."""
from tooltune.data.synth.generator import (
    DEFAULT_MIX,
    KINDS,
    LANGS,
    generic_scenario,
    parse_mix,
    synthesize,
    synthesize_to_file,
    to_openai,
    to_sharegpt,
    write_conversations,
)
from tooltune.data.synth.tools import TOOLS, example_tools

__all__ = ["DEFAULT_MIX", "KINDS", "LANGS", "TOOLS", "example_tools", "generic_scenario",
           "parse_mix", "synthesize", "synthesize_to_file", "to_openai", "to_sharegpt",
           "write_conversations"]
