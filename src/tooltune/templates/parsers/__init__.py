"""Tool-call parsers, one file per format, behind one small interface (see base.py)."""
from tooltune.errors import UserError
from tooltune.templates.parsers.base import ParsedCall, ParseResult, ToolParser
from tooltune.templates.parsers.glm4 import Glm4Parser
from tooltune.templates.parsers.hermes import HermesParser
from tooltune.templates.parsers.llama3_json import Llama3JsonParser
from tooltune.templates.parsers.mistral import MistralParser
from tooltune.templates.parsers.streaming import StreamingParser, assemble

PARSERS: dict[str, type[ToolParser]] = {
    p.name: p for p in (HermesParser, Llama3JsonParser, MistralParser, Glm4Parser)}


def get_parser(name: str) -> ToolParser:
    if name not in PARSERS:
        raise UserError(f"unknown tool-call parser {name!r}; known: {', '.join(PARSERS)}")
    return PARSERS[name]()


__all__ = ["PARSERS", "ParsedCall", "ParseResult", "StreamingParser", "ToolParser", "assemble",
           "get_parser"]
