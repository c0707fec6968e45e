"""A stand-in OpenAI-compatible server that speaks HTTP, and the tiny pool a search sends it.

Shared by the openai backend's tests and the call cache's replay tests.
"""

from __future__ import annotations

import http.server
import json
import threading
import time

from helpers import backend_env, pool

POOL = pool("tiny_cpu")
MODELS = [m["name"] for m in POOL["models"]]


class StubServer:
    """An OpenAI-compatible chat server on 127.0.0.1 with a script of faults.

    ``script`` holds one action per request (then 200s): an HTTP status, ``"timeout"`` (sleep
    past the client's timeout), ``"truncated"`` (half a JSON body) or ``"die"`` (drop the
    connection and shut the server down).
    """

    def __init__(self, port=0, delay_s=0.0):
        stub = self
        self.script, self.requests, self.delay_s = [], [], delay_s
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.end_headers()

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append((self.path, dict(self.headers), body))
                    action = stub.script.pop(0) if stub.script else 200
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    stub.answer(self, action, body)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, handler, action, body):
        time.sleep(self.delay_s)
        if action == "die":
            handler.close_connection = True
            threading.Thread(target=self.stop, daemon=True).start()
            return
        if action == "timeout":
            time.sleep(1.5)
        status = 200 if action in ("timeout", "truncated") else int(action)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        if status != 200:
            handler.wfile.write(b'{"error": "injected"}')
            return
        user = body["messages"][-1]["content"]
        text = f"Answer: B\nThe question was {len(user)} characters long. [{user[:40]}]"
        reply = json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 50 + len(user) // 4, "completion_tokens": 17},
            }
        ).encode()
        handler.wfile.write(reply[: len(reply) // 2] if action == "truncated" else reply)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def launch_pool():
    """The first two llama3 models (launched by the fake ``vllm`` module) and their env."""
    llama = pool("llama3")
    two = {**llama, "models": llama["models"][:2]}
    return two, backend_env(two)


def search_args(url, tmp_path, *extra):
    endpoints = ",".join(f"{m}:'{url}'" for m in MODELS)
    return [
        "backend=openai",
        "pool=tiny_cpu",
        "task=mmlu",
        "searcher=random",
        "n_iterations=4",
        "batch_size=2",
        "test_n=6",
        "budget.units=3",
        "budget.pretest_question_evals=0",  # random needs no pre-test: 4 x 2 question evaluations
        f"backend.endpoints={{{endpoints}}}",
        "backend.retries=1",
        "backend.backoff_s=0.01",
        f"results_dir={tmp_path / 'results'}",
        *extra,
    ]
