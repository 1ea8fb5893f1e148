"""One request's choices: each choice's engine outputs become OpenAI deltas through the template's
streaming parser (`Choice`), gathered whole (`collect`) or sent as server-sent events (`stream`,
`EventStream`), the same text either way. A client that hangs up gets its requests cancelled."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from tooltune.engine.types import Output
from tooltune.serve.responses import error_body, sse
from tooltune.templates.parsers import StreamingParser, ToolParser, assemble

log = logging.getLogger("tooltune.serve")


class NoCalls(ToolParser):
    """Replies that are never read for calls (tool_choice none, JSON modes, no tools offered)."""
    name = "none"

    def next_site(self, text: str, pos: int) -> None:
        return None


class Choice:
    """One choice's text -> OpenAI deltas, the same for streamed and whole answers."""

    def __init__(self, index: int, parser: ToolParser, id_factory, parallel: bool):
        self.index, self.parallel = index, parallel
        self.parser = StreamingParser(parser, id_factory)
        self.deltas: list[dict] = []
        self.finish: str | None = None
        self.completion_tokens = self.prompt_tokens = self.cached_tokens = 0
        self.has_calls = False

    def feed(self, out: Output) -> list[dict]:
        deltas = self.parser.feed(out.text) if out.text else []
        if out.finish_reason is not None:
            deltas += self.parser.finish()
            self.finish = out.finish_reason
            self.prompt_tokens, self.completion_tokens = out.prompt_tokens, out.completion_tokens
            self.cached_tokens = out.cached_tokens
        if not self.parallel:  # parallel_tool_calls false: the first call only
            kept = []
            for d in deltas:
                if "tool_calls" in d:
                    d = {**d, "tool_calls": [c for c in d["tool_calls"] if c["index"] == 0]}
                    if not d["tool_calls"]:
                        continue
                kept.append(d)
            deltas = kept
        self.has_calls = self.has_calls or any("tool_calls" in d for d in deltas)
        self.deltas += deltas
        return deltas

    @property
    def finish_reason(self) -> str:
        if self.has_calls and not (self.parser.broken and self.finish == "length"):
            return "tool_calls"  # a call cut short by max_tokens says "length", as OpenAI's do
        return "length" if self.finish == "length" else "stop"

    def message(self) -> dict:
        content, calls = assemble(self.deltas)
        msg: dict[str, Any] = {"role": "assistant", "content": content if (content or not calls) else None}
        if msg["content"] is None and not calls:
            msg["content"] = ""
        if calls:
            msg["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
        msg["refusal"] = None
        return msg


def usage(choices: list[Choice]) -> dict:
    prompt = choices[0].prompt_tokens if choices else 0
    completion = sum(c.completion_tokens for c in choices)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": choices[0].cached_tokens if choices else 0}}


async def collect(request: Request, handles, choices: list[Choice]) -> bool:
    """Run every choice to its end; False (all cancelled) if the client disconnects first."""

    async def run(handle, choice: Choice) -> None:
        async for out in handle:
            choice.feed(out)

    tasks = [asyncio.ensure_future(run(h, c)) for h, c in zip(handles, choices, strict=True)]
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, timeout=0.5)
            for t in done:
                t.result()
            if pending and await request.is_disconnected():
                return False
        return True
    finally:
        for t in tasks:
            t.cancel()


class EventStream(StreamingResponse):
    """SSE that stops the moment the client hangs up (whatever the ASGI server's spec version) and
    then cancels the requests, even when the body generator never started."""

    def __init__(self, body, handles):
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.handles = handles

    async def __call__(self, scope, receive, send) -> None:
        try:
            async with anyio.create_task_group() as tg:
                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:  # the client is gone
                        pass
                    tg.cancel_scope.cancel()

                async def listen() -> None:
                    await self.listen_for_disconnect(receive)
                    tg.cancel_scope.cancel()

                tg.start_soon(stream)
                tg.start_soon(listen)
        finally:
            for h in self.handles:
                h.cancel()
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()


async def stream(handles, choices: list[Choice], meta: dict, include_usage: bool):
    """The SSE body; its `finally` cancels the requests, so a client hanging up frees its slots."""
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(i: int, handle) -> None:
        try:
            async for out in handle:
                await queue.put((i, out))
        except Exception as e:  # noqa: BLE001
            await queue.put((i, e))

    def chunk(index: int, delta: dict, finish: str | None = None) -> bytes:
        body = {"id": meta["id"], "object": "chat.completion.chunk", "created": meta["created"],
                "model": meta["model"], "system_fingerprint": meta["system_fingerprint"],
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        return sse(body)

    tasks = [asyncio.ensure_future(pump(i, h)) for i, h in enumerate(handles)]
    try:
        for c in choices:
            yield chunk(c.index, {"role": "assistant", "content": ""})
        left = len(choices)
        while left:
            i, out = await queue.get()
            if isinstance(out, Exception) or out.finish_reason == "abort":
                log.error("a streamed choice failed: %r", out)
                yield sse(error_body(503, "generation was aborted (the engine failed or is shutting down)",
                                       None, "generation_aborted"))
                break
            c = choices[i]
            for delta in c.feed(out):
                yield chunk(i, delta)
            if out.finish_reason is not None:
                yield chunk(i, {}, c.finish_reason)
                left -= 1
        else:
            if include_usage:
                yield sse({"id": meta["id"], "object": "chat.completion.chunk", "created": meta["created"],
                            "model": meta["model"], "system_fingerprint": meta["system_fingerprint"],
                            "choices": [], "usage": usage(choices)})
        yield b"data: [DONE]\n\n"
    except Exception:  # noqa: BLE001 - the status line is sent: end the stream cleanly instead
        log.exception("streaming failed")
        yield sse(error_body(500, "internal error while streaming", None, "internal_error"))
        yield b"data: [DONE]\n\n"
    finally:
        for h in handles:
            h.cancel()
        for t in tasks:
            t.cancel()
