"""The console in a real browser (Debian's Chromium, driven by Playwright): train with a live loss
curve, reattach after a refresh, switch to Chinese, evaluate and export the adapter, chat with the
export."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("TOOLTUNE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _need_browser():
    if not CHROMIUM.exists():
        if os.environ.get("TOOLTUNE_REQUIRE_BROWSER"):   # CI installs Chromium: there a skip would hide a gap
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt install chromium)")
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = folder / "console.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tooltune.cli", "webui", "--port", str(port),
                                 "--runs_dir", str(folder / "runs")], stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.3)
    yield url, folder
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _points(page) -> int:
    return int(page.locator(".run[data-kind=train] svg.chart").get_attribute("data-points") or 0)


def test_train_refresh_language_export_and_chat(console, smollm2_path, shared_data):
    sync_api = _need_browser()
    expect = sync_api.expect
    url, folder = console
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(locale="en-US")
        page.goto(url)
        expect(page.locator("nav button[data-tab=train]")).to_have_text("Train")

        # --- train: a bad key is named before anything runs; then a live loss curve ----------
        form = page.locator("form[data-kind=train]")
        for name, value in {"model_name_or_path": smollm2_path, "dataset": "glaive_toolcall_en_demo",
                            "dataset_dir": shared_data, "max_samples": 8, "cutoff_len": 256,
                            "per_device_train_batch_size": 1, "max_steps": 6, "output_dir": folder / "agent"}.items():
            form.locator(f"[name={name}]").fill(str(value))
        form.locator("[name=overrides]").fill("learning_rat=0.01")
        form.locator("button[type=submit]").click()
        expect(form.locator(".error")).to_contain_text("did you mean 'learning_rate'")
        form.locator("[name=overrides]").fill("logging_steps=1\nbf16=false")
        form.locator("button[type=submit]").click()
        panel = page.locator(".run[data-kind=train]")
        page.wait_for_function("() => Number(document.querySelector('.run[data-kind=train] svg.chart')"
                               "?.dataset.points || 0) >= 2", timeout=300_000)
        run_id = panel.locator(".run-id").inner_text()
        assert _points(page) < 6, "the curve should be seen while training runs"

        # --- a refresh reattaches to the same run, which goes on to finish ----------------------
        page.reload()
        expect(panel.locator(".run-id")).to_have_text(run_id)
        expect(panel.locator(".status")).to_have_text("finished", timeout=300_000)
        assert _points(page) == 6
        assert json.loads(panel.locator("pre.result").inner_text())["steps"] == 6
        expect(page.locator("#runs li")).to_have_count(1)

        # --- Chinese, kept across a refresh -------------------------------------------------------
        page.select_option("#lang", "zh")
        expect(page.locator("nav button[data-tab=train]")).to_have_text("训练")
        expect(panel.locator(".status")).to_have_text("已完成")
        page.reload()
        expect(page.locator("nav button[data-tab=export]")).to_have_text("导出")

        # --- evaluate the adapter: tool-call accuracy as a table -----------------------------------
        page.locator("nav button[data-tab=eval]").click()
        form = page.locator("form[data-kind=eval]")
        for name, value in {"model_name_or_path": smollm2_path, "adapter_name_or_path": folder / "agent",
                            "dataset": "glaive_toolcall_en_demo", "dataset_dir": shared_data,
                            "val_size": 0, "eval_toolcall_samples": 3}.items():
            form.locator(f"[name={name}]").fill(str(value))
        form.locator("[name=overrides]").fill("max_samples=4\nmax_new_tokens=48")
        form.locator("button[type=submit]").click()
        scores = page.locator(".run[data-kind=eval] table.scores")
        expect(scores.locator("tr[data-key=cases] td").nth(1)).to_have_text("3", timeout=300_000)
        expect(scores.locator("tr[data-key=overall] td").first).to_have_text("完全正确")
        assert scores.locator("tr[data-key=arguments] td").nth(1).inner_text().endswith("%")

        # --- export the adapter merged ------------------------------------------------------------
        page.locator("nav button[data-tab=export]").click()
        form = page.locator("form[data-kind=export]")
        form.locator("[name=model_name_or_path]").fill(str(smollm2_path))
        form.locator("[name=adapter_name_or_path]").fill(str(folder / "agent"))
        form.locator("[name=export_dir]").fill(str(folder / "merged"))
        form.locator("button[type=submit]").click()
        expect(page.locator(".run[data-kind=export] .status")).to_have_text("已完成", timeout=300_000)
        assert (folder / "merged" / "config.json").is_file()

        # --- chat with the export through the OpenAI API it is served behind ----------------------
        page.locator("nav button[data-tab=chat]").click()
        form = page.locator("form[data-kind=api]")
        form.locator("[name=model_name_or_path]").fill(str(folder / "merged"))
        form.locator("button[type=submit]").click()
        expect(page.locator("#send")).to_be_enabled(timeout=300_000)
        page.locator("#tools").fill(json.dumps(WEATHER))
        page.locator("#message").fill("What's the weather in Paris?")
        page.locator("#send").click()
        expect(page.locator("#messages .msg.user")).to_have_count(1)
        expect(page.locator("#messages .msg.assistant")).to_have_count(1, timeout=300_000)
        reply = page.locator("#messages .msg.assistant")
        assert reply.inner_text().strip() not in ("", "助手:"), "the reply is empty"

        # --- a call the model made: the user types its result and the model goes on --------------
        # (a 6-step adapter may or may not call, so the call is put in the page's history)
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        page.evaluate("""call => {
            sessionStorage.setItem(`chat-${shown.api}`, JSON.stringify([
                {role: "user", content: "What's the weather in Paris?"},
                {role: "assistant", content: null, tool_calls: [call]}]));
            renderMessages();
        }""", call)
        expect(page.locator("#messages .call")).to_have_text('工具调用: get_weather({"city": "Paris"})')
        page.locator("#tool-results textarea").fill('{"temperature_c": 21, "sky": "clear"}')
        page.locator("#tool-results button").click()
        expect(page.locator("#messages .msg.tool")).to_contain_text("21")
        expect(page.locator("#messages .msg.assistant")).to_have_count(2, timeout=300_000)
        expect(page.locator("#chat-error")).to_be_hidden()
        page.locator(".run[data-kind=api] button.stop").click()
        expect(page.locator(".run[data-kind=api] .status")).to_have_text("已停止", timeout=60_000)
        browser.close()
