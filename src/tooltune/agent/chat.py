"""`tooltune chat`: talk to a model in the terminal, watching its tool calls as it makes them.

Replies stream token by token; the template's streaming parser turns tool-call markup into calls,
shown as panels rather than raw tags. Python tools (--tools tools.py) run and their results go back
to the model until it answers; with JSON tools only (--tools tools.json) the user types each result,
as LLaMA Board does. Commands: /tools, /system TEXT, /reset, /help, /exit.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tooltune.agent.loop import assistant_message, execute_call
from tooltune.templates.parsers.streaming import merge_call_delta

HELP = ("commands: /tools (list tools), /system TEXT (set the system prompt), /reset (forget the "
        "conversation), /help, /exit")


class StreamingClient(Protocol):
    def stream(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Iterator[dict]: ...


class ChatSession:
    """One conversation: history, system prompt, tools; `handle(line)` runs a command or a turn.

    `ask(prompt)` reads a line from the user (tool results for JSON-only tools); it is `input` in
    the terminal and a script in tests.
    """

    def __init__(self, client: StreamingClient, console: Console, *, tools: list[dict] | None = None,
                 functions: dict[str, Callable] | None = None, system: str | None = None,
                 ask: Callable[[str], str] = input, max_steps: int = 8, **gen_kwargs: Any):
        self.client, self.console, self.ask = client, console, ask
        self.tools, self.functions = list(tools or []), dict(functions or {})
        self.system, self.max_steps, self.gen_kwargs = system, max_steps, gen_kwargs
        self.history: list[dict] = []

    def messages(self) -> list[dict]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.history

    # ------------------------------------------------------------ commands

    def handle(self, line: str) -> bool:
        """Handle one input line; False when the session should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self.command(text)
        self.turn(text)
        return True

    def command(self, text: str) -> bool:
        name, _, arg = text.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name == "/reset":
            self.history.clear()
            self.console.print("[dim]conversation cleared[/]")
        elif name == "/system":
            self.system = arg.strip() or None
            self.console.print(f"[dim]system prompt {'set' if self.system else 'cleared'}[/]")
        elif name == "/tools":
            self.show_tools()
        elif name == "/help":
            self.console.print(HELP, markup=False)
        else:
            self.console.print(f"unknown command {name}; {HELP}", markup=False)
        return True

    def show_tools(self) -> None:
        if not self.tools:
            self.console.print("no tools loaded (start with --tools tools.py or tools.json)")
            return
        table = Table(title="tools", show_lines=False)
        for col in ("name", "parameters", "runs"):
            table.add_column(col)
        for tool in self.tools:
            fn = tool["function"]
            params = fn.get("parameters", {})
            required = set(params.get("required", []))
            args = ", ".join(f"{k}{'' if k in required else '?'}: {v.get('type', 'any')}"
                             for k, v in params.get("properties", {}).items())
            table.add_row(fn["name"], args, "python" if fn["name"] in self.functions else "you type the result")
        self.console.print(table)

    # ------------------------------------------------------------ turns

    def turn(self, text: str) -> None:
        """A user message, then model replies and tool results until the model answers."""
        start = len(self.history)
        self.history.append({"role": "user", "content": text})
        try:
            for _ in range(self.max_steps):
                reply = self._stream_reply()
                msg = assistant_message(reply)
                self.history.append(msg)
                if not msg.get("tool_calls"):
                    return
                for call in msg["tool_calls"]:
                    result = self._tool_result(call)
                    self.history.append({"role": "tool", "tool_call_id": call["id"], "content": result})
            self.console.print(f"[yellow]stopped after {self.max_steps} model calls without a final answer[/]")
        except KeyboardInterrupt:  # drop the unfinished turn; the conversation stays usable
            del self.history[start:]
            self.console.print("\n[yellow]interrupted[/]")

    def _stream_reply(self) -> dict:
        """Stream one model reply to the console; return {"content", "tool_calls"}."""
        self.console.print(Text("assistant> ", style="bold green"), end="")
        content, calls = "", {}  # type: tuple[str, dict[int, dict]]
        for delta in self.client.stream(self.messages(), self.tools or None, **self.gen_kwargs):
            if delta.get("content"):
                content += delta["content"]
                self.console.print(delta["content"], end="", markup=False, highlight=False)
            for tc in delta.get("tool_calls") or []:
                merge_call_delta(calls, tc)
        for _, call in sorted(calls.items()):  # arguments stream in pieces: show each call whole
            self._show_call(call)
        self.console.print()
        return {"content": content or None,
                "tool_calls": [{"id": c["id"], "type": "function",
                                "function": {"name": c["name"], "arguments": c["arguments"]}}
                               for _, c in sorted(calls.items())]}

    def _show_call(self, call: dict) -> None:
        try:
            body = json.dumps(json.loads(call["arguments"] or "{}"), indent=2, ensure_ascii=False)
        except ValueError:
            body = call["arguments"]
        self.console.print()
        self.console.print(Panel(Text(body), title=f"tool call: {call['name']}", title_align="left",
                                 border_style="cyan", expand=False))

    def _tool_result(self, call: dict) -> str:
        name = call["function"]["name"]
        if name in self.functions or not self.tools or self.functions:
            result = execute_call(self.functions, call)  # unknown tools come back as an error text
            style = "red" if result.startswith("Error:") else "magenta"
        else:  # schemas only: the user plays the tool
            result = self.ask(f"result of {name}> ")
            style = "magenta"
        self.console.print(Panel(Text(result), title=f"tool result: {name}", title_align="left",
                                 border_style=style, expand=False))
        return result


# ---------------------------------------------------------------- the command


def cmd_chat(args: Any) -> int:
    import sys

    from transformers.utils import logging as hf_logging

    from tooltune.functions import load_tools
    from tooltune.agent.local import LocalModel

    hf_logging.disable_progress_bar()  # the weight-loading bar is noise in a chat
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401 - arrow keys and line history for input()
        except ImportError:
            pass
    console = Console(highlight=False)
    tools, functions = load_tools(args.tools) if args.tools else ([], {})
    with console.status(f"loading {args.model}..."):
        client = LocalModel(args.model, adapter=args.adapter, template=args.template, dtype=args.dtype,
                            device=args.device, strict_tools=getattr(args, "strict_tools", True))
    console.print(f"[bold]{client.name}[/]" + (f" + adapter {args.adapter}" if args.adapter else "")
                  + f" with template [bold]{client.template.name}[/]"
                  + (f", {len(tools)} tool(s)" if tools else ""), highlight=False)
    console.print(f"[dim]{HELP}[/]")

    def ask(prompt: str) -> str:
        return console.input(Text(prompt, style="bold magenta"))

    session = ChatSession(client, console, tools=tools, functions=functions, system=args.system, ask=ask,
                          max_steps=args.max_steps, max_new_tokens=args.max_new_tokens,
                          temperature=args.temperature)
    while True:
        try:
            line = console.input(Text("you> ", style="bold blue"))
        except (EOFError, KeyboardInterrupt):
            console.print()
            return 0
        try:
            if not session.handle(line):
                return 0
        except EOFError:  # stdin ended while a tool result was being asked for
            return 0
