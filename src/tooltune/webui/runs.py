"""The console's runs: each one a `tooltune` command in its own process, with its state on disk.

A run is a folder under the console's runs directory: `config.yaml` (what was asked for),
`state.json` (kind, status, pid, return code; replaced whole on every change) and `log.txt` (the
command's output). The state lives on disk, not in the page or the server process, so a page
refreshed mid-run, or a console restarted, finds every run where it is.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import yaml

from tooltune.errors import UserError
from tooltune.fsutil import atomic_write_text

KINDS = ("train", "eval", "export", "api")
FINAL = ("finished", "failed", "stopped", "lost")


def validate(kind: str, values: dict) -> dict:
    """The config as the command will read it; bad keys and values raise UserError naming them."""
    from tooltune.config import build_config, to_dict
    if kind == "train":
        from tooltune.train.args import ALIASES, TrainConfig
        return to_dict(build_config(TrainConfig, values, ALIASES))
    if kind == "eval":
        from tooltune.evaluate.commands import EvalConfig
        return to_dict(build_config(EvalConfig, values))
    if kind == "export":
        from tooltune.export.merge import ExportConfig
        return to_dict(build_config(ExportConfig, values))
    if kind == "api":
        from tooltune.serve.commands import ALIASES, ApiConfig
        return to_dict(build_config(ApiConfig, values, ALIASES))
    raise UserError(f"unknown run kind {kind!r}: one of {', '.join(KINDS)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(kind: str, config: Path) -> list[str]:
    script = Path(sys.executable).with_name("tooltune")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "tooltune.cli"]
    return head + [kind, str(config)]


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}

    # --- state --------------------------------------------------------------------------
    def _write(self, state: dict) -> None:
        atomic_write_text(self.root / state["id"] / "state.json", json.dumps(state, indent=2))

    def state(self, run_id: str) -> dict:
        if "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise KeyError(run_id)
        path = self.root / run_id / "state.json"
        if not path.is_file():
            raise KeyError(run_id)
        state = json.loads(path.read_text("utf-8"))
        if state["status"] == "running" and run_id not in self._procs and not self._alive(state):
            state.update(status="lost", ended=time.time())  # its process is gone, and not by our hand
            self._write(state)
        return state

    @staticmethod
    def _alive(state: dict) -> bool:
        try:
            proc = psutil.Process(state["pid"])
            return abs(proc.create_time() - state["pid_started"]) < 1 and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.Error, KeyError, TypeError):
            return False

    def list(self) -> list[dict]:
        runs = []
        for d in self.root.iterdir():
            try:
                runs.append(self.state(d.name))
            except (KeyError, ValueError, OSError):
                continue  # not a run folder, or one being created
        return sorted(runs, key=lambda r: r["created"], reverse=True)

    # --- start / stop -------------------------------------------------------------------
    def start(self, kind: str, values: dict) -> dict:
        values = dict(values)
        port = None
        if kind == "api":  # the console talks to its own server: loopback, a free port
            values.setdefault("host", "127.0.0.1")
            port = values.setdefault("port", _free_port())
        config = validate(kind, values)
        target = config.get("output_dir") or config.get("export_dir")
        for other in self.list():  # two runs writing one folder would clobber each other's files
            if other["status"] == "running" and target and other["output_dir"] \
                    and Path(other["output_dir"]).resolve() == Path(target).resolve():
                raise UserError(f"{target} is being written by run {other['id']} ({other['kind']}); "
                                "stop it or pick another folder")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = self.root / run_id
        run_dir.mkdir()
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(values, sort_keys=False, allow_unicode=True))
        cmd = _command(kind, run_dir / "config.yaml")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if kind == "api":  # the config names host, port and key; the console's environment does not
            for key in ("API_HOST", "API_PORT", "TOOLTUNE_API_KEY"):
                env.pop(key, None)
        with open(run_dir / "log.txt", "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=os.getcwd(), env=env, start_new_session=True)
        state = {"id": run_id, "kind": kind, "status": "running", "pid": proc.pid,
                 "pid_started": psutil.Process(proc.pid).create_time(), "created": time.time(),
                 "ended": None, "returncode": None, "command": cmd, "config": config,
                 "output_dir": target, "port": port}
        with self._lock:
            self._procs[run_id] = proc
            self._write(state)
        threading.Thread(target=self._wait, args=(run_id, proc), daemon=True).start()
        return state

    def _wait(self, run_id: str, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self._lock:
            state = json.loads((self.root / run_id / "state.json").read_text("utf-8"))
            if state["status"] == "running":
                state["status"] = "finished" if code == 0 else "failed"
            state.update(returncode=code, ended=time.time())
            self._write(state)
            self._procs.pop(run_id, None)

    def stop(self, run_id: str) -> dict:
        with self._lock:  # read under the lock: the run may be ending right now (see _wait)
            state = self.state(run_id)
            if state["status"] != "running":
                return state
            state["status"] = "stopped"
            self._write(state)
        try:
            os.killpg(state["pid"], signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        return state

    def stop_all(self) -> None:
        for run_id in list(self._procs):
            self.stop(run_id)

    # --- what a run has produced --------------------------------------------------------
    def log_tail(self, run_id: str, max_bytes: int = 8000) -> str:
        path = self.root / run_id / "log.txt"
        if not path.is_file():
            return ""
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - max_bytes))
            text = f.read().decode("utf-8", "replace")
        # progress bars redraw a line with \r: keep what each line ended as
        return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))

    def metrics(self, state: dict) -> list[dict]:
        out = state.get("output_dir")
        path = Path(out) / "metrics.jsonl" if out and state["kind"] == "train" else None
        if path is None or not path.is_file():
            return []
        rows = []
        for line in path.read_text("utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written
        return rows

    def result(self, state: dict) -> dict | None:
        """What the command printed last as JSON (train, eval and export each print one)."""
        if state["status"] != "finished":
            return None
        text = (self.root / state["id"] / "log.txt").read_text("utf-8", "replace")
        start = text.rfind("\n{")
        try:
            return json.loads(text[start + 1:] if start >= 0 else text)
        except json.JSONDecodeError:
            return None
