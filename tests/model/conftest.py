"""Fixtures for the model hub tests: real models pulled once into the real $TOOLTUNE_HOME.

Pulls are idempotent, so CI that caches tooltune.home() pays the download/convert cost once.
Fixture names are prefixed `hub_` so they never shadow the shared fixtures in tests/conftest.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import tooltune


@pytest.fixture(scope="session")
def hub_home() -> Path:
    """The real home, captured before any test points TOOLTUNE_HOME elsewhere."""
    return Path(tooltune.home())


@pytest.fixture(scope="session")
def hub_smol(hub_home) -> Path:
    from tooltune.model.hub import pull

    return pull("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def hub_smol_gguf(hub_smol, hub_home) -> Path:
    from tooltune.model.hub import read_meta

    gguf = Path(read_meta(hub_smol)["gguf"])
    assert gguf.is_file() and gguf.is_relative_to(hub_home)
    return gguf


@pytest.fixture(scope="session")
def hub_smol_model(hub_smol):
    from tooltune.model.loader import load_model

    return load_model("smollm2-135m-instruct", dtype="fp32")


@pytest.fixture(scope="session")
def hub_smol_tok(hub_smol):
    from tooltune.model.loader import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct", padding_side="left")


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """A fresh TOOLTUNE_HOME with nothing pulled."""
    home = tmp_path / "home"
    monkeypatch.setenv("TOOLTUNE_HOME", str(home))
    monkeypatch.delenv("USE_MODELSCOPE_HUB", raising=False)
    return home
