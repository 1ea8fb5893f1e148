"""Chat clients behind one protocol: an in-process model, or any OpenAI-compatible server.

Both answer ``chat(messages, tools, **kw) -> {"content": str | None, "tool_calls": [...]}`` with
OpenAI-shaped tool calls (arguments as a JSON string), so the agent loop never knows which it has.
``LocalModel`` renders with the template the model was trained with, generates with transformers
and reads calls with the template's own parser; ``stream`` gives the same reply as OpenAI-style
deltas while it is generated.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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
    """A transformers model in this process that chats like an OpenAI endpoint.

    `model_or_path`: anything `tooltune.model.resolve_model` takes (registry name, folder, .gguf),
    or an already loaded model (then pass `tokenizer` and `template`). `adapter`: a PEFT folder.
    `template`: a tooltune template name; default: the adapter's, else the model's.
    `strict_tools`: a call the model opens is held to the offered tools and their schemas, as
    `tooltune api` holds it (see serve.constrain).
    """

    def __init__(self, model_or_path: Any, adapter: str | os.PathLike | None = None, template: str | None = None,
                 *, tokenizer: Any = None, dtype: str = "auto", device: str = "cpu", strict_tools: bool = True):
        from tooltune.templates import get_template

        self.strict_tools = strict_tools

        # One thread loads the model and runs every generation: the thread that owns torch's OpenMP
        # workers decodes ~2x faster than a second one would (see serve.engine.Engine).
        self._torch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tooltune-model")
        if isinstance(model_or_path, (str, os.PathLike)):
            from tooltune.model.loader import load_model, load_tokenizer, template_name_for

            adapter_path = Path(adapter).expanduser() if adapter else None
            template = template or template_name_for(model_or_path, adapter_path)
            from tooltune.serve.packed_linear import pack_linear_layers
            from tooltune.serve.runtime import use_half_weights

            def load():
                model = load_model(model_or_path, dtype=dtype, adapter=adapter_path, device=device)
                if not use_half_weights(model, "auto"):  # loaded for chatting only: the server's weights
                    pack_linear_layers(model)
                return model

            self.model = self._torch_thread.submit(load).result()
            self.tokenizer = tokenizer or load_tokenizer(model_or_path, padding_side="left")
            self.name = str(model_or_path)
        else:
            if tokenizer is None or template is None:
                raise UserError("LocalModel(model_object) needs tokenizer= and template=")
            self.model, self.tokenizer, self.name = model_or_path, tokenizer, type(model_or_path).__name__
        self.template = get_template(template)
        self.model.eval()

    # ------------------------------------------------------------ generation

    def stop_ids(self) -> list[int]:
        from tooltune.templates.render import stop_token_ids

        return stop_token_ids(self.tokenizer, self.template)

    def _stops(self) -> list[str | None]:
        return [*self.template.stop_words, self.tokenizer.eos_token]

    def generate_text(self, messages: list[dict], tools: list[dict] | None = None, *,
                      max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                      cancel: threading.Event | None = None) -> Iterator[str]:
        """The reply's text as it is generated, stop words removed."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        from tooltune.evaluate.toolcall import cut_at_stop
        from tooltune.templates.render import render_prompt

        prompt = render_prompt(self.tokenizer, self.template, messages, tools)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=False, timeout=600)
        stop_flag: threading.Event = cancel or threading.Event()

        class _Cancelled(StoppingCriteria):  # lets a closed stream (Ctrl-C, /reset) end generation early
            def __call__(self, input_ids, scores, **kw) -> bool:
                return stop_flag.is_set()

        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 \
            else {"do_sample": False}
        if tools and self.strict_tools and (held := self._strict_calls(tools, enc["input_ids"].shape[1])):
            sampling["logits_processor"] = [held]
        kwargs = dict(**enc, max_new_tokens=max_new_tokens, streamer=streamer, eos_token_id=self.stop_ids(),
                      pad_token_id=self.tokenizer.pad_token_id, stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                      **sampling)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(**kwargs)  # type: ignore[operator]
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer's thread below
                errors.append(e)
                streamer.end()

        done = self._torch_thread.submit(work)
        text, sent = "", 0
        try:
            for piece in streamer:
                text += piece
                visible = cut_at_stop(text, self._stops())
                if len(visible) > sent:
                    yield visible[sent:]
                    sent = len(visible)
                if len(visible) < len(text):  # a stop word arrived: nothing after it is the reply
                    stop_flag.set()
        finally:
            stop_flag.set()
            futures.wait([done])
        if errors:
            raise errors[0]

    def _strict_calls(self, tools: list[dict], prompt_len: int):
        """A logits processor holding calls to `tools` (one sequence: chat generates one reply);
        None where the template has no fixed text opening its calls, or a schema cannot compile:
        then the reply is free, as without strict tools."""
        from transformers import LogitsProcessor

        from tooltune.serve.constrain import grammar_compiler, strict_tool_call_constraint

        head = self.model.get_output_embeddings()
        width = getattr(head, "out_features", None) or head.weight.shape[0]
        try:
            constraint = strict_tool_call_constraint(grammar_compiler(self.tokenizer, width, self.stop_ids()),
                                                     self.template, tools).make()
        except UserError:
            return None

        class _Grammar(LogitsProcessor):
            def __call__(self, input_ids, scores):
                if input_ids.shape[1] > prompt_len:      # the token sampled last step
                    constraint.accept(int(input_ids[0, -1]))
                constraint.apply(scores[0])
                return scores

        return _Grammar()

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
