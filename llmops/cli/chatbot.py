"""`llmops chatbot versions|serve|ask|chat|retrain`: the reference chatbot from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FAULT_KINDS = "500, 429, timeout, empty, garbage, drop"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chatbot", help="the reference chatbot: versions, serve, ask, chat, retrain")
    cmds = p.add_subparsers(dest="chatbot_command", metavar="COMMAND", required=True)

    v = cmds.add_parser("versions", help="list the chatbot versions (built-in and retrained)")
    v.add_argument("--json", action="store_true", help="one JSON object a line")
    v.set_defaults(func=versions)

    s = cmds.add_parser("serve", help="serve a version as an OpenAI-compatible HTTP API")
    s.add_argument("--version", default="v1", help="chatbot version (default v1)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    s.add_argument("--latency-ms", type=float, default=None,
                   help="added latency per request (default: the version's latency_ms)")
    s.add_argument("--jitter-ms", type=float, default=0.0, help="latency jitter, +/- ms")
    s.add_argument("--fault", default=None, metavar="KIND",
                   help=f"inject faults of this kind ({FAULT_KINDS}; several: 500,429)")
    s.add_argument("--fault-rate", type=float, default=None, metavar="P",
                   help="probability of a fault per request (default 1 with --fault)")
    s.add_argument("--seed", type=int, default=None, help="seed of latency jitter and faults")
    s.add_argument("--retry-after", type=int, default=1, metavar="S",
                   help="Retry-After seconds of the 429 fault (default 1)")
    s.add_argument("--fault-markers", action="store_true",
                   help="a user message holding [[fault:KIND]] triggers that fault")
    s.set_defaults(func=serve)

    a = cmds.add_parser("ask", help="ask one question and print the answer")
    a.add_argument("question", help="the question ('-': read it from stdin)")
    a.add_argument("--version", default="v1", help="chatbot version (default v1)")
    a.set_defaults(func=ask)

    c = cmds.add_parser("chat", help="an interactive conversation (reads lines from a pipe too)")
    c.add_argument("--version", default="v1", help="chatbot version (default v1)")
    c.set_defaults(func=chat)

    r = cmds.add_parser("retrain", help="build a new version from feedback's corrected answers")
    r.add_argument("--feedback", type=Path, default=None,
                   help="feedback file, JSONL or JSON array (default: [tool.llmops] feedback)")
    r.add_argument("--from", dest="base", default="v1", help="base version (default v1)")
    r.add_argument("--to", dest="target", default="v3", help="new version name (default v3)")
    r.add_argument("--versions-dir", type=Path, default=None,
                   help="where to write it (default: [tool.llmops.chatbot] versions_dir, "
                        "else chatbot_versions/)")
    r.add_argument("--force", action="store_true", help="replace an existing version of that name")
    r.set_defaults(func=retrain)


def versions(args: argparse.Namespace) -> int:
    from llmops.chatbot import list_versions

    rows = list_versions()
    if args.json:
        for v in rows:
            print(json.dumps({
                "name": v.name, "description": v.description, "builtin": v.builtin,
                "path": str(v.path) if v.path else None, "latency_ms": v.latency_ms,
                "guard": v.guard, "base": v.base, "feedback_ids": list(v.feedback_ids),
            }))
        return 0
    width = max([4, *(len(v.name) for v in rows)])
    print(f"{'NAME':<{width}}  {'SOURCE':<8}  {'LATENCY':>8}  GUARD  DESCRIPTION")
    for v in rows:
        source = "built-in" if v.builtin else "project"
        print(f"{v.name:<{width}}  {source:<8}  {v.latency_ms:>6.0f}ms  "
              f"{'on ' if v.guard else 'off'}    {v.description}")
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llmops.chatbot import load_version
    from llmops.chatbot.server import base_url, bind_socket, create_app

    spec = load_version(args.version)
    latency = spec.latency_ms if args.latency_ms is None else args.latency_ms
    rate = args.fault_rate if args.fault_rate is not None else (1.0 if args.fault else 0.0)
    app = create_app(
        spec, latency_ms=latency, jitter_ms=args.jitter_ms, fault=args.fault, fault_rate=rate,
        seed=args.seed, retry_after_s=args.retry_after, fault_markers=args.fault_markers,
    )
    # Bind first, so that `--port 0` can say which port it got before serving.
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"llmops: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    faults = f", faults {args.fault} at {rate:g}" if args.fault else ""
    print(f"llmops chatbot: serving {spec.name} on {base_url(sock)} "
          f"(latency {latency:g} ms{faults}); Ctrl-C to stop", flush=True)
    from llmops.chatbot.connections import uvicorn_options
    from llmops.config import load_config

    # [tool.llmops.limits] server_header_timeout_s and server_max_connections (slowloris).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2, backlog=2048,
                            **uvicorn_options(load_config().limits))
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def ask(args: argparse.Namespace) -> int:
    from llmops.chatbot import Chatbot

    question = sys.stdin.read() if args.question == "-" else args.question
    print(Chatbot(args.version).reply([{"role": "user", "content": question}]))
    return 0


def chat(args: argparse.Namespace) -> int:
    from llmops.chatbot import Chatbot

    bot = Chatbot(args.version)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Example Bank support assistant ({bot.version.name}). "
              "/reset starts over, /exit or Ctrl-D leaves.")
    messages: list[dict[str, str]] = []
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and not line:
            break  # end of the piped input
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            messages.clear()
            continue
        messages.append({"role": "user", "content": text})
        answer = bot.reply(messages)
        messages.append({"role": "assistant", "content": answer})
        print(f"bot> {answer}" if interactive else answer, flush=True)
    if interactive:
        print()
    return 0


def retrain(args: argparse.Namespace) -> int:
    from llmops.chatbot.retrain import retrain as build
    from llmops.chatbot.versions import project_versions_dir
    from llmops.config import load_config

    config = load_config()
    feedback = args.feedback or config.feedback
    out_dir = args.versions_dir or project_versions_dir(config)
    result = build(feedback, base=args.base, target=args.target, out_dir=out_dir,
                   force=args.force)
    for line in (*result.invalid, *result.ignored):
        print(line, file=sys.stderr)
    print(f"built {result.version.name} from {args.base}: {len(result.used)} feedback record(s) "
          f"used, {len(result.added)} topic(s) added, {len(result.updated)} updated "
          f"-> {result.path}")
    if result.invalid:
        print(f"{len(result.invalid)} invalid record(s) skipped", file=sys.stderr)
    return 1 if result.invalid else 0
