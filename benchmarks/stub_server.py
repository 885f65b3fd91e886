"""An OpenAI-compatible chat-completions server with a fixed latency, for the eval benchmarks.

Independent of llmops (standard library only) and run in a process of its own, so that llmops,
promptfoo or anything else is measured against the same server and shares no GIL with it:

    python benchmarks/stub_server.py --port 0 --latency-ms 100 --answer "Freeze it in the app."

It prints `listening on http://127.0.0.1:PORT/v1` once it accepts connections. Every request
sleeps `--latency-ms` in its own thread (so N requests in flight take one latency, not N), then
answers. `GET /stats` says how many chat completions it answered, how many of them per distinct
prompt, and the wall-clock time (`time.time()`) it finished the last one: a benchmark checks that
each case was asked exactly once, and times what a run does after its last answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.prompts: Counter[str] = Counter()
        self.last_answer_at = 0.0


def make_handler(latency_s: float, answer: str, stats: Stats) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server
        # TCP_NODELAY, as real servers set it (uvicorn, llama.cpp's): with Nagle's algorithm the
        # body, written after the headers, waits for the client's delayed ACK: ~40 ms an answer
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def parse_request(self) -> bool:
            # the latency runs from the request's arrival: reading and parsing it, and the
            # JSON below, are part of the fixed latency, not added to it (~3 ms an answer)
            self.arrived = time.perf_counter()
            return super().parse_request()

        def _send(self, status: int, obj: Any) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/stats"):
                with stats.lock:
                    repeated = sum(1 for n in stats.prompts.values() if n > 1)
                    self._send(200, {"answered": stats.answered, "distinct": len(stats.prompts),
                                     "asked_more_than_once": repeated,
                                     "last_answer_at": stats.last_answer_at})
            elif self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list",
                                 "data": [{"id": "stub", "object": "model", "owned_by": "bench"}]})
            else:
                self._send(404, {"error": {"message": "not found", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                prompt = json.dumps(body.get("messages"), sort_keys=True)
            except ValueError:
                self._send(400, {"error": {"message": "bad JSON", "type": "invalid_request"}})
                return
            time.sleep(max(0.0, latency_s - (time.perf_counter() - self.arrived)))
            self._send(200, {
                "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or "stub",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16},
            })
            with stats.lock:
                stats.answered += 1
                stats.prompts[prompt] += 1
                stats.last_answer_at = time.time()

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--answer", default="You can freeze your card in the app.")
    a = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(
        ("127.0.0.1", a.port), make_handler(a.latency_ms / 1000, a.answer, Stats())
    )
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
