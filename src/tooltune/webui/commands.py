"""`tooltune webui`: the web console (train, evaluate, export and chat in a browser)."""
from __future__ import annotations

import os
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("webui", help="the web console: train, evaluate, export and chat in a browser")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                   help="port (default 7860, or GRADIO_SERVER_PORT as LLaMA Board reads it)")
    p.add_argument("--runs_dir", "--runs-dir", default=None,
                   help="where runs keep their config, state and log (default $TOOLTUNE_HOME/webui/runs)")
    p.set_defaults(func=cmd_webui)


def cmd_webui(args) -> int:
    import uvicorn

    from tooltune import home
    from tooltune.webui.app import create_app
    runs = Path(args.runs_dir) if args.runs_dir else Path(home()) / "webui" / "runs"
    print(f"tooltune console on http://{args.host}:{args.port} (runs in {runs})", flush=True)
    uvicorn.run(create_app(runs), host=args.host, port=args.port, log_level="warning")
    return 0
