"""The OpenAI-compatible HTTP server: the FastAPI app around the routes (routes.py).

Here is what wraps every route: the API-key and body-size guard (before anything reads a body),
errors as OpenAI error objects (a pydantic validation error is a 400 naming the field, never a
422), and the OpenAPI spec that says so. Requests themselves: routes.py; their choices, whole or
streamed: choices.py; the request checks: protocol.py.
"""
from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException

from tooltune.engine.runtime import ServedModel
from tooltune.serve.protocol import RequestError, SamplingDefaults
from tooltune.serve.responses import error_response, validation_error
from tooltune.serve.routes import Limits, Server, router

__all__ = ["Limits", "create_app"]

log = logging.getLogger("tooltune.serve")


def create_app(served: ServedModel, api_key: str | None = None, limits: Limits | None = None,
               strict_tools: bool = False, sampling: SamplingDefaults | None = None) -> FastAPI:
    limits = limits or Limits()
    app = FastAPI(title="tooltune API", version="1", description="OpenAI-compatible chat completions with tools")
    app.state.server = Server(served, limits, strict_tools, sampling or SamplingDefaults())
    app.add_middleware(_Guard, api_key=api_key, max_body=limits.max_body_bytes)
    app.include_router(router)

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
        return validation_error(exc)

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

    return app


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
