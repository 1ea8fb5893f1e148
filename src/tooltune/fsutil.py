"""Writes that never leave half a file or half a folder: the one home of atomic writes.

Everything is written to a temporary name beside its target (the same folder, so the rename is
atomic), flushed to disk, then renamed over it: a kill at any point leaves the old version or the
new one, never a mix. Checkpoints, exports, pulled models, run state and metrics all go through
here.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s new content to; it replaces `path` when the block
    ends without an error, and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")  # the suffix: savefig reads it
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a finished folder into place; an existing target is swapped out first, then deleted."""
    for f in tmp.rglob("*"):  # data on disk before the rename makes it visible
        if f.is_file():
            _fsync(f)
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; it becomes `target` (replacing what was
    there) when the block ends without an error, and is removed when it raises."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_files_into(tmp: Path, folder: Path) -> None:
    """Move each finished file of `tmp` into `folder` (which holds other things, e.g. a run's
    checkpoints), each one whole, then remove `tmp`."""
    for f in tmp.iterdir():
        _fsync(f)
        os.replace(f, folder / f.name)
    tmp.rmdir()
