"""The `tooltune` command: a thin router; each stage registers its own subcommands."""
from __future__ import annotations

import argparse
import importlib
import sys

from tooltune.errors import UserError

# Each module has register(subparsers) adding its subcommand(s) with set_defaults(func=...).
STAGES = [
    "tooltune.model.commands",
    "tooltune.data.commands",
    "tooltune.train.commands",
    "tooltune.evaluate.commands",
    "tooltune.evaluate.own_replies",
    "tooltune.export.commands",
    "tooltune.agent.commands",
    "tooltune.serve.commands",
    "tooltune.webui.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tooltune", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in STAGES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # a real command line (not a call from Python): may re-run under tcmalloc
        from tooltune.allocator import reexec_with_fast_allocator
        reexec_with_fast_allocator(args.command)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except UserError as e:  # bad input, a missing model or file: one clear line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
