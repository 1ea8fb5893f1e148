"""GLM-4 format: the function name on its own line, then its JSON arguments. A reply with text
and calls separates them with <|assistant|> tags, as the template renders them."""
from __future__ import annotations

import re

from tooltune.templates.parsers.base import Site, ToolParser

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

    def next_site(self, text: str, pos: int) -> Site | None:
        # Calls start at the beginning of the reply, or after an <|assistant|> tag.
        tags = [m.end() for m in re.finditer(re.escape(TAG), text) if m.start() >= pos]
        for body in ([0] if pos == 0 else []) + tags:
            m = NAME_LINE.match(text, body)
            if m:
                return Site(body - len(TAG) if body else 0, m.end(), m.group(1))
        return None
