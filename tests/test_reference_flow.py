"""The reference article's flow, as a user runs it with their own tool: `calculate_gpa` as a
typed, documented Python function -> `tooltune data synth --tools` -> a LoRA tune -> `tooltune
api` on 127.0.0.1 -> the article's client (`examples/gpa_client.py`, the real `openai` library),
unchanged: one call with exactly the values asked for, then an answer that uses its result.

The general agent (tools it never saw, `examples/general_agent.yaml`) takes ~an hour to tune on
a 2-core CPU; `bench/agent_quality.py` runs this same client against it.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "examples" / "gpa_tools.py"   # calculate_gpa as the user writes it


def gpa_client():
    spec = importlib.util.spec_from_file_location("gpa_client", ROOT / "examples" / "gpa_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpa_agent(smollm2_path, tmp_path_factory) -> Path:
    from tooltune.train.args import TrainConfig
    from tooltune.train.sft import run_train

    work = tmp_path_factory.mktemp("gpa")
    subprocess.run([sys.executable, "-m", "tooltune.cli", "data", "synth", "--tools", str(TOOL),
                    "-o", str(work / "gpa.json"), "-n", "200", "--langs", "zh,zh,zh,en"], check=True)
    run_train(TrainConfig(model_name_or_path=str(smollm2_path), template="chatml", dataset=str(work / "gpa.json"),
                          cutoff_len=384, packing=True, per_device_train_batch_size=4, learning_rate=2e-3,
                          lora_rank=16, max_steps=48, lr_scheduler_type="cosine", logging_steps=4, seed=0, bf16=False,
                          output_dir=str(work / "adapter"), eval_toolcall=False))
    return work / "adapter"


@pytest.fixture(scope="module")
def gpa_server(smollm2_path, gpa_agent, launch_api):
    # The client sets no temperature, so the server's default decides. Greedy here, so the flow is
    # checked, not the luck of a draw: at the default 0.95 / 0.7 the 32-step agent's call was
    # exact 16 of 16 times but its answer after the result only 4 to 8 of 16 (bench/agent_quality.py).
    # 48 steps: with 27 of the 200 rows' no-fit requests reworded (questions.py), 32 steps left
    # the greedy answer after the result echoing the question; the old rows passed at 32.
    yield from launch_api(smollm2_path, gpa_agent.parent, "--adapter", str(gpa_agent), "--do_sample", "false")


def test_the_articles_gpa_client_gets_the_call_and_the_answer(gpa_server):
    name, arguments, answer = gpa_client().run(gpa_server.client("0"))
    assert (name, arguments) == ("calculate_gpa", {"grades": ["A", "A", "B", "C"], "hours": [3, 4, 3, 2]})
    assert "3.4" in answer, answer


def test_the_flow_streams_the_same_call(gpa_server):
    client, tools = gpa_server.client("0"), gpa_client().TOOLS
    chunks = list(client.chat.completions.create(model="m", tools=tools, stream=True, messages=[
        {"role": "user", "content": gpa_client().QUESTION}]))
    parts = [d.function.arguments or "" for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert parts, f"no call streamed; the text was {text!r}"
    assert json.loads("".join(parts)) == {"grades": ["A", "A", "B", "C"], "hours": [3, 4, 3, 2]}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
