"""The agent loop: ask the model, run the tools it calls, hand back the results, until it answers.

A failing call never crashes the loop: bad arguments (checked against the schema before the
function runs), an unknown tool or an exception inside the tool all become the tool message's text,
so the model can read what went wrong and try again. Only running out of steps is an error.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tooltune.functions import ToolError, call_tool, tools_from_functions
from tooltune.agent.local import ChatClient, as_client
from tooltune.conversation import new_call_id
from tooltune.errors import UserError

# Called after each message the loop appends: (message,) — for logging or a UI.
OnMessage = Callable[[dict], None]


class AgentStepLimit(UserError):
    """The model still called tools after max_steps model calls; `.messages` holds the transcript."""

    def __init__(self, max_steps: int, messages: list[dict]):
        self.messages = messages
        last: dict = next((m for m in reversed(messages) if m.get("tool_calls")), {})
        calls = ", ".join(c["function"]["name"] for c in last.get("tool_calls", [])) or "none"
        super().__init__(f"agent stopped after {max_steps} model calls without a final answer "
                         f"(last calls: {calls}); raise max_steps or check the tools")


@dataclass
class AgentResult:
    messages: list[dict]  # the whole conversation, input included, OpenAI-shaped
    final: str            # the model's last answer
    steps: int            # model calls made


def execute_call(functions: Mapping[str, Callable], call: dict) -> str:
    """Run one OpenAI-shaped call; any failure comes back as text for the model to read."""
    fn = call.get("function") or {}
    name = fn.get("name") or ""
    try:
        return call_tool(functions, name, fn.get("arguments"))
    except ToolError as e:
        return f"Error: {e}"
    except Exception as e:  # noqa: BLE001 - a tool must never take the loop down
        return f"Error: tool {name!r} failed: {type(e).__name__}: {e}"


def assistant_message(reply: dict) -> dict:
    msg: dict[str, Any] = {"role": "assistant", "content": reply.get("content") or ""}
    calls = []
    for i, call in enumerate(reply.get("tool_calls") or []):
        fn = call.get("function") or {}
        args = fn.get("arguments")
        calls.append({"id": call.get("id") or new_call_id(), "type": "function",
                      "function": {"name": fn.get("name") or "",
                                   "arguments": args if isinstance(args, str) else json.dumps(args or {})}})
    if calls:
        msg["tool_calls"] = calls
    return msg


def run(messages: list[dict] | str, tools: Sequence[Callable] | Mapping[str, Callable] = (), client: Any = None,
        model: Any = None, max_steps: int = 8, on_message: OnMessage | None = None, **gen_kwargs: Any) -> AgentResult:
    """Run the agent until the model answers without tool calls.

    `client`: a ChatClient (e.g. LocalModel) or an `openai.OpenAI`-compatible client (then `model`
    is the served model's name). Without a client, `model` is loaded in-process as a LocalModel.
    `gen_kwargs` go to each model call (max_new_tokens, temperature, ...).
    Raises AgentStepLimit when the model is still calling tools after `max_steps` calls.
    """
    if max_steps < 1:
        raise UserError(f"max_steps must be at least 1, got {max_steps}")
    chat: ChatClient = as_client(client, model)
    try:
        return _run(chat, messages, tools, max_steps, on_message, gen_kwargs)
    finally:
        if client is None:  # the model this call loaded: its engine's thread ends with it
            chat.close()  # type: ignore[attr-defined]


def _run(chat: ChatClient, messages: list[dict] | str, tools, max_steps: int, on_message: OnMessage | None,
         gen_kwargs: dict) -> AgentResult:
    schemas, functions = tools_from_functions(tools)
    history = [{"role": "user", "content": messages}] if isinstance(messages, str) else [dict(m) for m in messages]

    def add(msg: dict) -> None:
        history.append(msg)
        if on_message is not None:
            on_message(msg)

    for step in range(1, max_steps + 1):
        msg = assistant_message(chat.chat(history, schemas or None, **gen_kwargs))
        add(msg)
        if not msg.get("tool_calls"):
            return AgentResult(history, msg["content"], step)
        for call in msg["tool_calls"]:
            add({"role": "tool", "tool_call_id": call["id"], "content": execute_call(functions, call)})
    raise AgentStepLimit(max_steps, history)
