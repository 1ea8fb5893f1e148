"""Atomic writes: a write that fails (or is killed) leaves the old content whole, never a mix."""
from __future__ import annotations

import pytest

from tooltune.fsutil import atomic_dir, atomic_file, atomic_write_text, move_files_into


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "state.json", "old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    with atomic_file(path) as tmp:
        assert tmp.suffix == ".json"  # writers that pick a format by suffix (savefig) still can
        tmp.write_text("new")
    assert path.read_text() == "new"


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "checkpoint-10"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("2")
            raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-10"]
    assert (target / "a").read_text() == "1"
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("3")
    assert [p.name for p in target.iterdir()] == ["b"]


def test_files_move_into_a_folder_that_keeps_its_other_files(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint-1").mkdir(parents=True)
    staged = run / ".final"
    staged.mkdir()
    (staged / "adapter_model.safetensors").write_bytes(b"x")
    move_files_into(staged, run)
    assert sorted(p.name for p in run.iterdir()) == ["adapter_model.safetensors", "checkpoint-1"]
