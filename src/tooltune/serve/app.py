"""The OpenAI-compatible HTTP server: /v1/chat/completions (tools, streaming, n, JSON modes),
/v1/models, /health.

A request is checked (protocol.py), rendered with the model's template and tokenized in a worker
thread, then submitted to the engine once per choice. Streamed or not, every choice's text goes
through the same StreamingParser, and call ids come from the same function (derived from the seed
when one is given), so a seeded request gives the same answer both ways. Errors are OpenAI error
objects; a client that hangs up gets its requests cancelled at once.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tooltune.conversation import call_id_factory
from tooltune.errors import UserError
from tooltune.serve.protocol import ChatCompletionRequest, Prepared, RequestError, SamplingDefaults, prepare
from tooltune.engine.types import EngineFull, Output
from tooltune.templates.parsers import StreamingParser, ToolParser, assemble, get_parser
from tooltune.templates.render import render_prompt

log = logging.getLogger("tooltune.serve")


@dataclass
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_messages: int = 1024


class _NoCalls(ToolParser):
    """Replies that are never read for calls (tool_choice none, JSON modes, no tools offered)."""
    name = "none"

    def next_site(self, text: str, pos: int) -> None:
        return None


# ---------------------------------------------------------------- errors

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 503: "server_error"}


def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates echoed from a request
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _json(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(_dumps(obj), status_code=status, media_type="application/json", headers=headers)


def _error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict | None = None) -> Response:
    return _json(_error_body(status, message, param, code), status, headers)


def _param_from_loc(loc: tuple) -> str | None:
    """("body", "messages", 2, "tool_call_id") -> "messages[2].tool_call_id" (union tags dropped)."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part and not (part[0].isupper() or any(c in part for c in "[('")
                                                     or part in ("str", "int", "float", "bool", "dict", "list",
                                                                 "none", "json-or-python")):
            out += f".{part}" if out else part
    return out or None


def _validation_error(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if not errors:
        return error_response(400, "invalid request body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(400, f"the request body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
                              .rstrip(": "), None, "invalid_json")
    loc = tuple(first.get("loc") or ())
    if loc in ((), ("body",)):
        return error_response(400, "the request body must be a JSON object with `messages`", None, "invalid_body")
    # A union gives one error per branch: report the branch that names the deepest field.
    base = _param_from_loc(loc) or ""
    named = [(_param_from_loc(tuple(e.get("loc") or ())) or "", e) for e in errors]
    param, error = max(((p, e) for p, e in named if p.startswith(base)), key=lambda pe: len(pe[0]),
                       default=(base, first))
    param, msg = param or None, error.get("msg", "")
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return error_response(400, f"{param}: {msg}" if param else msg, param, code)


# ------------------------------------------------------------ middleware

class _Guard:
    """API key (for /v1/*) and request body size, before anything reads the body."""

    def __init__(self, app, api_key: str | None, max_body: int):
        self.app, self.max_body = app, max_body
        self.key = hashlib.sha256(api_key.encode()).digest() if api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.key is not None and scope["path"].startswith("/v1"):
            auth = headers.get("authorization", "")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(hashlib.sha256(token.encode("utf-8", "replace")).digest(), self.key):
                return await error_response(401, "invalid or missing API key: send `Authorization: Bearer KEY`",
                                            None, "invalid_api_key",
                                            {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        length = headers.get("content-length")
        too_big = error_response(413, f"the request body is over the {self.max_body}-byte limit", None,
                                 "request_too_large")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            return await too_big(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await too_big(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # then the client's disconnect, as usual

        await self.app(scope, replay, send)


# ----------------------------------------------------------------- choices

class _Choice:
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


@dataclass
class _Job:
    prompt_ids: list[int]
    params: list  # SamplingParams per choice
    factory: Any  # ConstraintFactory or None
    parse_calls: bool
    call_key: str


# --------------------------------------------------------------------- app

def create_app(served, api_key: str | None = None, limits: Limits | None = None,
               strict_tools: bool = False, sampling: SamplingDefaults | None = None) -> FastAPI:
    limits, sampling = limits or Limits(), sampling or SamplingDefaults()
    started = int(time.time())
    fingerprint = "fp_" + hashlib.sha256(f"{served.base_name}:{served.template.name}".encode()).hexdigest()[:10]
    token_lock = threading.Lock()
    app = FastAPI(title="tooltune API", version="1", description="OpenAI-compatible chat completions with tools")
    app.add_middleware(_Guard, api_key=api_key, max_body=limits.max_body_bytes)

    def openapi() -> dict:
        """FastAPI's spec minus its automatic 422: invalid requests answer 400 (handler below)."""
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes)
            for operations in spec.get("paths", {}).values():
                for op in operations.values():
                    op.get("responses", {}).pop("422", None)
            schemas = spec.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request, exc):
        return _validation_error(exc)

    @app.exception_handler(RequestError)
    async def _on_request_error(request, exc: RequestError):
        return error_response(400, exc.message, exc.param, exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return error_response(exc.status_code, message, None, code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _on_crash(request, exc: Exception):  # the last resort; code paths are meant not to get here
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}", None, "internal_error")

    def card(name: str) -> dict:
        return {"id": name, "object": "model", "created": started, "owned_by": "tooltune"}

    @app.get("/health")
    async def health():
        s = served.engine.stats()
        return {"status": "ok", "running": s.running, "waiting": s.waiting,
                "max_batch": s.max_batch, "max_waiting": s.max_waiting,
                "generated_tokens": s.generated_tokens, "prefix_cache_hits": s.prefix_cache_hits,
                "timing": s.extra}

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [card(n) for n in served.names]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        if model_id not in served.names:
            return error_response(404, f"the model {model_id!r} does not exist; served: {', '.join(served.names)}",
                                  "model", "model_not_found")
        return card(model_id)

    def build(prep: Prepared) -> _Job:
        """Render, tokenize and compile the constraint (a worker thread: this can take a while)."""
        offered = prep.tools if prep.tool_choice != "none" else []
        try:
            with token_lock:
                text = render_prompt(served.tokenizer, served.template, prep.messages, offered or None)
                ids = list(served.tokenizer(text, add_special_tokens=False)["input_ids"])
        except Exception as e:  # noqa: BLE001 - a conversation the template rejects is the client's to fix
            raise RequestError(f"the conversation cannot be rendered with template {served.template.name!r}: "
                               f"{type(e).__name__}: {e}", "messages") from None
        params = [prep.sampling(len(ids), served.max_model_len, i) for i in range(prep.n)]
        factory, parse = None, bool(offered)
        field = "response_format" if prep.response_format is not None and not prep.constrains_calls else "tools"
        try:
            if prep.constrains_calls:
                from tooltune.engine.constrain import tool_call_constraint
                factory = tool_call_constraint(served.compiler(), served.template, prep.tools, prep.tool_choice,
                                               prep.parallel_tool_calls)
            elif prep.strict_calls(strict_tools):
                from tooltune.engine.constrain import strict_tool_call_constraint
                factory = strict_tool_call_constraint(served.compiler(), served.template, prep.tools,
                                                      prep.parallel_tool_calls)
            elif prep.response_format is not None:
                from tooltune.engine.constrain import json_constraint
                factory, parse = json_constraint(served.compiler(), prep.response_format["schema"]), False
        except UserError as e:
            raise RequestError(str(e), field) from None
        except Exception as e:  # noqa: BLE001
            log.exception("building the constraint failed")
            raise RequestError(f"constrained decoding failed for this request: {type(e).__name__}: {e}",
                               field) from None
        key = uuid.uuid4().hex
        if prep.seed is not None:
            key = hashlib.sha256(f"{prep.seed}:{ids}".encode()).hexdigest()
        return _Job(ids, params, factory, parse, key)

    @app.post("/v1/chat/completions", responses={
        400: {"description": "invalid request"}, 401: {"description": "missing or wrong API key"},
        413: {"description": "request body too large"}, 429: {"description": "queue full; see Retry-After"}})
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        prep = prepare(body, limits.max_messages, sampling)
        job = await run_in_threadpool(build, prep)
        model = prep.model if prep.model in served.names else served.base_name
        adapter = served.adapter_for(prep.model)
        handles = []
        try:
            for params in job.params:
                handles.append(served.engine.submit(job.prompt_ids, params, adapter=adapter,
                                                    constraint=job.factory.make() if job.factory else None))
        except EngineFull as e:
            for h in handles:
                h.cancel()
            return error_response(429, str(e), None, "rate_limit_exceeded",
                                  {"Retry-After": str(max(1, math.ceil(e.retry_after)))})
        except Exception as e:  # noqa: BLE001
            for h in handles:
                h.cancel()
            log.exception("submitting to the engine failed")
            return error_response(503, f"the engine could not take the request: {type(e).__name__}", None,
                                  "engine_error", {"Retry-After": "1"})
        parser = get_parser(served.template.parser) if job.parse_calls else _NoCalls()
        choices = [_Choice(i, parser, call_id_factory(f"{job.call_key}:{i}"), prep.parallel_tool_calls)
                   for i in range(prep.n)]
        meta = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model,
                "system_fingerprint": fingerprint}
        if prep.stream:
            return _EventStream(_stream(handles, choices, meta, prep.include_usage), handles)
        try:
            done = await _collect(request, handles, choices)
        finally:
            for h in handles:
                h.cancel()
        if not done:  # the client hung up
            return Response(status_code=499)
        if any(c.finish == "abort" for c in choices):
            return error_response(503, "generation was aborted (the engine failed or is shutting down); retry",
                                  None, "generation_aborted", {"Retry-After": "1"})
        return _json({**{"id": meta["id"], "object": "chat.completion", "created": meta["created"],
                         "model": model},
                      "choices": [{"index": c.index, "message": c.message(), "logprobs": None,
                                   "finish_reason": c.finish_reason} for c in choices],
                      "usage": _usage(choices), "system_fingerprint": fingerprint})

    return app


def _usage(choices: list[_Choice]) -> dict:
    prompt = choices[0].prompt_tokens if choices else 0
    completion = sum(c.completion_tokens for c in choices)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": choices[0].cached_tokens if choices else 0}}


async def _collect(request: Request, handles, choices: list[_Choice]) -> bool:
    """Run every choice to its end; False (all cancelled) if the client disconnects first."""

    async def run(handle, choice: _Choice) -> None:
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


class _EventStream(StreamingResponse):
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


def _sse(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


async def _stream(handles, choices: list[_Choice], meta: dict, include_usage: bool):
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
        return _sse(body)

    tasks = [asyncio.ensure_future(pump(i, h)) for i, h in enumerate(handles)]
    try:
        for c in choices:
            yield chunk(c.index, {"role": "assistant", "content": ""})
        left = len(choices)
        while left:
            i, out = await queue.get()
            if isinstance(out, Exception) or out.finish_reason == "abort":
                log.error("a streamed choice failed: %r", out)
                yield _sse(_error_body(503, "generation was aborted (the engine failed or is shutting down)",
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
                yield _sse({"id": meta["id"], "object": "chat.completion.chunk", "created": meta["created"],
                            "model": meta["model"], "system_fingerprint": meta["system_fingerprint"],
                            "choices": [], "usage": _usage(choices)})
        yield b"data: [DONE]\n\n"
    except Exception:  # noqa: BLE001 - the status line is sent: end the stream cleanly instead
        log.exception("streaming failed")
        yield _sse(_error_body(500, "internal error while streaming", None, "internal_error"))
        yield b"data: [DONE]\n\n"
    finally:
        for h in handles:
            h.cancel()
        for t in tasks:
            t.cancel()
