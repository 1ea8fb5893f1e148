"""`tooltune chat`: registered here, implemented in tooltune.agent.chat (imported only when run)."""
from __future__ import annotations

from tooltune.config import parse_bool


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat with a model in the terminal: streaming, tool calls, tools run",
                       description="Commands inside the chat: /tools, /system TEXT, /reset, /help, /exit.")
    p.add_argument("--model", "--model_name_or_path", dest="model", required=True,
                   help="registry name, hub id, model folder or .gguf")
    p.add_argument("--adapter", "--adapter_name_or_path", dest="adapter", help="a LoRA adapter folder")
    p.add_argument("--template", help="chat template (default: the adapter's, else the model's)")
    p.add_argument("--tools", help="tools.py (functions that run) or tools.json (schemas; you type results)")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max_new_tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--max_steps", type=int, default=8, help="model calls per user message")
    p.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--strict_tools", "--strict-tools", type=parse_bool, default=True, metavar="true|false",
                   help="hold the calls the model opens to the tools' schemas (default true)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from tooltune.agent.chat import cmd_chat

    return cmd_chat(args)
