"""dataset_info.json: LLaMA-Factory entries read unchanged, built-ins, hub preference."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tooltune.data.registry import (
    DatasetAttr, builtin_entries, get_dataset_attr, load_dataset_info, parse_entry,
)
from tooltune.conversation import DataError


def write_info(folder: Path, info: object) -> Path:
    path = folder / "dataset_info.json"
    path.write_text(json.dumps(info, indent=2) if not isinstance(info, str) else info, encoding="utf-8")
    return path


def test_builtins_available_without_a_user_file(tmp_path: Path) -> None:
    info = load_dataset_info(tmp_path)
    for name in ("glaive_toolcall_en_demo", "glaive_toolcall_zh_demo", "glaive_toolcall_en",
                 "glaive_toolcall_zh", "glaive_toolcall_100k", "alpaca_gpt4_en", "alpaca_gpt4_zh",
                 "alpaca_en_demo", "alpaca_zh_demo", "identity", "oaast_sft_zh", "tooltune_demo"):
        assert name in info, name
    g = info["glaive_toolcall_en_demo"]
    assert (g.load_from, g.dataset_name, g.formatting) == ("file", "glaive_toolcall_en_demo.json", "sharegpt")
    assert g.columns["messages"] == "conversations" and g.columns["tools"] == "tools"
    assert g.tags["function_tag"] == "function_call" and g.tags["role_tag"] == "from"
    assert info["glaive_toolcall_100k"].dataset_name == "hiyouga/glaive-function-calling-v2-sharegpt"
    assert info["alpaca_gpt4_zh"].hf_hub_url == "llamafactory/alpaca_gpt4_zh"
    assert info["oaast_sft_zh"].columns["history"] == "history"
    assert info["tooltune_demo"].file_name == "tooltune_demo.json"


def test_every_builtin_entry_parses() -> None:
    for name, entry in builtin_entries().items():
        assert isinstance(parse_entry(name, entry), DatasetAttr)


def test_user_entries_override_builtins_and_keep_lf_keys(tmp_path: Path) -> None:
    write_info(tmp_path, {
        "identity": {"file_name": "my_identity.json", "file_sha1": "abc"},
        "mine": {"file_name": "mine.json", "formatting": "sharegpt", "num_samples": 5,
                 "columns": {"messages": "dialog", "tools": "funcs", "images": "imgs"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "weird_tag": "x"},
                 "some_future_key": {"nested": True}},
    })
    info = load_dataset_info(tmp_path)
    assert info["identity"].dataset_name == "my_identity.json"
    assert info["identity"].info_file == str(tmp_path / "dataset_info.json")
    mine = info["mine"]
    assert mine.num_samples == 5
    assert mine.columns["messages"] == "dialog" and mine.columns["tools"] == "funcs"
    assert mine.tags["role_tag"] == "role" and "weird_tag" not in mine.tags
    assert mine.tags["observation_tag"] == "observation"  # LF default for unset tags
    assert "glaive_toolcall_en_demo" in info  # built-ins still there


def test_hub_preference(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"hf_hub_url": "org/hf", "ms_hub_url": "org/ms", "file_name": "x.json"}
    monkeypatch.delenv("USE_MODELSCOPE_HUB", raising=False)
    attr = parse_entry("d", entry)
    assert (attr.load_from, attr.dataset_name) == ("hf_hub", "org/hf")
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    attr = parse_entry("d", entry)
    assert (attr.load_from, attr.dataset_name) == ("ms_hub", "org/ms")
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "0")
    assert parse_entry("d", {"ms_hub_url": "org/ms"}).load_from == "ms_hub"  # the only hub
    assert parse_entry("d", {"file_name": "x.json"}).load_from == "file"
    attr = parse_entry("d", {"hf_hub_url": "org/hf", "subset": "en", "split": "test", "folder": "sub"})
    assert (attr.subset, attr.split, attr.folder) == ("en", "test", "sub")


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = write_info(tmp_path, '{\n  "a": {"file_name": "a.json"},\n  "b": {"file_name": }\n}\n')
    with pytest.raises(DataError) as ei:
        load_dataset_info(tmp_path)
    assert ei.value.file == str(path) and "line 3" in str(ei.value)


@pytest.mark.parametrize("entry,msg", [
    ({"formatting": "sharegpt"}, "none of file_name"),
    ({"file_name": "a.json", "formatting": "vicuna"}, "formatting 'vicuna'"),
    ({"file_name": "a.json", "columns": ["x"]}, "'columns' must be an object"),
    ({"file_name": "a.json", "num_samples": -1}, "num_samples"),
    ("just a string", "must be an object"),
])
def test_bad_entry_raises_when_used_and_is_skipped_otherwise(tmp_path: Path, entry: object, msg: str) -> None:
    write_info(tmp_path, {"bad": entry, "good": {"file_name": "g.json"}})
    info = load_dataset_info(tmp_path)
    assert "good" in info and "bad" not in info
    with pytest.raises(DataError) as ei:
        get_dataset_attr("bad", tmp_path)
    assert msg in str(ei.value) and (ei.value.field or "").startswith("bad")
    assert ei.value.file == str(tmp_path / "dataset_info.json")


def test_unknown_name_is_none(tmp_path: Path) -> None:
    assert get_dataset_attr("no_such_dataset", tmp_path) is None
