"""Read datasets (local files, folders, Hugging Face / ModelScope hubs) into Conversations.

Local files are read with json / csv / pyarrow directly, never through ``datasets``, so local
data never touches the network or the HF cache, and a parse error names the file and line.
Bad rows are skipped and reported (file, row, field, reason) unless ``strict=True``.
Row numbers are 0-based positions in their file; parse errors give 1-based line numbers.
"""
from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import math
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooltune.data.formats import convert_row, detect_format
from tooltune.data.registry import (
    DatasetAttr, default_columns, default_tags, get_dataset_attr, load_dataset_info,
    use_modelscope,
)
from tooltune.conversation import Conversation, DataError

DATA_EXTS = (".json", ".jsonl", ".csv", ".parquet", ".arrow")
MAX_EXAMPLES = 10  # skipped rows kept per dataset for display; all are counted
RowRef = tuple[str, int, Any]  # (file, row index in that file, row)


# ---------------------------------------------------------------- reading rows

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (byte {e.start})", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=str(path)) from None


def _json_error(path: Path, e: json.JSONDecodeError, line_offset: int = 0) -> DataError:
    return DataError(f"not valid JSON: {e.msg} at line {e.lineno + line_offset}, column {e.colno}",
                     file=str(path))


def _read_json(path: Path) -> list[Any]:
    """A JSON list of rows, or JSON lines (both are accepted under .json, as `datasets` does)."""
    text = _read_text(path)
    if not text.strip():
        raise DataError("the file is empty", file=str(path))
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise _json_error(path, e) from None
        if not isinstance(data, list):
            raise DataError("expected a JSON list of rows", file=str(path))
        return data
    try:
        return _parse_lines(path, text)
    except DataError as err:
        try:  # one pretty-printed object is one row
            return [json.loads(text)]
        except json.JSONDecodeError:
            raise err from None


def _parse_lines(path: Path, text: str) -> list[Any]:
    rows = []
    for n, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise _json_error(path, e, line_offset=n) from None
    if not rows:
        raise DataError("the file has no rows", file=str(path))
    return rows


def _read_csv(path: Path) -> list[Any]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # tools/messages cells can be long JSON
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            return [dict(r) for r in reader]
    except (csv.Error, UnicodeDecodeError) as e:
        line = f" at line {reader.line_num}" if reader is not None else ""
        raise DataError(f"not valid CSV{line}: {e}", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=str(path)) from None


def _read_arrow_like(path: Path) -> list[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pylist()
        try:  # `datasets` writes the streaming IPC format; others write the file format
            with pa.memory_map(str(path)) as src:
                return pa.ipc.open_stream(src).read_all().to_pylist()
        except pa.ArrowInvalid:
            with pa.memory_map(str(path)) as src:
                return pa.ipc.open_file(src).read_all().to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"not a readable {path.suffix[1:]} file: {e}", file=str(path)) from None


def _read_file(path: Path) -> list[RowRef]:
    ext = path.suffix.lower()
    if ext == ".json":
        rows = _read_json(path)
    elif ext == ".jsonl":
        text = _read_text(path)
        rows = _parse_lines(path, text) if text.strip() else []
    elif ext == ".csv":
        rows = _read_csv(path)
    elif ext in (".parquet", ".arrow"):
        rows = _read_arrow_like(path)
    else:
        raise DataError(f"unsupported file type {ext or '(none)'!r}; use one of {DATA_EXTS}",
                        file=str(path))
    return [(str(path), i, r) for i, r in enumerate(rows)]


def _read_local(path: Path) -> list[RowRef]:
    if path.is_dir():  # a folder: every data file in it, in name order
        files = sorted(p for p in path.iterdir()
                       if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in DATA_EXTS)
        if not files:
            raise DataError(f"the folder has no data files ({', '.join(DATA_EXTS)})",
                            file=str(path))
        return [ref for f in files for ref in _read_file(f)]
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    return _read_file(path)


def _hub_error(attr: DatasetAttr, hub: str, e: BaseException) -> DataError:
    detail = (str(e).strip().splitlines() or [""])[0][:300]  # hub errors can be pages long
    where = f" ({attr.dataset_name})" if attr.dataset_name != attr.name else ""
    return DataError(
        f"could not load dataset {attr.name!r}{where} from {hub} ({type(e).__name__}: {detail}). "
        f"It needs access to {hub}: check the network (or HF_ENDPOINT for a mirror), or download "
        f"it and register its file_name in dataset_info.json")


def _read_hub(attr: DatasetAttr) -> list[RowRef]:
    label = f"{attr.load_from}:{attr.dataset_name}"
    if attr.load_from == "hf_hub":
        import datasets  # lazy: slow to import and only needed for the hub
        try:
            ds = datasets.load_dataset(attr.dataset_name, name=attr.subset, data_dir=attr.folder,
                                       split=attr.split)
            rows = ds.to_list() if hasattr(ds, "to_list") else list(ds)
        except Exception as e:  # the boundary: network, auth, missing repo all end up here
            raise _hub_error(attr, "the Hugging Face Hub", e) from None
    elif attr.load_from == "ms_hub":
        try:
            from modelscope import MsDataset
        except ImportError:
            raise DataError(f"dataset {attr.name!r} is on ModelScope ({attr.dataset_name}) but "
                            f"modelscope is not installed: pip install modelscope, or unset "
                            f"USE_MODELSCOPE_HUB to use the Hugging Face Hub") from None
        try:
            ds = MsDataset.load(attr.dataset_name, subset_name=attr.subset, data_dir=attr.folder,
                                split=attr.split)
            ds = ds.to_hf_dataset() if hasattr(ds, "to_hf_dataset") else ds
            rows = ds.to_list() if hasattr(ds, "to_list") else list(ds)
        except Exception as e:
            raise _hub_error(attr, "ModelScope", e) from None
    else:
        raise DataError(f"dataset {attr.name!r}: loading from {attr.load_from} is not supported; "
                        f"download it and register its file_name in dataset_info.json")
    return [(label, i, r) for i, r in enumerate(rows)]


def _read_attr(attr: DatasetAttr, dataset_dir: str | os.PathLike) -> list[RowRef]:
    if attr.load_from == "file":
        return _read_local(Path(dataset_dir) / attr.dataset_name)
    if attr.load_from == "script":  # `datasets` dropped scripts; a local folder of data still works
        local = Path(dataset_dir) / attr.dataset_name
        if local.is_dir() and any(p.suffix.lower() in DATA_EXTS for p in local.iterdir()):
            return _read_local(local)
        raise DataError(f"dataset {attr.name!r} uses a loading script ({attr.dataset_name}), "
                        f"which is not supported; convert it to json/parquet files")
    return _read_hub(attr)


def read_rows(source: str | os.PathLike | DatasetAttr,
              dataset_dir: str | os.PathLike = "data") -> list[Any]:
    """Raw rows of a local file/folder path, or of a registry entry (file or hub)."""
    if isinstance(source, DatasetAttr):
        return [r for _, _, r in _read_attr(source, dataset_dir)]
    return [r for _, _, r in _read_local(Path(source))]


# ---------------------------------------------------------------- resolving names

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def resolve_dataset(name: str, dataset_dir: str | os.PathLike = "data") -> DatasetAttr:
    """A registry name (user's dataset_info.json, then built-in), a path, or a hub id."""
    attr = get_dataset_attr(name, dataset_dir)
    if attr is not None:
        return attr
    ddir = str(dataset_dir)
    for p in (Path(name), Path(ddir) / name) if ddir != "ONLINE" else ():
        if p.exists():
            return DatasetAttr(name=name, load_from="file", dataset_name=str(p.resolve()),
                               formatting="auto", file_name=str(p))
    if Path(name).suffix.lower() in DATA_EXTS:
        raise DataError(f"dataset {name!r}: file not found (looked in . and {ddir})", file=name)
    if ddir == "ONLINE" or _HUB_ID.fullmatch(name):
        ms = use_modelscope()
        return DatasetAttr(name=name, load_from="ms_hub" if ms else "hf_hub", dataset_name=name,
                           formatting="auto", hf_hub_url=None if ms else name,
                           ms_hub_url=name if ms else None)
    known = sorted(load_dataset_info(dataset_dir))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise DataError(f"unknown dataset {name!r}: not in {ddir}/dataset_info.json nor built in, "
                    f"not a file, and not a hub id (user/name){hint}")


# ---------------------------------------------------------------- report

@dataclass
class SkippedRow:
    dataset: str
    file: str
    row: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        return str(DataError(self.reason, file=self.file, row=self.row, field=self.field))


@dataclass
class DatasetReport:
    name: str
    source: str
    formatting: str
    rows_read: int = 0
    kept: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)  # reason -> rows
    examples: list[SkippedRow] = field(default_factory=list)  # the first MAX_EXAMPLES


@dataclass
class LoadReport:
    datasets: list[DatasetReport] = field(default_factory=list)
    train_size: int = 0
    val_size: int = 0

    @property
    def rows_read(self) -> int:
        return sum(d.rows_read for d in self.datasets)

    @property
    def kept(self) -> int:
        return sum(d.kept for d in self.datasets)

    @property
    def skipped(self) -> int:
        return sum(d.skipped for d in self.datasets)

    @property
    def examples(self) -> list[SkippedRow]:
        return [e for d in self.datasets for e in d.examples]

    def summary(self) -> str:
        lines = []
        for d in self.datasets:
            lines.append(f"{d.name} ({d.source}, {d.formatting}): {d.rows_read} rows read, "
                         f"{d.kept} kept, {d.skipped} skipped")
            lines += [f"  {n} x {reason}" for reason, n in d.reasons.most_common()]
            lines += [f"    e.g. {e}" for e in d.examples[:3]]
        lines.append(f"train {self.train_size}, val {self.val_size}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"train_size": self.train_size, "val_size": self.val_size, "datasets": [
            {**dataclasses.asdict(d), "reasons": dict(d.reasons)} for d in self.datasets]}


@dataclass
class LoadResult:
    train: list[Conversation]
    val: list[Conversation]
    report: LoadReport


# ---------------------------------------------------------------- loading

def _split_names(dataset: str | Iterable[str]) -> list[str]:
    items = [dataset] if isinstance(dataset, str) else list(dataset)
    return [n.strip() for item in items for n in str(item).split(",") if n.strip()]


def _sample(rows: list[RowRef], num: int | None, seed: int) -> list[RowRef]:
    """LF's num_samples: a seeded sample, repeating rows when asked for more than there are."""
    if num is None:
        return rows
    rng = random.Random(seed)
    idx = rng.sample(range(len(rows)), min(num, len(rows)))
    idx += [rng.randrange(len(rows)) for _ in range(num - len(idx))] if rows else []
    return [rows[i] for i in idx]


def _attach_meta(conv: Conversation, dataset: str, file: str, row: int) -> None:
    # Conversation.meta may not exist (added by another module); only fill it when it does.
    if "meta" in {f.name for f in dataclasses.fields(conv)}:
        meta = dict(getattr(conv, "meta", None) or {})
        meta.update(dataset=dataset, file=file, row=row)
        conv.meta = meta  # type: ignore[attr-defined]


def _n_val(val_size: float, n: int) -> int:
    if val_size < 0:
        raise DataError(f"val_size must be >= 0, got {val_size}")
    if val_size == 0:
        return 0
    if val_size < 1:
        k = math.ceil(val_size * n)  # as datasets' train_test_split rounds the test part
    elif float(val_size).is_integer():
        k = int(val_size)
    else:
        raise DataError(f"val_size {val_size} is neither a fraction (< 1) nor a whole count")
    if k >= n:
        raise DataError(f"val_size {val_size} leaves no training data ({n} conversations)")
    return k


def _load_one(name: str, dataset_dir: str | os.PathLike, max_samples: int | None, seed: int,
              strict: bool) -> tuple[list[Conversation], DatasetReport]:
    attr = resolve_dataset(name, dataset_dir)
    rows = _sample(_read_attr(attr, dataset_dir), attr.num_samples, seed)
    if max_samples is not None:
        rows = rows[:max_samples]  # per dataset, the first rows, like LF
    source = (str(Path(dataset_dir) / attr.dataset_name) if attr.load_from == "file"
              else f"{attr.load_from}:{attr.dataset_name}")
    if not rows:
        raise DataError(f"dataset {name!r} has no rows", file=source)
    formatting, columns, tags, ranking = attr.formatting, attr.columns, attr.tags, attr.ranking
    if formatting == "auto":
        file, idx, first = rows[0]
        try:
            formatting, found_cols, found_tags = detect_format(first)
        except DataError as e:
            raise DataError(e.reason, file=file, row=idx) from None
        columns = {**default_columns(formatting), **found_cols, **attr.columns}
        tags = {**default_tags(formatting), **found_tags, **attr.tags}
        ranking = isinstance(first, dict) and "chosen" in first
    rep = DatasetReport(name=name, source=source, formatting=formatting, rows_read=len(rows))
    convs = []
    for file, idx, row in rows:
        try:
            conv = convert_row(row, formatting, columns, tags, ranking=ranking, row_index=idx)
        except DataError as e:
            if strict:
                raise DataError(e.reason, file=file, row=idx, field=e.field) from None
            rep.skipped += 1
            rep.reasons[e.reason] += 1
            if len(rep.examples) < MAX_EXAMPLES:
                rep.examples.append(SkippedRow(name, file, idx, e.field, e.reason))
            continue
        _attach_meta(conv, name, file, idx)
        convs.append(conv)
    rep.kept = len(convs)
    if not convs:  # usually a wrong formatting/columns mapping, not bad data: say so loudly
        reason, n = rep.reasons.most_common(1)[0]
        raise DataError(f"dataset {name!r}: none of its {len(rows)} rows could be used; most "
                        f"common problem ({n} rows): {reason}; e.g. {rep.examples[0]}", file=source)
    return convs, rep


def load_conversations(dataset: str | list[str], dataset_dir: str | os.PathLike = "data",
                       max_samples: int | None = None, val_size: float = 0.0, seed: int = 42,
                       strict: bool = False) -> LoadResult:
    """Load, convert, mix and split datasets.

    `dataset`: names (comma-separated or a list) of registry entries, paths or hub ids.
    `max_samples` applies to each dataset. Several datasets, or any val split, are shuffled
    together with `seed`; a single dataset without val_size keeps its file order.
    `val_size` < 1 is a fraction (rounded up), >= 1 a count.
    """
    names = _split_names(dataset)
    if not names:
        raise DataError("no dataset given")
    if max_samples is not None and max_samples < 1:
        raise DataError(f"max_samples must be a positive integer, got {max_samples}")
    report, convs = LoadReport(), []
    for name in names:
        part, rep = _load_one(name, dataset_dir, max_samples, seed, strict)
        convs += part
        report.datasets.append(rep)
    n_val = _n_val(val_size, len(convs))
    if len(names) > 1 or n_val:
        random.Random(seed).shuffle(convs)
    report.val_size, report.train_size = n_val, len(convs) - n_val
    return LoadResult(train=convs[n_val:], val=convs[:n_val], report=report)
