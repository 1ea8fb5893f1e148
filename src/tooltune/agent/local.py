"""Chat clients behind one protocol: an in-process model, or any OpenAI-compatible server.

Both answer ``chat(messages, tools, **kw) -> {"content": str | None, "tool_calls": [...]}`` with
OpenAI-shaped tool calls (arguments as a JSON string), so the agent loop never knows which it has.
``LocalModel`` renders with the template the model was trained with, generates with the serving
engine (as `tooltune api` and `tooltune eval` do) and reads calls with the template's own parser;
``stream`` gives the same reply as OpenAI-style deltas while it is generated.
"""
from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from tooltune.errors import UserError

Reply = dict[str, Any]  # {"content": str | None, "tool_calls": list[dict]}


@runtime_checkable
class ChatClient(Protocol):
    def chat(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Reply: ...


def _tool_calls_from_assembled(calls: list[dict]) -> list[dict]:
    return [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]


class LocalModel:
    """A model in this process that chats like an OpenAI endpoint: a client of the serving engine,
    so `tooltune chat`, `tooltune eval` and `tooltune api` generate the same way.

    `model_or_path`: anything `tooltune.model.resolve_model` takes (registry name, folder, .gguf),
    or an already loaded model (then pass `tokenizer` and `template`). `adapter`: a PEFT folder
    (merged in, as `tooltune api --adapter` does). `template`: a tooltune template name; default:
    the adapter's, else the model's. `strict_tools`: a call the model opens is held to the offered
    tools and their schemas, as `tooltune api` holds it (see engine.constrain).
    """

    def __init__(self, model_or_path: Any, adapter: str | os.PathLike | None = None, template: str | None = None,
                 *, tokenizer: Any = None, dtype: str = "auto", device: str = "cpu", strict_tools: bool = True,
                 max_batch: int = 4):
        from tooltune.engine.runtime import ServedModel, load_served_model
        from tooltune.templates import get_template

        self.strict_tools = strict_tools
        self._served: ServedModel | None = None  # built on first use for a model object
        if isinstance(model_or_path, (str, os.PathLike)):
            # One thread loads the model and then runs the engine's loop: the thread that owns
            # torch's OpenMP workers decodes ~2x faster than a second one would (engine.engine.Engine).
            box: queue.Queue = queue.Queue()

            def own_the_model() -> None:
                try:
                    served = load_served_model(model_or_path, adapter=adapter, template=template, dtype=dtype,
                                               device=device, max_batch=max_batch)
                except BaseException as e:  # noqa: BLE001 - raised in the caller's thread below
                    box.put(e)
                    return
                served.engine.run(ready=lambda: box.put(served))

            threading.Thread(target=own_the_model, name="tooltune-model", daemon=True).start()
            got = box.get()
            if isinstance(got, BaseException):
                raise got
            self._served = got
            self.model, self.tokenizer, self.template = got.engine.model, got.tokenizer, got.template
            self.name = str(model_or_path)
        else:
            if tokenizer is None or template is None:
                raise UserError("LocalModel(model_object) needs tokenizer= and template=")
            self.model, self.tokenizer, self.name = model_or_path, tokenizer, type(model_or_path).__name__
            self.template = get_template(template)
            self.model.eval()

    def close(self) -> None:
        """Stop the engine's loop (a daemon thread: ending the process needs no close)."""
        if self._served is not None:
            self._served.engine.shutdown()

    # ------------------------------------------------------------ generation

    def stop_ids(self) -> list[int]:
        from tooltune.templates.render import stop_token_ids

        return stop_token_ids(self.tokenizer, self.template)

    @property
    def served(self):
        """The model as the engine serves it (built on first use for a model object)."""
        if self._served is None:
            from tooltune.engine.engine import Engine
            from tooltune.engine.runtime import ServedModel

            engine = Engine.for_template(self.model, self.tokenizer, self.template, max_batch=4).start()
            self._served = ServedModel(engine, self.tokenizer, self.template, self.name)
        return self._served

    @property
    def engine(self):
        """The serving engine this model generates with."""
        return self.served.engine

    def generate_text(self, messages: list[dict], tools: list[dict] | None = None, *,
                      max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                      cancel: threading.Event | None = None) -> Iterator[str]:
        """The reply's text as it is generated, stop words removed; `cancel` (or closing the
        iterator: Ctrl-C, /reset) ends the generation."""
        from tooltune.engine.types import SamplingParams
        from tooltune.templates.render import render_prompt

        prompt = render_prompt(self.tokenizer, self.template, messages, tools)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
        constraint = self._strict_calls(tools) if tools and self.strict_tools else None
        handle = self.engine.submit(ids, params, constraint=constraint, blocking=True)
        try:
            for out in handle:
                if out.finish_reason == "abort" and not handle.cancelled.is_set():
                    raise UserError("generation failed in the engine (its log says why)")
                if out.text:
                    yield out.text
                if cancel is not None and cancel.is_set():
                    break
        finally:
            handle.cancel()  # a no-op once the reply has ended

    def _strict_calls(self, tools: list[dict]):
        """The grammar holding a reply's calls to `tools`; None where the template has no fixed
        text opening its calls, or a schema cannot compile: then the reply is free, as without
        strict tools."""
        from tooltune.engine.constrain import strict_tool_call_constraint

        try:
            return strict_tool_call_constraint(self.served.compiler(), self.template, tools).make()
        except UserError:
            return None

    def stream(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Iterator[dict]:
        """OpenAI-style deltas: {"content": ...} and {"tool_calls": [...]} (names, then arguments in pieces)."""
        from tooltune.templates.parsers import StreamingParser, get_parser

        parser = StreamingParser(get_parser(self.template.parser))
        for piece in self.generate_text(messages, tools, **kwargs):
            yield from parser.feed(piece)
        yield from parser.finish()

    def chat(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Reply:
        from tooltune.templates.parsers import assemble

        content, calls = assemble(list(self.stream(messages, tools, **kwargs)))
        return {"content": content, "tool_calls": _tool_calls_from_assembled(calls)}


class OpenAIChat:
    """An `openai.OpenAI`-compatible client (vLLM, llama.cpp server, Ollama, OpenAI) as a ChatClient."""

    _RENAME: ClassVar[dict[str, str]] = {"max_new_tokens": "max_tokens"}  # LocalModel's name -> the API's

    def __init__(self, client: Any, model: str | None = None):
        self.client, self.model = client, model

    def chat(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Reply:
        kwargs = {self._RENAME.get(k, k): v for k, v in kwargs.items()}
        if tools:
            kwargs["tools"] = tools
        response = self.client.chat.completions.create(model=self.model, messages=_for_api(messages), **kwargs)
        msg = _get(response.choices[0], "message")
        calls = []
        for call in _get(msg, "tool_calls") or []:
            fn = _get(call, "function")
            args = _get(fn, "arguments")
            calls.append({"id": _get(call, "id"), "type": "function",
                          "function": {"name": _get(fn, "name"),
                                       "arguments": args if isinstance(args, str) else json.dumps(args or {})}})
        return {"content": _get(msg, "content"), "tool_calls": calls}


def _get(obj: Any, key: str) -> Any:
    """Attribute or key: SDK objects and plain dicts (fakes, raw JSON) alike."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _for_api(messages: list[dict]) -> list[dict]:
    """Servers want tool-call arguments as JSON strings; our messages may hold dicts."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            m = {**m, "tool_calls": [
                {**c, "function": {**c["function"], "arguments": c["function"]["arguments"]
                                   if isinstance(c["function"].get("arguments"), str)
                                   else json.dumps(c["function"].get("arguments") or {})}}
                for c in m["tool_calls"]]}
        out.append(m)
    return out


def as_client(client: Any = None, model: Any = None, **local_kwargs: Any) -> ChatClient:
    """A ChatClient from what the caller has: one already, an OpenAI-style client, or a model to load."""
    if client is None:
        if model is None:
            raise UserError("give client= (an OpenAI-compatible client or LocalModel) or model= (a model to load)")
        return LocalModel(model, **local_kwargs)
    # OpenAI-style first: its `.chat` is a resource object, not our chat() method
    if hasattr(getattr(getattr(client, "chat", None), "completions", None), "create"):
        return OpenAIChat(client, model)
    if callable(getattr(client, "chat", None)):
        return client
    raise UserError(f"{type(client).__name__} is neither a ChatClient (.chat(messages, tools)) nor an "
                    "OpenAI-compatible client (.chat.completions.create)")
