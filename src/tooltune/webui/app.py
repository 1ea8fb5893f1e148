"""The web console: a page over train / eval / export runs and a chat with a served model.

The server is a thin layer over `RunStore`: every action starts a `tooltune` command as its own
process (the same commands the CLI runs), and the page polls the run's state, loss points and log.
Chat starts `tooltune api` as a run and relays the page's messages to it through the OpenAI API,
so what the console shows is what the API answers.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
import json
import urllib.error
import urllib.request
from pathlib import Path

from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tooltune.config import parse_overrides
from tooltune.errors import UserError
from tooltune.webui.runs import KINDS, RunStore

HERE = Path(__file__).parent
LANGUAGES = ("en", "zh")


def create_app(runs_dir: Path) -> FastAPI:
    store = RunStore(runs_dir)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        store.stop_all()  # runs end with the console that started them, marked stopped

    app = FastAPI(title="tooltune console", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store = store
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def get_state(run_id: str) -> dict:
        try:
            return store.state(run_id)
        except KeyError:
            raise HTTPException(404, f"no run {run_id!r}") from None

    @app.get("/")
    def index():
        return FileResponse(HERE / "static" / "index.html")

    @app.get("/api/i18n/{lang}")
    def strings(lang: str):
        if lang not in LANGUAGES:
            raise HTTPException(404, f"no strings for {lang!r}: {', '.join(LANGUAGES)}")
        return json.loads((HERE / "i18n" / f"{lang}.json").read_text("utf-8"))

    @app.get("/api/runs")
    def list_runs():
        return [_summary(s) for s in store.list()]

    @app.post("/api/runs")
    def start_run(kind: str = Body(...), config: dict = Body(...), overrides: list[str] = Body([])):
        """config: the form's keys; overrides: extra `key=value` lines, read as the CLI reads them."""
        if kind not in KINDS:
            raise HTTPException(400, f"unknown run kind {kind!r}: one of {', '.join(KINDS)}")
        try:
            return _summary(store.start(kind, {**config, **parse_overrides(overrides)}))
        except UserError as e:  # names the key or value at fault
            return JSONResponse({"detail": str(e)}, status_code=400)

    @app.get("/api/runs/{run_id}")
    def run_detail(run_id: str):
        state = get_state(run_id)
        detail = {**_summary(state), "config": state["config"], "log": store.log_tail(run_id),
                  "metrics": store.metrics(state), "result": store.result(state)}
        if state["kind"] == "api":
            detail["ready"] = state["status"] == "running" and _served_model(state) is not None
        return detail

    @app.post("/api/runs/{run_id}/stop")
    def stop_run(run_id: str):
        get_state(run_id)
        return _summary(store.stop(run_id))

    @app.post("/api/runs/{run_id}/chat")
    def chat(run_id: str, messages: list = Body(...), tools: list | None = Body(None)):
        state = get_state(run_id)
        if state["kind"] != "api" or state["status"] != "running":
            raise HTTPException(409, f"run {run_id} is not a running model server")
        model = _served_model(state)
        if model is None:
            raise HTTPException(503, "the model server is still loading")
        body = {"model": model, "messages": messages, "max_tokens": 256}
        if tools:
            body["tools"] = tools
        try:
            reply = _post(f"http://127.0.0.1:{state['port']}/v1/chat/completions", body,
                          state["config"].get("api_key"))
        except urllib.error.HTTPError as e:
            raise HTTPException(e.code, e.read().decode("utf-8", "replace")) from None
        return reply["choices"][0]["message"]

    return app


def _summary(state: dict) -> dict:
    keys = ("id", "kind", "status", "created", "ended", "returncode", "output_dir", "port")
    return {k: state.get(k) for k in keys}


def _served_model(state: dict) -> str | None:
    key = state["config"].get("api_key")
    req = urllib.request.Request(f"http://127.0.0.1:{state['port']}/v1/models",
                                 headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)["data"][0]["id"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


def _post(url: str, body: dict, key: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)
