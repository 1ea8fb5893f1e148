"""GLM-4 format: the function name on its own line, then its JSON arguments. A reply with text
and calls separates them with <|assistant|> tags, as the template renders them."""
from __future__ import annotations

import re

from tooltune.templates.parsers.base import ParsedCall, ToolParser, decode_json_at

TAG = "<|assistant|>"
NAME_LINE = re.compile(r"([A-Za-z_][\w.\-]*)[ \t]*\n")


class Glm4Parser(ToolParser):
    name = "glm4"
    start_markers = (TAG,)

    def may_start_with_call(self, text: str) -> bool:
        if re.fullmatch(r"[A-Za-z_][\w.\-]*[ \t]*", text) or not text:
            return True
        m = NAME_LINE.match(text)
        return bool(m) and (not text[m.end():].strip() or text[m.end():].lstrip().startswith("{"))

    def find_calls(self, text: str) -> list[tuple[int, int, ParsedCall]]:
        found = []
        # Candidate call starts: the beginning of the reply and every <|assistant|> tag.
        starts = [0] + [m.end() for m in re.finditer(re.escape(TAG), text)]
        for body in starts:
            m = NAME_LINE.match(text, body)
            if not m:
                continue
            decoded = decode_json_at(text, m.end())
            if decoded is None or not isinstance(decoded[0], dict):
                continue
            obj, end = decoded
            start = body - len(TAG) if body else 0
            found.append((start, end, ParsedCall(m.group(1), obj)))
        return found
