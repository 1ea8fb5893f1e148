"""`tooltune chat`: the session with a scripted streaming model (tool panels, Python tools run,
JSON tools answered by the user, commands), then the real command on SmolLM2 through a stdin pipe
and a pseudo-terminal."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tooltune.agent.chat import ChatSession
from tooltune.functions import tools_from_functions
from tooltune.templates.parsers import StreamingParser, get_parser

TOOLS_PY = '''
def get_weather(city: str) -> dict:
    """Current weather for a city.

    Args:
        city: The city name.
    """
    return {"city": city, "temp_c": 21}
'''
TOOLS_JSON = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Find an order",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]


def get_weather(city: str) -> dict:
    """Current weather for a city.

    Args:
        city: The city name.
    """
    return {"city": city, "temp_c": 21}


class ScriptedStream:
    """Streams scripted raw model text through the Hermes streaming parser, a few characters at a time."""

    def __init__(self, *texts: str):
        self.texts, self.seen = list(texts), []

    def stream(self, messages, tools=None, **kwargs):
        self.seen.append({"messages": json.loads(json.dumps(messages)), "tools": tools})
        text = self.texts.pop(0)
        parser = StreamingParser(get_parser("hermes"))
        for i in range(0, len(text), 5):
            yield from parser.feed(text[i:i + 5])
        yield from parser.finish()


def hermes(name: str, args: dict) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(args)}}}\n</tool_call>'


def session(client, **kw) -> tuple[ChatSession, io.StringIO]:
    out = io.StringIO()
    return ChatSession(client, Console(file=out, width=250, color_system=None), **kw), out


def test_python_tool_runs_and_the_model_answers():
    client = ScriptedStream("Checking.\n" + hermes("get_weather", {"city": "Paris"}), "It is 21 C in Paris.")
    tools, functions = tools_from_functions([get_weather])
    s, out = session(client, tools=tools, functions=functions)
    assert s.handle("Weather in Paris?")
    text = out.getvalue()
    assert "tool call: get_weather" in text and '"city": "Paris"' in text
    assert "tool result: get_weather" in text and '"temp_c": 21' in text
    assert "It is 21 C in Paris." in text and "<tool_call>" not in text  # panels, not raw tags
    roles = [m["role"] for m in s.history]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert s.history[1]["tool_calls"][0]["id"] == s.history[2]["tool_call_id"]
    assert client.seen[1]["messages"][-1]["content"] == json.dumps({"city": "Paris", "temp_c": 21})


def test_json_tools_ask_the_user_for_results():
    asked = []
    client = ScriptedStream(hermes("lookup_order", {"order_id": "A7"}), "Your order A7 has shipped.")
    s, out = session(client, tools=TOOLS_JSON, ask=lambda p: asked.append(p) or '{"status": "shipped"}')
    s.handle("Where is order A7?")
    assert asked == ["result of lookup_order> "]
    assert s.history[2] == {"role": "tool", "tool_call_id": s.history[1]["tool_calls"][0]["id"],
                            "content": '{"status": "shipped"}'}
    assert "Your order A7 has shipped." in out.getvalue()


def test_bad_arguments_are_shown_and_sent_back():
    client = ScriptedStream(hermes("get_weather", {"town": "Paris"}), "Sorry.")
    tools, functions = tools_from_functions([get_weather])
    s, out = session(client, tools=tools, functions=functions)
    s.handle("Weather?")
    assert s.history[2]["content"].startswith("Error:") and "missing required argument 'city'" in out.getvalue()


def test_commands():
    client = ScriptedStream("Hi!", "Hello again.")
    tools, functions = tools_from_functions([get_weather])
    s, out = session(client, tools=tools + TOOLS_JSON, functions=functions)
    assert s.handle("/system Be terse.")
    s.handle("Hello")
    assert client.seen[0]["messages"][0] == {"role": "system", "content": "Be terse."}
    s.handle("/tools")
    table = out.getvalue()
    assert "get_weather" in table and "lookup_order" in table and "you type the result" in table
    s.handle("/reset")
    assert s.history == [] and s.system == "Be terse."
    s.handle("Again")
    assert [m["role"] for m in client.seen[1]["messages"]] == ["system", "user"]
    s.handle("/nope")
    assert "unknown command /nope" in out.getvalue()
    assert s.handle("/exit") is False


def test_step_limit_and_interrupt_keep_the_session_usable():
    client = ScriptedStream(*[hermes("get_weather", {"city": "X"})] * 2)
    tools, functions = tools_from_functions([get_weather])
    s, out = session(client, tools=tools, functions=functions, max_steps=2)
    s.handle("loop")
    assert "stopped after 2 model calls" in out.getvalue()

    class Interrupting:
        def stream(self, messages, tools=None, **kw):
            yield {"content": "partial"}
            raise KeyboardInterrupt

    s.client, s.history = Interrupting(), []
    s.handle("hello")
    assert s.history == [] and "interrupted" in out.getvalue()


# ---------------------------------------------------------------- the real command


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "dumb", "COLUMNS": "100"}


def _chat_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "tooltune.cli", "chat", "--model", "smollm2-135m-instruct",
            "--max_new_tokens", "12", "--dtype", "fp32", *extra]


@pytest.fixture
def tool_files(tmp_path) -> tuple[Path, Path]:
    py, js = tmp_path / "tools.py", tmp_path / "tools.json"
    py.write_text(TOOLS_PY)
    js.write_text(json.dumps(TOOLS_JSON))
    return py, js


@pytest.mark.slow
def test_chat_through_a_pipe(smollm2_path, tool_files):
    py, _ = tool_files
    t0 = time.monotonic()
    proc = subprocess.run(_chat_cmd("--tools", str(py), "--system", "You are brief."), env=_env(), check=False,
                          input="Hello\n/tools\n/reset\n/exit\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "with template chatml, 1 tool(s)" in out
    reply = out.split("assistant> ", 1)[1].split("you> ", 1)[0]
    assert reply.strip() and "<|im_end|>" not in reply  # streamed text, stop token cut
    assert "get_weather" in out and "city: string" in out and "python" in out
    assert "conversation cleared" in out
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_chat_json_tools_and_eof(smollm2_path, tool_files):
    _, js = tool_files
    proc = subprocess.run(_chat_cmd("--tools", str(js)), env=_env(), check=False, input="/tools\n/system Be kind.\nHi\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]  # stdin ending is a normal exit
    assert "lookup_order" in proc.stdout and "you type the result" in proc.stdout
    assert "system prompt set" in proc.stdout and "assistant> " in proc.stdout


@pytest.mark.slow
def test_chat_in_a_pseudo_terminal(smollm2_path):
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(_chat_cmd(), stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=_env(),
                            close_fds=True)
    os.close(slave)
    output, sent, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            output += chunk
        if not sent and b"you> " in output:  # type only once the prompt is up, as a person would
            os.write(master, b"Hello\n/exit\n")
            sent = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=10)
    os.close(master)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert "assistant> " in text and text.count("you> ") >= 2



@pytest.mark.slow
def test_chat_holds_an_opened_call_to_the_offered_tools(smollm2_path):
    """Strict tools (chat's default): once the reply opens `<tool_call>`, only the offered tool's
    name may follow."""
    import torch

    from tooltune.agent.local import LocalModel

    lm = LocalModel(smollm2_path)
    assert lm.strict_tools
    tools, _ = tools_from_functions([get_weather])
    held = lm._strict_calls(tools)  # what the engine applies to each of the reply's steps
    width = lm.model.get_output_embeddings().weight.shape[0]
    for token in lm.tokenizer.encode('<tool_call>\n{"name": "', add_special_tokens=False):
        held.apply(torch.zeros(width))
        held.accept(token)
    scores = torch.randn(width)
    held.apply(scores)
    allowed = torch.isfinite(scores).nonzero().flatten().tolist()
    assert allowed and all("get_weather".startswith(lm.tokenizer.decode([t])) for t in allowed), \
        [lm.tokenizer.decode([t]) for t in allowed[:10]]
    lm.close()


def test_strict_tools_flag():
    from tooltune.cli import build_parser

    assert build_parser().parse_args(["chat", "--model", "m"]).strict_tools is True
    assert build_parser().parse_args(["chat", "--model", "m", "--strict-tools", "false"]).strict_tools is False
