"""The heavy commands re-run themselves under tcmalloc/jemalloc when the machine has one."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tooltune.allocator import find_allocator

# Prints the allocator the process runs with, after asking to re-run under a fast one as `train`.
PROBE = ("import sys; from tooltune.allocator import reexec_with_fast_allocator, loaded_allocator; "
         "reexec_with_fast_allocator(sys.argv[1]); print(loaded_allocator(), sys.argv[1:])")


def probe(*args: str, **env: str) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLTUNE_ALLOCATOR", "LD_PRELOAD"))}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env={**full_env, **env},
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


needs_lib = pytest.mark.skipif(find_allocator() is None,
                               reason="no tcmalloc/jemalloc here (apt install libtcmalloc-minimal4)")


@needs_lib
def test_heavy_command_reexecs_under_the_fast_allocator_keeping_its_arguments():
    name = find_allocator().name.split(".")[0].removeprefix("lib").removesuffix("_minimal")
    assert probe("train", "lr=1e-3") == f"{name} ['train', 'lr=1e-3']"


@needs_lib
def test_light_commands_and_the_opt_out_keep_the_system_allocator():
    assert probe("data") == "None ['data']"
    assert probe("train", TOOLTUNE_ALLOCATOR="system") == "None ['train']"


def test_find_allocator_looks_only_in_the_library_dirs(monkeypatch, tmp_path):
    monkeypatch.setattr("tooltune.allocator.LIB_DIRS", (str(tmp_path),))
    assert find_allocator() is None
    (tmp_path / "libjemalloc.so.2").write_bytes(b"")
    assert find_allocator() == Path(tmp_path / "libjemalloc.so.2")
    assert find_allocator("system") is None
