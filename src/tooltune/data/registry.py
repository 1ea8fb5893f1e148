"""dataset_info.json: LLaMA-Factory's dataset registry, read unchanged.

A user's ``<dataset_dir>/dataset_info.json`` takes precedence; our packaged one supplies the
usual names (glaive_toolcall_*, alpaca_*, identity, ...) when the user's file lacks them.
Unknown keys (``file_sha1``, ``images``, ...) are ignored, as LF does.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from tooltune.data.formats import (
    ALPACA_COLUMNS, FORMATTINGS, OPENAI_COLUMNS, OPENAI_TAGS, SHAREGPT_COLUMNS, SHAREGPT_TAGS,
)
from tooltune.conversation import DataError

logger = logging.getLogger(__name__)

INFO_NAME = "dataset_info.json"
LoadFrom = Literal["file", "hf_hub", "ms_hub", "om_hub", "script"]
COLUMN_KEYS = ("prompt", "query", "response", "history", "messages", "system", "tools",
               "images", "videos", "audios", "chosen", "rejected", "kto_tag")
TAG_KEYS = tuple(SHAREGPT_TAGS)


def _env_flag(name: str) -> bool:
    return os.getenv(name, "0").strip().lower() in ("1", "true", "y", "yes")


def use_modelscope() -> bool:
    """USE_MODELSCOPE_HUB=1 prefers ms_hub_url, as in LLaMA-Factory."""
    return _env_flag("USE_MODELSCOPE_HUB")


@dataclass
class DatasetAttr:
    """One dataset entry, resolved: where to load it from and how to read its rows.

    ``formatting`` is "alpaca", "sharegpt", "openai", or "auto" (guessed from the first row;
    used for bare paths, hub ids and our generated tooltune_demo; not an LF value).
    ``columns``/``tags`` hold the format defaults merged with the entry's own mapping, so
    converters see every key they need.
    """

    name: str
    load_from: LoadFrom
    dataset_name: str  # file name (relative to dataset_dir), hub id or script path
    formatting: str = "alpaca"
    ranking: bool = False
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    num_samples: int | None = None
    columns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    hf_hub_url: str | None = None
    ms_hub_url: str | None = None
    om_hub_url: str | None = None
    script_url: str | None = None
    info_file: str | None = None  # the dataset_info.json that defined it ("<builtin>" if ours)

    def __repr__(self) -> str:
        return f"DatasetAttr({self.name!r}, {self.load_from}:{self.dataset_name})"


def default_columns(formatting: str) -> dict[str, str]:
    return dict({"alpaca": ALPACA_COLUMNS, "sharegpt": SHAREGPT_COLUMNS,
                 "openai": OPENAI_COLUMNS}.get(formatting, {}))


def default_tags(formatting: str) -> dict[str, str]:
    return dict({"sharegpt": SHAREGPT_TAGS, "openai": OPENAI_TAGS}.get(formatting, {}))


def _str_map(value: Any, key: str, allowed: tuple[str, ...], info_file: str, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{key!r} must be an object", file=info_file, field=f"{name}.{key}")
    out = {}
    for k, v in value.items():
        if k not in allowed or v is None:
            continue  # unknown keys ignored, like LF
        if not isinstance(v, str):
            raise DataError(f"{key}.{k} must be a string", file=info_file, field=f"{name}.{key}")
        out[k] = v
    return out


def parse_entry(name: str, entry: Any, info_file: str = "<builtin>") -> DatasetAttr:
    """One dataset_info.json entry -> DatasetAttr, with LF's hub preference rules."""
    def bad(reason: str) -> DataError:
        return DataError(reason, file=info_file, field=name)

    if not isinstance(entry, dict):
        raise bad("a dataset entry must be an object")
    urls = {k: entry.get(k) for k in ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url",
                                      "file_name")}
    for k, v in urls.items():
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise bad(f"{k} must be a non-empty string")
    hf, ms, om = urls["hf_hub_url"], urls["ms_hub_url"], urls["om_hub_url"]
    # LF's order: hubs (ModelScope/OpenMind when asked for or the only one), script, file
    load_from: LoadFrom
    if hf or ms or om:
        if ms and (use_modelscope() or not hf):
            load_from, target = "ms_hub", ms
        elif om and (_env_flag("USE_OPENMIND_HUB") or not hf):
            load_from, target = "om_hub", om
        else:
            load_from, target = "hf_hub", hf
    elif urls["script_url"]:
        load_from, target = "script", urls["script_url"]
    elif urls["file_name"]:
        load_from, target = "file", urls["file_name"]
    else:
        raise bad("the entry has none of file_name, hf_hub_url, ms_hub_url, om_hub_url, script_url")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in (*FORMATTINGS, "auto"):  # "auto": a tooltune extension, see DatasetAttr
        raise bad(f"formatting {formatting!r} is not one of {FORMATTINGS}")
    num = entry.get("num_samples")
    if num is not None and (not isinstance(num, int) or isinstance(num, bool) or num < 1):
        raise bad("num_samples must be a positive integer")
    for k in ("subset", "split", "folder"):
        if entry.get(k) is not None and not isinstance(entry[k], str):
            raise bad(f"{k} must be a string")
    columns = _str_map(entry.get("columns"), "columns", COLUMN_KEYS, info_file, name)
    tags = _str_map(entry.get("tags"), "tags", TAG_KEYS, info_file, name)
    return DatasetAttr(
        name=name, load_from=load_from, dataset_name=target, formatting=formatting,
        ranking=bool(entry.get("ranking", False)), subset=entry.get("subset"),
        split=entry.get("split") or "train", folder=entry.get("folder"), num_samples=num,
        columns={**default_columns(formatting), **columns},
        tags={**default_tags(formatting), **tags} if formatting != "alpaca" else tags,
        file_name=urls["file_name"], hf_hub_url=hf, ms_hub_url=ms, om_hub_url=om,
        script_url=urls["script_url"], info_file=info_file)


def _read_info(text: str, info_file: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}",
                        file=info_file) from None
    if not isinstance(data, dict):
        raise DataError("must be a JSON object mapping dataset names to entries", file=info_file)
    return data


def builtin_entries() -> dict[str, Any]:
    text = resources.files("tooltune.data").joinpath(INFO_NAME).read_text(encoding="utf-8")
    return _read_info(text, "<builtin>")


def user_entries(dataset_dir: str | os.PathLike | None) -> tuple[dict[str, Any], str | None]:
    """The raw entries of ``<dataset_dir>/dataset_info.json`` ({} when there is none)."""
    if dataset_dir is None or str(dataset_dir) == "ONLINE":
        return {}, None
    path = Path(dataset_dir) / INFO_NAME
    if not path.is_file():
        return {}, None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read: {e}", file=str(path)) from None
    return _read_info(text, str(path)), str(path)


def get_dataset_attr(name: str,
                     dataset_dir: str | os.PathLike | None = "data") -> DatasetAttr | None:
    """The entry called `name` (user file first, then built-in), or None if neither has it.

    Raises DataError when the entry exists but is malformed, naming the file and the entry.
    """
    entries, info_file = user_entries(dataset_dir)
    if name in entries:
        return parse_entry(name, entries[name], info_file or "")
    builtins = builtin_entries()
    if name in builtins:
        return parse_entry(name, builtins[name])
    return None


def load_dataset_info(dataset_dir: str | os.PathLike | None = "data") -> dict[str, DatasetAttr]:
    """Every usable entry: built-ins overridden by ``<dataset_dir>/dataset_info.json``.

    A malformed file raises DataError (file, line); a malformed entry is left out with a
    warning here and raises when that dataset is actually asked for (as in LF, an unused bad
    entry does not stop training on the others).
    """
    merged = {**{k: (v, "<builtin>") for k, v in builtin_entries().items()}}
    entries, info_file = user_entries(dataset_dir)
    merged.update({k: (v, info_file or "") for k, v in entries.items()})
    out: dict[str, DatasetAttr] = {}
    for name, (entry, src) in merged.items():
        try:
            out[name] = parse_entry(name, entry, src)
        except DataError as e:
            logger.warning("skipping dataset entry: %s", e)
    return out
