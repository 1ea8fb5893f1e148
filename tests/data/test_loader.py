"""Reading files / folders / hubs, name resolution, mixing, splitting and the skip report."""
from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tooltune.data import loader
from tooltune.data.loader import load_conversations, read_rows, resolve_dataset
from tooltune.data.registry import get_dataset_attr
from tooltune.conversation import DataError

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data {SHARED} is not present")


def sg_row(q: str = "hi", a: str = "hello") -> dict:
    return {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}


def alpaca_rows(n: int) -> list[dict]:
    return [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(n)]


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local data must never reach the network; hub tests mock `datasets.load_dataset`."""
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("USE_MODELSCOPE_HUB", raising=False)


# ------------------------------------------------------------------ real data

@needs_shared
def test_shared_data_counts() -> None:
    res = load_conversations("glaive_toolcall_en_demo, glaive_toolcall_zh_demo,alpaca_en_demo,identity",
                             dataset_dir=SHARED)
    reps = {d.name: d for d in res.report.datasets}
    assert (reps["glaive_toolcall_en_demo"].rows_read, reps["glaive_toolcall_en_demo"].kept) == (300, 300)
    zh = reps["glaive_toolcall_zh_demo"]
    assert (zh.rows_read, zh.kept, zh.skipped) == (300, 298, 2)
    assert dict(zh.reasons) == {"'observation' without a preceding 'function_call'": 2}
    assert [(e.row, e.field) for e in zh.examples] == [(197, "conversations[2]"), (293, "conversations[2]")]
    assert str(zh.examples[0]).startswith(f"file {SHARED / 'glaive_toolcall_zh_demo.json'}, row 197")
    assert reps["alpaca_en_demo"].kept == 999 and reps["identity"].kept == 91
    assert len(res.train) == 300 + 298 + 999 + 91 and res.val == []
    assert "2 x 'observation' without" in res.report.summary()


def test_local_loading_does_not_import_datasets(tmp_path: Path) -> None:
    """`datasets` (slow, network-aware) is only imported for hub datasets."""
    import subprocess
    write_json(tmp_path / "d.json", alpaca_rows(2))
    code = ("import sys; from tooltune.data.loader import load_conversations; "
            f"load_conversations({str(tmp_path / 'd.json')!r}, dataset_dir={str(tmp_path)!r}); "
            "print('datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@needs_shared
def test_shared_file_by_path_autodetects(tmp_path: Path) -> None:
    res = load_conversations(str(SHARED / "glaive_toolcall_en_demo.json"), dataset_dir=tmp_path)
    assert res.report.datasets[0].formatting == "sharegpt" and len(res.train) == 300
    assert any(t for c in res.train for t in c.tools)
    res = load_conversations(str(SHARED / "dpo_en_demo.json"), dataset_dir=tmp_path, max_samples=5)
    assert len(res.train) == 5  # ranking rows: trained on the chosen answer


# ------------------------------------------------------------------ bad rows

BAD_ROWS = [
    ({"conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]},
     "conversations[1]", "two 'human' turns"),
    ({"conversations": [{"from": "gpt", "value": "a"}]}, "conversations[0]", "first turn"),
    ({"conversations": [{"from": "human", "value": "a"}, {"from": "observation", "value": "x"},
                        {"from": "gpt", "value": "b"}]}, "conversations[1]", "without a preceding"),
    ({"conversations": [{"from": "human", "value": "a"}, {"from": "function_call", "value": "{oops"},
                        {"from": "observation", "value": "x"}, {"from": "gpt", "value": "b"}]},
     "conversations[1]", "not JSON"),
    ({"conversations": [{"from": "human", "value": "a"}, {"from": "function_call", "value": '{"arguments": {}}'},
                        {"from": "observation", "value": "x"}, {"from": "gpt", "value": "b"}]},
     "conversations[1]", "names no function"),
    ({"conversations": [{"from": "human", "value": "a"},
                        {"from": "function_call", "value": '{"name": "f", "arguments": "[1, 2]"}'},
                        {"from": "observation", "value": "x"}, {"from": "gpt", "value": "b"}]},
     "conversations[1]", "JSON object"),
    ({**sg_row(), "tools": '{"name": "f"}'}, "tools", "list of function schemas"),
    ({"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "  "}]},
     "conversations[1]", "empty 'gpt'"),
]


def test_bad_rows_skipped_and_reported(tmp_path: Path) -> None:
    rows = [sg_row("ok0")] + [r for r, _, _ in BAD_ROWS] + [sg_row("ok_last")]
    path = write_json(tmp_path / "mixed.json", rows)
    res = load_conversations(str(path), dataset_dir=tmp_path)
    rep = res.report.datasets[0]
    assert (rep.rows_read, rep.kept, rep.skipped) == (len(rows), 2, len(BAD_ROWS))
    assert sum(rep.reasons.values()) == len(BAD_ROWS)
    for k, (ex, (_, fld, msg)) in enumerate(zip(rep.examples, BAD_ROWS, strict=True)):
        assert (ex.file, ex.row, ex.field) == (str(path), k + 1, fld)
        assert msg in ex.reason
        text = str(ex)
        assert str(path) in text and f"row {k + 1}" in text and fld in text


@pytest.mark.parametrize("k", range(len(BAD_ROWS)))
def test_strict_raises_at_first_bad_row(tmp_path: Path, k: int) -> None:
    row, fld, msg = BAD_ROWS[k]
    path = write_json(tmp_path / "d.json", [sg_row(), row, sg_row()])
    with pytest.raises(DataError) as ei:
        load_conversations(str(path), dataset_dir=tmp_path, strict=True)
    e = ei.value
    assert (e.file, e.row, e.field) == (str(path), 1, fld) and msg in e.reason
    assert str(path) in str(e) and "row 1" in str(e) and fld in str(e)


def test_skip_examples_capped_but_all_counted(tmp_path: Path) -> None:
    bad = {"conversations": [{"from": "gpt", "value": "a"}]}
    path = write_json(tmp_path / "d.json", [sg_row()] + [bad] * 25)
    rep = load_conversations(str(path), dataset_dir=tmp_path).report.datasets[0]
    assert rep.skipped == 25 and len(rep.examples) == loader.MAX_EXAMPLES
    assert list(rep.reasons.values()) == [25]


def test_all_rows_bad_is_an_error(tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", alpaca_rows(3))
    (tmp_path / "dataset_info.json").write_text(json.dumps(
        {"wrong": {"file_name": "d.json", "formatting": "sharegpt"}}))
    with pytest.raises(DataError, match="none of its 3 rows could be used.*missing column 'conversations'"):
        load_conversations("wrong", dataset_dir=tmp_path)
    assert path.exists()


def test_non_object_row_is_a_bad_row(tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", alpaca_rows(1) + ["just text"])
    rep = load_conversations(str(path), dataset_dir=tmp_path).report.datasets[0]
    assert rep.skipped == 1 and rep.examples[0].row == 1


# ------------------------------------------------------------------ files

def test_unparseable_json_is_one_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c",, }\n]\n')
    with pytest.raises(DataError) as ei:
        load_conversations(str(path), dataset_dir=tmp_path)
    assert ei.value.file == str(path) and "line 3" in ei.value.reason


def test_jsonl_bad_line_named(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n\n{"instruction": oops}\n')
    with pytest.raises(DataError) as ei:
        read_rows(path)
    assert ei.value.file == str(path) and "line 3" in ei.value.reason


def test_empty_and_missing_and_unsupported_files(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(DataError, match="empty"):
        read_rows(tmp_path / "empty.json")
    with pytest.raises(DataError, match="file not found"):
        load_conversations(str(tmp_path / "nope.json"), dataset_dir=tmp_path)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported file type"):
        read_rows(tmp_path / "x.txt")


def test_json_lines_inside_dot_json_and_single_object(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("\n".join(json.dumps(r) for r in alpaca_rows(3)))
    assert len(read_rows(tmp_path / "a.json")) == 3
    write_json(tmp_path / "b.json", alpaca_rows(1)[0])
    assert read_rows(tmp_path / "b.json") == alpaca_rows(1)


def test_jsonl_csv_parquet_arrow_and_folder(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"conversations": json.dumps(sg_row(f"q{i}")["conversations"]),
             "tools": json.dumps([{"name": "f", "parameters": {"type": "object", "properties": {}}}])}
            for i in range(4)]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in alpaca_rows(4)) + "\n")
    import csv
    with open(tmp_path / "d.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["conversations", "tools"])
        w.writeheader()
        w.writerows(rows)
    nested = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
              for i in range(4)]
    pq.write_table(pa.Table.from_pylist(nested), tmp_path / "d.parquet")
    with pa.OSFile(str(tmp_path / "d.arrow"), "wb") as sink:
        table = pa.Table.from_pylist(alpaca_rows(4))
        with pa.ipc.new_stream(sink, table.schema) as w2:
            w2.write_table(table)
    for name, fmt in [("d.jsonl", "alpaca"), ("d.csv", "sharegpt"), ("d.parquet", "openai"),
                      ("d.arrow", "alpaca")]:
        res = load_conversations(str(tmp_path / name), dataset_dir=tmp_path)
        assert res.report.datasets[0].formatting == fmt and len(res.train) == 4, name
    assert load_conversations(str(tmp_path / "d.csv"), dataset_dir=tmp_path).train[0].tools
    folder = tmp_path / "parts"
    folder.mkdir()
    write_json(folder / "a.json", alpaca_rows(2))
    (folder / "b.jsonl").write_text("\n".join(json.dumps(r) for r in alpaca_rows(3)))
    (folder / "README.md").write_text("ignored")
    assert len(read_rows(folder)) == 5
    res = load_conversations(str(folder), dataset_dir=tmp_path)
    assert len(res.train) == 5


# ------------------------------------------------------------------ LF dataset_info folders

def test_lf_dataset_dir_with_custom_entry(tmp_path: Path) -> None:
    """An LF data folder with remapped columns and tags works unchanged."""
    rows = [{"dialog": [{"speaker": "U", "text": "weather?"},
                        {"speaker": "F", "text": json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})},
                        {"speaker": "O", "text": "-3C"},
                        {"speaker": "A", "text": "It is -3C."}],
             "funcs": json.dumps([{"name": "get_weather", "parameters": {"type": "object"}}]),
             "sys": "You are a weather bot."},
            {"dialog": [{"speaker": "U", "text": "hi"}, {"speaker": "A", "text": "hello"}], "funcs": "[]"}]
    write_json(tmp_path / "my_agent.json", rows)
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "my_agent": {"file_name": "my_agent.json", "formatting": "sharegpt", "file_sha1": "ignored",
                     "columns": {"messages": "dialog", "tools": "funcs", "system": "sys"},
                     "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "U",
                              "assistant_tag": "A", "function_tag": "F", "observation_tag": "O"}},
        "my_alpaca": {"file_name": "alp.json", "columns": {"prompt": "q", "response": "a", "history": "h"}},
    }, indent=2))
    write_json(tmp_path / "alp.json", [{"q": "x", "a": "y", "h": [["p", "r"]]}])
    res = load_conversations(["my_agent", "my_alpaca"], dataset_dir=tmp_path, seed=1)
    assert res.report.kept == 3 and res.report.skipped == 0
    agent = next(c for c in res.train if c.tools)
    assert [m["role"] for m in agent.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert agent.messages[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    alp = next(c for c in res.train if c.messages[0]["content"] == "p")
    assert len(alp.messages) == 4


def test_builtin_entry_found_in_dataset_dir(tmp_path: Path) -> None:
    write_json(tmp_path / "identity.json", alpaca_rows(3))
    assert len(load_conversations("identity", dataset_dir=tmp_path).train) == 3
    with pytest.raises(DataError, match="file not found"):
        load_conversations("alpaca_en_demo", dataset_dir=tmp_path)


@pytest.mark.parametrize("shape", ["sharegpt", "openai"])
def test_builtin_tooltune_demo_autodetects(tmp_path: Path, shape: str) -> None:
    """`tooltune data synth` output loads by name whichever of the two shapes it writes."""
    tools = [{"name": "f", "parameters": {"type": "object", "properties": {}}}]
    if shape == "sharegpt":
        row = {"conversations": [{"from": "human", "value": "go"},
                                 {"from": "function_call", "value": '{"name": "f", "arguments": {}}'},
                                 {"from": "observation", "value": "ok"}, {"from": "gpt", "value": "done"}],
               "tools": json.dumps(tools), "system": "sys"}
    else:
        row = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "go"},
                            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                             "function": {"name": "f", "arguments": {}}}]},
                            {"role": "tool", "tool_call_id": "c", "content": "ok"},
                            {"role": "assistant", "content": "done"}],
               "tools": [{"type": "function", "function": tools[0]}]}
    write_json(tmp_path / "tooltune_demo.json", [row])
    conv = load_conversations("tooltune_demo", dataset_dir=tmp_path).train[0]
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert conv.tools[0]["function"]["name"] == "f"


def test_online_dataset_dir_means_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    seen = []
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda path, **kw: seen.append(path) or datasets.Dataset.from_list(alpaca_rows(2)))
    assert len(load_conversations("plainname", dataset_dir="ONLINE").train) == 2
    assert seen == ["plainname"]


def test_num_samples_from_registry(tmp_path: Path) -> None:
    write_json(tmp_path / "d.json", alpaca_rows(4))
    (tmp_path / "dataset_info.json").write_text(json.dumps(
        {"few": {"file_name": "d.json", "num_samples": 2}, "many": {"file_name": "d.json", "num_samples": 6}}))
    assert load_conversations("few", dataset_dir=tmp_path).report.datasets[0].rows_read == 2
    assert len(load_conversations("many", dataset_dir=tmp_path).train) == 6  # repeats, like LF


def test_unknown_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset 'glaive_toolcal_en_demo'.*glaive_toolcall_en_demo"):
        load_conversations("glaive_toolcal_en_demo", dataset_dir=tmp_path)
    with pytest.raises(DataError, match="no dataset given"):
        load_conversations(" , ", dataset_dir=tmp_path)


# ------------------------------------------------------------------ sampling / splitting

@pytest.fixture
def two_files(tmp_path: Path) -> Path:
    write_json(tmp_path / "a.json", alpaca_rows(30))
    write_json(tmp_path / "b.json", [sg_row(f"b{i}") for i in range(20)])
    return tmp_path


def contents(convs: list) -> list[str]:
    return [c.messages[0]["content"] for c in convs]


def test_max_samples_per_dataset(two_files: Path) -> None:
    res = load_conversations(f"{two_files / 'a.json'},{two_files / 'b.json'}", dataset_dir=two_files,
                             max_samples=5)
    assert [d.rows_read for d in res.report.datasets] == [5, 5] and len(res.train) == 10
    assert sorted(contents(res.train)) == sorted([f"q{i}" for i in range(5)] + [f"b{i}" for i in range(5)])


def test_single_dataset_keeps_order(two_files: Path) -> None:
    res = load_conversations(str(two_files / "a.json"), dataset_dir=two_files)
    assert contents(res.train) == [f"q{i}" for i in range(30)]


def test_val_size_fraction_and_count_and_seed(two_files: Path) -> None:
    names = [str(two_files / "a.json"), str(two_files / "b.json")]
    res = load_conversations(names, dataset_dir=two_files, val_size=0.1, seed=3)
    assert (len(res.train), len(res.val)) == (45, 5)
    assert (res.report.train_size, res.report.val_size) == (45, 5)
    again = load_conversations(names, dataset_dir=two_files, val_size=0.1, seed=3)
    assert contents(again.train) == contents(res.train) and contents(again.val) == contents(res.val)
    other = load_conversations(names, dataset_dir=two_files, val_size=0.1, seed=4)
    assert contents(other.train) != contents(res.train)
    assert set(contents(res.train)) | set(contents(res.val)) == set(contents(other.train) + contents(other.val))
    res = load_conversations(names, dataset_dir=two_files, val_size=7)
    assert (len(res.train), len(res.val)) == (43, 7)
    assert len(load_conversations(names, dataset_dir=two_files, val_size=0.01).val) == 1  # rounded up


@pytest.mark.parametrize("val_size", [50, 60, 2.5, -0.1])
def test_bad_val_size(two_files: Path, val_size: float) -> None:
    with pytest.raises(DataError, match="val_size"):
        load_conversations([str(two_files / "a.json"), str(two_files / "b.json")],
                           dataset_dir=two_files, val_size=val_size)


# ------------------------------------------------------------------ hubs

def test_hub_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def offline(path: str, **kw: object) -> None:
        calls.append((path, kw))
        raise ConnectionError("Couldn't reach 'llamafactory/glaive_toolcall_en' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as ei:
        load_conversations("glaive_toolcall_en", dataset_dir=tmp_path)
    msg = str(ei.value)
    assert "'glaive_toolcall_en' (llamafactory/glaive_toolcall_en)" in msg
    assert "Hugging Face Hub" in msg and "ConnectionError" in msg
    assert calls[0][0] == "llamafactory/glaive_toolcall_en" and calls[0][1]["split"] == "train"
    with pytest.raises(DataError, match="'someone/agent-data'.*Hugging Face Hub"):
        load_conversations("someone/agent-data", dataset_dir=tmp_path)


def test_hub_rows_autodetected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets, "load_dataset",
                        lambda path, **kw: datasets.Dataset.from_list([sg_row(), sg_row("x")]))
    res = load_conversations("someone/agent-data", dataset_dir=tmp_path)
    assert len(res.train) == 2 and res.report.datasets[0].source == "hf_hub:someone/agent-data"


def test_modelscope_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    monkeypatch.setitem(sys.modules, "modelscope", None)  # makes `import modelscope` fail
    attr = get_dataset_attr("alpaca_gpt4_en", tmp_path)
    assert attr is not None and attr.load_from == "ms_hub"
    with pytest.raises(DataError, match="modelscope is not installed"):
        load_conversations("alpaca_gpt4_en", dataset_dir=tmp_path)


def test_local_loading_never_calls_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("datasets.load_dataset called for local data")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    write_json(tmp_path / "d.json", alpaca_rows(2))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {"file_name": "d.json"}}))
    assert len(load_conversations("d", dataset_dir=tmp_path).train) == 2
    assert resolve_dataset(str(tmp_path / "d.json"), tmp_path).load_from == "file"


def test_path_like_typo_is_not_sent_to_the_hub(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_conversations("data/missing.json", dataset_dir=tmp_path)


# ------------------------------------------------------------------ meta

def test_meta_attached_when_conversation_has_it() -> None:
    @dataclass
    class WithMeta:
        messages: list
        tools: list = field(default_factory=list)
        meta: dict = field(default_factory=dict)

    conv = WithMeta(messages=[])
    loader._attach_meta(conv, "ds", "f.json", 4)  # type: ignore[arg-type]
    assert conv.meta == {"dataset": "ds", "file": "f.json", "row": 4}


def test_report_to_dict(two_files: Path) -> None:
    rep = load_conversations(str(two_files / "a.json"), dataset_dir=two_files).report
    d = rep.to_dict()
    assert d["datasets"][0]["kept"] == 30 and json.dumps(d)
