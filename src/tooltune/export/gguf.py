"""Write a merged transformers model as a GGUF file (f16 or q8_0), plus an Ollama Modelfile.

Tensor names, value transforms and tokenizer metadata follow llama.cpp's convert_hf_to_gguf.py, so
llama.cpp / Ollama run the file and transformers' GGUF loader reads it back:
- llama (SmolLM2, Llama): q/k rows are permuted into llama.cpp's rotary layout (transformers
  undoes it on load);
- gemma3: every RMSNorm weight is stored as w + 1 (llama.cpp's Gemma norms multiply by w, HF's by
  1 + w; transformers subtracts the 1 on load).
2-D weights become f16 / q8_0; 1-D tensors (norms, biases) stay f32, as llama.cpp keeps them.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tooltune.errors import UserError

GGUF_TYPES = ("f16", "q8_0")

# transformers model_type -> (llama.cpp architecture name, how its tensors are transformed)
_ARCHS: dict[str, str] = {"llama": "llama", "gemma3_text": "gemma3", "gemma3": "gemma3",
                          "qwen2": "qwen2"}

# llama.cpp's pre-tokenizer names, for BPE vocabularies whose origin we can recognise. llama.cpp
# picks these by hashing tokenizer output; we guess from the model's name, else say "default".
_PRE_BY_NAME = (("smollm", "smollm"), ("qwen", "qwen2"), ("llama-3", "llama-bpe"), ("llama3", "llama-bpe"))


@dataclass
class GGUFReport:
    path: Path
    qtype: str
    seconds: float
    size_bytes: int
    n_tensors: int
    architecture: str


def llama_permute(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: HF's half-split rotary rows -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_arch(config) -> str:
    arch = _ARCHS.get(config.model_type)
    if arch is None:
        raise UserError(f"GGUF export supports {', '.join(sorted(set(_ARCHS)))} models, not "
                        f"{config.model_type!r}; export safetensors and convert with llama.cpp's "
                        "convert_hf_to_gguf.py")
    rope = getattr(config, "rope_scaling", None) or {}
    if isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) not in (None, "default"):
        raise UserError(f"GGUF export does not write rope scaling ({rope.get('rope_type') or rope.get('type')}) "
                        "yet; use llama.cpp's convert_hf_to_gguf.py for this model")
    return arch


def _rope_theta(config) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    if "full_attention" in params:  # Gemma 3: per-layer-type parameters; llama.cpp stores the global one
        params = params["full_attention"]
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta or getattr(config, "rope_theta", None) or 10000.0)


def _write_hparams(w, arch: str, config) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    w.add_rope_freq_base(_rope_theta(config))
    w.add_vocab_size(config.vocab_size)
    if arch == "gemma3":
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
        if getattr(config, "sliding_window", None):
            w.add_sliding_window(config.sliding_window)
    else:
        w.add_rope_dimension_count(head_dim)


def _tensor_plan(model, arch: str):
    """(gguf name, fp32 numpy array) for every weight, transformed the way llama.cpp stores it."""
    import gguf
    import torch

    config = model.config
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp writes no output.weight for tied embeddings; loaders re-tie
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"GGUF export: no llama.cpp name for tensor {hf_name!r}")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if arch == "llama" and name.endswith("attn_q.weight"):
            data = llama_permute(data, config.num_attention_heads, config.num_attention_heads)
        elif arch == "llama" and name.endswith("attn_k.weight"):
            data = llama_permute(data, config.num_attention_heads, config.num_key_value_heads)
        elif arch == "gemma3" and name.endswith("norm.weight"):
            data = data + 1.0
        yield name, data


def _encode(data: np.ndarray, qtype: str):
    """(array, raw ggml type or None) for GGUFWriter.add_tensor."""
    import gguf

    if data.ndim < 2:
        return data.astype(np.float32), None
    if qtype == "q8_0" and data.shape[-1] % 32 == 0:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
    return data.astype(np.float16), None


# ------------------------------------------------------------------ tokenizer


def _backend(tokenizer) -> dict:
    return json.loads(tokenizer.backend_tokenizer.to_str())


def _vocab_by_id(tokenizer, size: int) -> list[str | None]:
    out: list[str | None] = [None] * size
    for tok, i in tokenizer.get_vocab().items():
        if i < size:
            out[i] = tok
    return out


def _pre_tokenizer_name(model_name: str, source_gguf: str | None) -> str:
    if source_gguf and Path(source_gguf).is_file():  # the pulled model's own GGUF knows it exactly
        from tooltune.model.gguf_convert import gguf_metadata

        pre = gguf_metadata(Path(source_gguf), keys=("tokenizer.ggml.pre",)).get("tokenizer.ggml.pre")
        if isinstance(pre, str):
            return pre
    low = model_name.lower()
    return next((pre for key, pre in _PRE_BY_NAME if key in low), "default")


def _write_tokenizer(w, tokenizer, arch: str, vocab_size: int, pre: str) -> None:
    import gguf

    tt = gguf.TokenType
    backend = _backend(tokenizer)
    model = backend.get("model", {})
    if model.get("type") != "BPE":
        raise UserError(f"GGUF export handles BPE tokenizers, not {model.get('type')!r}")
    spm = bool(model.get("byte_fallback"))  # sentencepiece-style (Gemma, Llama 2): "llama" in GGUF
    added = {a["id"]: a for a in backend.get("added_tokens", [])}
    tokens, types, scores = [], [], []
    for i, tok in enumerate(_vocab_by_id(tokenizer, vocab_size)):
        score = 0.0
        if tok is None:
            tok, kind, score = f"[PAD{i}]", tt.UNUSED, -1000.0  # rows the embedding has beyond the vocab
        elif i in added:
            kind = tt.CONTROL if added[i]["special"] else tt.USER_DEFINED
            score = -1000.0
            if spm and kind == tt.USER_DEFINED:
                tok = tok.replace("\u2581", " ")
        elif spm and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", tok):
            kind = tt.BYTE
        elif spm and arch == "gemma3" and len(tok) > 1 and set(tok) == {"\u2581"}:
            # Gemma's whitespace runs are user-defined tokens of real spaces in its sentencepiece
            # model (transformers spells them with U+2581 when it reads a GGUF)
            tok, kind, score = " " * len(tok), tt.USER_DEFINED, -1000.0
        else:
            kind = tt.NORMAL
            # BPE rank order is what sentencepiece scores encode (tokenizer.json keeps no scores)
            score = -float(i)
        tokens.append(tok)
        types.append(int(kind))
        scores.append(score)
    w.add_tokenizer_model("llama" if spm else "gpt2")
    w.add_tokenizer_pre("default" if spm else pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if spm:
        w.add_token_scores(scores)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if merges:
        w.add_token_merges(merges)
    for attr, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id),
                      ("unk_token_id", w.add_unk_token_id), ("pad_token_id", w.add_pad_token_id)):
        tid = getattr(tokenizer, attr, None)
        if isinstance(tid, int):
            add(tid)
    probe = tokenizer("a").input_ids
    w.add_add_bos_token(bool(probe) and probe[0] == tokenizer.bos_token_id)
    w.add_add_eos_token(bool(probe) and probe[-1] == tokenizer.eos_token_id and len(probe) > 1)
    w.add_add_space_prefix(False)


def write_gguf(model, tokenizer, path: str | Path, *, qtype: str = "f16", chat_template: str | None = None,
               end_of_turn: str | None = None, name: str = "", source_gguf: str | None = None) -> GGUFReport:
    """Write `model` (a merged, non-PEFT causal LM) and `tokenizer` to `path` as one GGUF file."""
    import gguf

    if qtype not in GGUF_TYPES:
        raise UserError(f"unknown GGUF type {qtype!r}: use one of {', '.join(GGUF_TYPES)}")
    t0 = time.perf_counter()
    config = model.config
    arch = gguf_arch(config)
    path = Path(path)
    w = gguf.GGUFWriter(path, arch)
    w.add_type("model")
    if name:
        w.add_name(name)
    _write_hparams(w, arch, config)
    ftype = gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
    w.add_file_type(int(ftype))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _write_tokenizer(w, tokenizer, arch, config.vocab_size, _pre_tokenizer_name(name, source_gguf))
    if end_of_turn:  # llama.cpp stops at EOT as well as EOS (ChatML: <|im_end|>)
        eot = tokenizer.convert_tokens_to_ids(end_of_turn)
        if isinstance(eot, int) and eot != tokenizer.unk_token_id:
            w.add_eot_token_id(eot)
    if chat_template:
        w.add_chat_template(chat_template)
    n = 0
    for tname, data in _tensor_plan(model, arch):
        arr, raw = _encode(data, qtype)
        w.add_tensor(tname, arr, raw_dtype=raw)
        n += 1
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()
    return GGUFReport(path, qtype, time.perf_counter() - t0, path.stat().st_size, n, arch)


# ------------------------------------------------------------------ Ollama


# Go-template bodies for Ollama, per chat template, mirroring our Jinja templates: the tool list in
# the system turn (ChatML) or the first user turn (Gemma), Hermes <tool_call> blocks, and runs of
# tool results sharing one turn. Turns are closed lazily ($prev holds the last role), because Go
# templates cannot look ahead; a trailing assistant turn stays open so Ollama continues it.
_TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    "{{ range $.Tools }}{{ .Function }}\n{{ end }}</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def _go_template(start: str, end: str, model_role: str, preamble: str = "", first_user: str = "") -> str:
    """`preamble` opens the prompt; `first_user` is prepended to the first non-system message."""
    q = '"'
    close = f"{{{{ if or (eq $prev {q}tool{q}) (eq $prev {q}assistant{q}) }}}}{end}\n{{{{ end }}}}"
    return (
        '{{ $prev := "" }}{{ $first := true }}' + preamble
        + '{{ range $i, $m := .Messages }}{{ if ne .Role "system" }}'
        + '{{ if not (and (eq .Role "tool") (eq $prev "tool")) }}' + close + "{{ end }}"
        + '{{ if eq .Role "tool" }}{{ if ne $prev "tool" }}' + start + "user{{ end }}"
        + "\n<tool_response>\n{{ .Content }}\n</tool_response>"
        + '{{ else if eq .Role "assistant" }}' + start + model_role + "\n{{ .Content }}"
        + "{{ $content := .Content }}{{ range $j, $c := .ToolCalls }}{{ if or $j $content }}\n{{ end }}"
        + '<tool_call>\n{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}\n</tool_call>'
        + "{{ end }}"
        + "{{ else }}" + start + "{{ .Role }}\n{{ if $first }}" + first_user + "{{ end }}{{ .Content }}" + end
        + "\n{{ end }}"
        + "{{ $prev = .Role }}{{ $first = false }}{{ end }}{{ end }}"
        + '{{ if eq $prev "tool" }}' + end + "\n{{ end }}"
        + '{{ if ne $prev "assistant" }}' + start + model_role + "\n{{ end }}")


OLLAMA_TEMPLATES: dict[str, str] = {
    "chatml": _go_template(
        "<|im_start|>", "<|im_end|>", "assistant",
        preamble=("{{ if or .System .Tools }}<|im_start|>system\n{{ if .System }}{{ .System }}"
                  "{{ if .Tools }}\n\n{{ end }}{{ end }}{{ if .Tools }}" + _TOOLS_PREAMBLE
                  + "{{ end }}<|im_end|>\n{{ end }}")),
    # BOS comes from the tokenizer (the GGUF sets add_bos_token for Gemma), not from the template
    "gemma": _go_template(
        "<start_of_turn>", "<end_of_turn>", "model",
        first_user=("{{ if $.System }}{{ $.System }}\n\n{{ end }}"
                    "{{ if $.Tools }}" + _TOOLS_PREAMBLE + "\n\n{{ end }}")),
}


def write_modelfile(path: str | Path, gguf_name: str, template_name: str, stop_words: list[str],
                    system: str | None = None) -> Path:
    """An Ollama Modelfile next to the GGUF: `ollama create NAME -f Modelfile`."""
    lines = [f"FROM ./{gguf_name}", ""]
    body = OLLAMA_TEMPLATES.get(template_name)
    if body is not None:
        lines += ['TEMPLATE """' + body + '"""', ""]
    else:  # Ollama then uses the GGUF's own chat template metadata, which it renders itself
        lines += [f"# no Go template for {template_name!r}: Ollama falls back to the GGUF's chat template", ""]
    if system:
        lines += ['SYSTEM """' + system + '"""', ""]
    for stop in dict.fromkeys(s for s in stop_words if s):
        lines.append(f"PARAMETER stop {json.dumps(stop)}")
    out = Path(path)
    out.write_text("\n".join(lines) + "\n")
    return out


def describe(path: str | Path) -> dict[str, Any]:
    """Architecture, tensor count and tensor types of a GGUF (for reports and tests)."""
    import gguf

    reader = gguf.GGUFReader(Path(path))
    kinds: dict[str, int] = {}
    for t in reader.tensors:
        kinds[t.tensor_type.name] = kinds.get(t.tensor_type.name, 0) + 1
    arch = reader.fields["general.architecture"].contents()
    return {"architecture": arch, "tensors": len(reader.tensors), "types": kinds}
