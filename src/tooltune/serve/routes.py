"""The HTTP routes, a typed router over the served model: /v1/chat/completions, /v1/models, /health.

A request is followed top to bottom in `chat_completions`: checked (protocol.prepare), rendered
and tokenized with its constraint compiled in a worker thread (`build_job`), submitted to the
engine once per choice, and answered whole or streamed (choices.py). Every route gets the
`Server` (the served model and the server's settings) from `server()`, a FastAPI dependency.
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tooltune.conversation import call_id_factory
from tooltune.engine.runtime import ServedModel
from tooltune.engine.types import EngineFull
from tooltune.errors import UserError
from tooltune.serve.choices import Choice, EventStream, NoCalls, collect, stream, usage
from tooltune.serve.protocol import ChatCompletionRequest, Prepared, RequestError, SamplingDefaults, prepare
from tooltune.serve.responses import error_response, json_response
from tooltune.templates.parsers import get_parser
from tooltune.templates.render import render_prompt

log = logging.getLogger("tooltune.serve")


@dataclass
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_messages: int = 1024


@dataclass
class Server:
    """What every route reads: the served model and the server's settings."""
    served: ServedModel
    limits: Limits = field(default_factory=Limits)
    strict_tools: bool = False
    sampling: SamplingDefaults = field(default_factory=SamplingDefaults)
    started: int = field(default_factory=lambda: int(time.time()))
    token_lock: threading.Lock = field(default_factory=threading.Lock)  # one tokenizer, several threads

    @property
    def fingerprint(self) -> str:
        s = self.served
        return "fp_" + hashlib.sha256(f"{s.base_name}:{s.template.name}".encode()).hexdigest()[:10]

    def card(self, name: str) -> dict:
        return {"id": name, "object": "model", "created": self.started, "owned_by": "tooltune"}


def server(request: Request) -> Server:
    return request.app.state.server


router = APIRouter()


@router.get("/health")
async def health(srv: Server = Depends(server)):
    s = srv.served.engine.stats()
    return {"status": "ok", "running": s.running, "waiting": s.waiting,
            "max_batch": s.max_batch, "max_waiting": s.max_waiting,
            "generated_tokens": s.generated_tokens, "prefix_cache_hits": s.prefix_cache_hits,
            "timing": s.extra}


@router.get("/v1/models")
async def list_models(srv: Server = Depends(server)):
    return {"object": "list", "data": [srv.card(n) for n in srv.served.names]}


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, srv: Server = Depends(server)):
    names = srv.served.names
    if model_id not in names:
        return error_response(404, f"the model {model_id!r} does not exist; served: {', '.join(names)}",
                              "model", "model_not_found")
    return srv.card(model_id)


@dataclass
class Job:
    """A checked request, ready for the engine."""
    prompt_ids: list[int]
    params: list  # SamplingParams per choice
    factory: Any  # ConstraintFactory or None
    parse_calls: bool
    call_key: str


def build_job(srv: Server, prep: Prepared) -> Job:
    """Render, tokenize and compile the constraint (a worker thread: this can take a while)."""
    served = srv.served
    offered = prep.tools if prep.tool_choice != "none" else []
    try:
        with srv.token_lock:
            text = render_prompt(served.tokenizer, served.template, prep.messages, offered or None)
            ids = list(served.tokenizer(text, add_special_tokens=False)["input_ids"])
    except Exception as e:  # noqa: BLE001 - a conversation the template rejects is the client's to fix
        raise RequestError(f"the conversation cannot be rendered with template {served.template.name!r}: "
                           f"{type(e).__name__}: {e}", "messages") from None
    params = [prep.sampling(len(ids), served.max_model_len, i) for i in range(prep.n)]
    factory, parse = None, bool(offered)
    field_name = "response_format" if prep.response_format is not None and not prep.constrains_calls else "tools"
    try:
        if prep.constrains_calls:
            from tooltune.engine.constrain import tool_call_constraint
            factory = tool_call_constraint(served.compiler(), served.template, prep.tools, prep.tool_choice,
                                           prep.parallel_tool_calls)
        elif prep.strict_calls(srv.strict_tools):
            from tooltune.engine.constrain import strict_tool_call_constraint
            factory = strict_tool_call_constraint(served.compiler(), served.template, prep.tools,
                                                  prep.parallel_tool_calls)
        elif prep.response_format is not None:
            from tooltune.engine.constrain import json_constraint
            factory, parse = json_constraint(served.compiler(), prep.response_format["schema"]), False
    except UserError as e:
        raise RequestError(str(e), field_name) from None
    except Exception as e:  # noqa: BLE001
        log.exception("building the constraint failed")
        raise RequestError(f"constrained decoding failed for this request: {type(e).__name__}: {e}",
                           field_name) from None
    key = uuid.uuid4().hex  # call ids: derived from the seed where one is given, so both ways agree
    if prep.seed is not None:
        key = hashlib.sha256(f"{prep.seed}:{ids}".encode()).hexdigest()
    return Job(ids, params, factory, parse, key)


@router.post("/v1/chat/completions", responses={
    400: {"description": "invalid request"}, 401: {"description": "missing or wrong API key"},
    413: {"description": "request body too large"}, 429: {"description": "queue full; see Retry-After"}})
async def chat_completions(body: ChatCompletionRequest, request: Request, srv: Server = Depends(server)):
    served = srv.served
    prep = prepare(body, srv.limits.max_messages, srv.sampling)
    job = await run_in_threadpool(build_job, srv, prep)
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
    parser = get_parser(served.template.parser) if job.parse_calls else NoCalls()
    choices = [Choice(i, parser, call_id_factory(f"{job.call_key}:{i}"), prep.parallel_tool_calls)
               for i in range(prep.n)]
    meta = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model,
            "system_fingerprint": srv.fingerprint}
    if prep.stream:
        return EventStream(stream(handles, choices, meta, prep.include_usage), handles)
    try:
        done = await collect(request, handles, choices)
    finally:
        for h in handles:
            h.cancel()
    if not done:  # the client hung up
        return Response(status_code=499)
    if any(c.finish == "abort" for c in choices):
        return error_response(503, "generation was aborted (the engine failed or is shutting down); retry",
                              None, "generation_aborted", {"Retry-After": "1"})
    return json_response({"id": meta["id"], "object": "chat.completion", "created": meta["created"], "model": model,
                          "choices": [{"index": c.index, "message": c.message(), "logprobs": None,
                                       "finish_reason": c.finish_reason} for c in choices],
                          "usage": usage(choices), "system_fingerprint": srv.fingerprint})
