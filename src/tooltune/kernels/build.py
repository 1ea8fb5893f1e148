"""The serving kernels in csrc/ (fp16-weight linear layers, decode attention): built once with
the system's C++ compiler into $TOOLTUNE_HOME/kernels (~2 s), loaded with ctypes. torch's own
OpenMP runtime runs them (the same libgomp soname, so no second runtime). Where they cannot be
built (no compiler, no AVX2), serving keeps torch's fp32 paths and says why."""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import torch

from tooltune.fsutil import atomic_file

_SOURCES = sorted((Path(__file__).with_name("csrc")).glob("*.cpp"))
_FLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-shared", "-fPIC"]
_ABI = {"half_linear_abi": 2, "decode_attention_abi": 1}
_PTR, _I64 = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {  # name: argument types (all return an int status)
    "half_linear": [_PTR] * 4 + [_I64] * 3 + [ctypes.c_int],
    "decode_attention": [_PTR] * 5 + [_I64] * 6 + [ctypes.c_float, ctypes.c_int],
    "half_linear_use_avx512": [ctypes.c_int],   # returns the previous setting
    "half_linear_has_avx512": [],
}


class KernelUnavailable(RuntimeError):
    """Why the kernels cannot run here (no AVX2, no compiler, a failed build)."""


def library() -> ctypes.CDLL:
    """The loaded kernels; raises KernelUnavailable with the reason."""
    lib, reason = _build()
    if lib is None:
        raise KernelUnavailable(reason)
    return lib


def unavailable_reason() -> str | None:
    """None where the kernels build and load here, else why not."""
    return _build()[1]


@functools.lru_cache(maxsize=1)
def _build() -> tuple[ctypes.CDLL | None, str | None]:
    """(library, None) or (None, why not), found once per process (a failed build is not retried)."""
    try:
        return _compile_and_load(), None
    except KernelUnavailable as e:
        return None, str(e)


def _compile_and_load() -> ctypes.CDLL:
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        raise KernelUnavailable(f"this CPU has no AVX2 (torch reports {capability})")
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if not compiler or not shutil.which(compiler):
        raise KernelUnavailable("no C++ compiler found (install g++, or set CXX)")
    from tooltune import home

    digest = hashlib.sha256(" ".join([compiler, *_FLAGS]).encode())
    for source in _SOURCES:
        digest.update(source.name.encode() + source.read_bytes())
    folder = Path(home()) / "kernels"
    path = folder / f"kernels-{digest.hexdigest()[:16]}.so"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:  # a concurrent or killed build leaves no half file
            done = subprocess.run([compiler, *_FLAGS, *map(str, _SOURCES), "-o", str(tmp)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise KernelUnavailable(f"{compiler} failed to build the kernels: {done.stderr.strip()[-400:]}")
    lib = ctypes.CDLL(str(path))  # after torch: its libgomp (same soname) serves the kernels' OpenMP
    for name, version in _ABI.items():
        if getattr(lib, name)() != version:
            raise KernelUnavailable(f"{path} is from another version of tooltune")
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = ctypes.c_int, argtypes
    return lib
