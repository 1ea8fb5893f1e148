"""The console's runs: real `tooltune` processes, their state on disk, and the HTTP API over them."""
from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from tooltune.errors import UserError
from tooltune.webui.app import create_app
from tooltune.webui.runs import RunStore, validate


def wait_final(store: RunStore, run_id: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while (state := store.state(run_id))["status"] == "running":
        assert time.time() < deadline, store.log_tail(run_id)
        time.sleep(0.3)
    return state


def test_bad_keys_and_values_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(UserError, match="did you mean 'learning_rate'"):
        validate("train", {"learning_rat": 0.1})
    with pytest.raises(UserError, match="lora_rank"):
        validate("train", {"lora_rank": "eight"})
    with pytest.raises(UserError, match="unknown run kind"):
        validate("serve", {})
    store = RunStore(tmp_path)
    with pytest.raises(UserError):
        store.start("export", {"export_dri": "x"})
    assert store.list() == []   # nothing was created


def test_a_failing_command_is_reported_with_its_error(tmp_path):
    store = RunStore(tmp_path)
    run = store.start("eval", {"model_name_or_path": str(tmp_path / "no-such-model"), "dataset": "x"})
    state = wait_final(store, run["id"], timeout=120)
    assert state["status"] == "failed" and state["returncode"] == 2
    assert "error:" in store.log_tail(run["id"])
    assert store.result(state) is None


def test_a_run_whose_process_is_gone_is_lost_not_running(tmp_path):
    store = RunStore(tmp_path)
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "state.json").write_text(json.dumps(
        {"id": "r1", "kind": "train", "status": "running", "pid": 2 ** 22 + 7, "pid_started": 0.0,
         "created": time.time(), "config": {}, "output_dir": None}))
    assert store.state("r1")["status"] == "lost"
    assert RunStore(tmp_path).state("r1")["status"] == "lost"   # written back
    with pytest.raises(KeyError):
        store.state("../r1")


def test_train_stream_stop_and_the_http_api(tmp_path, smollm2_path, shared_data):
    app = create_app(tmp_path / "runs")
    client = TestClient(app)
    bad = client.post("/api/runs", json={"kind": "train", "config": {}, "overrides": ["lora_rnak=4"]})
    assert bad.status_code == 400 and "lora_rank" in bad.json()["detail"]
    config = {"model_name_or_path": str(smollm2_path), "dataset": "glaive_toolcall_en_demo",
              "dataset_dir": str(shared_data), "max_samples": 8, "cutoff_len": 256,
              "per_device_train_batch_size": 1, "output_dir": str(tmp_path / "out")}
    run = client.post("/api/runs", json={"kind": "train", "config": config,
                                         "overrides": ["max_steps=200", "logging_steps=1", "bf16=false"]}).json()
    assert run["status"] == "running" and run["output_dir"] == str(tmp_path / "out")
    deadline = time.time() + 300
    while len((detail := client.get(f"/api/runs/{run['id']}").json())["metrics"]) < 2:
        assert detail["status"] == "running", detail["log"]
        assert time.time() < deadline, detail["log"]
        time.sleep(0.5)
    assert [m["step"] for m in detail["metrics"][:2]] == [1, 2] and detail["metrics"][0]["loss"] > 0
    clash = client.post("/api/runs", json={"kind": "export", "config": {"export_dir": str(tmp_path / "out")}})
    assert clash.status_code == 400 and run["id"] in clash.json()["detail"]
    assert client.post(f"/api/runs/{run['id']}/stop").json()["status"] == "stopped"
    state = wait_final(app.state.store, run["id"], timeout=60)
    assert state["status"] == "stopped" and state["returncode"] != 0
    listed = client.get("/api/runs").json()
    assert [r["id"] for r in listed] == [run["id"]]
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get("/api/i18n/zh").json()["tab_train"] == "训练"
    assert client.get("/api/i18n/en").json().keys() == client.get("/api/i18n/zh").json().keys()
