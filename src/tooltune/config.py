"""Typed configs from YAML plus `key=value` overrides, with LLaMA-Factory's key names.

One convention for every command (train, eval, export, api, generate, the web console): a key
is a field of the command's config dataclass, or one of LLaMA-Factory's spellings of a field
(`ALIASES`, plus the command's own), or one of LLaMA-Factory's keys that change nothing here
(`NO_EFFECT`: accepted so its YAMLs and command lines run as they are, and named on stderr so no
one thinks they took effect). Anything else is an error that names the key and suggests the
nearest known one, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tooltune.errors import UserError

C = TypeVar("C")

ALIASES = {"model": "model_name_or_path", "adapter": "adapter_name_or_path"}
# A command whose config has one of these as a field uses it (train's finetuning_type, api's
# infer_backend); elsewhere they are dropped.
NO_EFFECT = frozenset({
    "do_train", "do_eval", "do_predict", "trust_remote_code", "preprocessing_num_workers",
    "dataloader_num_workers", "overwrite_cache", "ddp_timeout", "report_to", "use_cpu",
    "eval_strategy", "evaluation_strategy", "flash_attn_impl", "finetuning_type", "infer_backend",
    "export_legacy_format", "export_legacy_format_warning", "plot_loss"})


def parse_bool(value, key: str = "value") -> bool:
    """true/false the way configs and flags write it (true, 1, yes, on / false, 0, no, off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    raise UserError(f"{key}: expected true or false, got {value!r}")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Turn a YAML value or an override string into the field's declared type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise UserError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if annotation is bool:
        return parse_bool(value, key)
    if annotation in (int, float):
        try:
            number = float(value) if annotation is float else int(str(value).replace("_", ""))
        except (TypeError, ValueError):
            raise UserError(f"{key}: expected a number, got {value!r}") from None
        return number
    if annotation is str:
        if isinstance(value, (list, tuple)):  # LLaMA-Factory allows lists where it joins with commas
            return ",".join(map(str, value))
        return str(value)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return list(value)
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise UserError(f"{key}: expected a JSON object, got {value!r}") from None
        return dict(value)
    return value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"override {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        out[key.strip().lstrip("-")] = yaml.safe_load(value) if value.strip() else ""
    return out


def build_config(cls: type[C], values: dict[str, Any], aliases: dict[str, str] | None = None,
                 dropped: list[str] | None = None) -> C:
    """Instantiate `cls` from a dict, checking keys and coercing types; the `NO_EFFECT` keys it
    has no field for are appended to `dropped`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    aliases = {**ALIASES, **(aliases or {})}
    kwargs = {}
    for key, value in values.items():
        key = aliases.get(key, key)
        if key in NO_EFFECT and key not in fields:
            if dropped is not None:
                dropped.append(key)
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"unknown config key {key!r}{hint}")
        kwargs[key] = _coerce(value, hints[key], key)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing: "...__init__() missing 1 required ...: 'x'"
        missing = str(e).split(": ", 1)[-1].replace("'", "")
        raise UserError(f"missing config key(s): {missing}") from None


def split_config_arg(config: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """`tooltune CMD [CONFIG.yaml] [key=value ...]`: a first argument that is a key=value is an
    override, not a config file."""
    if config and "=" in config and not config.endswith((".yaml", ".yml")):
        return None, [config, *overrides]
    return config, list(overrides)


def flag_overrides(args, keys: list[str] | tuple[str, ...]) -> list[str]:
    """`key=value` overrides (values as JSON) for the command-line flags that were given."""
    import json

    return [f"{key}={json.dumps(getattr(args, key))}" for key in keys if getattr(args, key, None) is not None]


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None,
                aliases: dict[str, str] | None = None) -> C:
    values: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file {p} not found")
        try:
            loaded = yaml.safe_load(p.read_text("utf-8")) or {}
        except yaml.YAMLError as e:
            raise UserError(f"config file {p} is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise UserError(f"config file {p} must hold a mapping of keys to values")
        values.update(loaded)
    values.update(parse_overrides(overrides or []))
    dropped: list[str] = []
    config = build_config(cls, values, aliases, dropped)
    if dropped:
        print(f"note: {', '.join(sorted(set(dropped)))}: LLaMA-Factory key(s) that change nothing here; ignored",
              file=sys.stderr)
    return config


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
