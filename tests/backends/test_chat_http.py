"""The OpenAI-compatible client never sends credentials across origins: redirects are refused."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from suite.backends.chat_http import ChatEndpoint, get_ok
from suite.core.errors import BackendError


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 and a chat reply, recording the headers it got."""

    seen: ClassVar[list[dict[str, str]]] = []

    def _answer(self) -> None:
        type(self).seen.append(dict(self.headers.items()))
        body = json.dumps({"choices": [{"message": {"content": "stolen"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _redirector(target: str, code: int) -> type[http.server.BaseHTTPRequestHandler]:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(code)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Redirect


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def other_origin() -> Iterator[str]:
    _Recorder.seen = []
    yield from _serve(_Recorder)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_one_line_and_the_key_never_reaches_the_other_origin(
    other_origin, monkeypatch, code
):
    monkeypatch.setenv("TTSGB_TEST_KEY", "sk-secret-123")
    for base in _serve(_redirector(other_origin, code)):
        endpoint = ChatEndpoint("m", base + "/v1", api_key_env="TTSGB_TEST_KEY", retries=0)
        with pytest.raises(BackendError) as err:
            endpoint.chat([("user", "hi")], max_tokens=5, temperature=0.0)
        message = str(err.value)
        assert "\n" not in message and f"redirect (HTTP {code})" in message
        assert "sk-secret-123" not in message and "set base_url" in message
        assert not get_ok(base + "/health")
    assert _Recorder.seen == []  # neither the chat nor the health check reached the other origin


def test_the_key_is_sent_to_the_configured_origin(other_origin, monkeypatch):
    monkeypatch.setenv("TTSGB_TEST_KEY", "sk-secret-123")
    endpoint = ChatEndpoint("m", other_origin + "/v1", api_key_env="TTSGB_TEST_KEY", retries=0)
    assert endpoint.chat([("user", "hi")], max_tokens=5, temperature=0.0).text == "stolen"
    assert _Recorder.seen[0]["Authorization"] == "Bearer sk-secret-123"
