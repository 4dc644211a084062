"""A git remote over smart HTTP for the tests: `git http-backend` behind a small server that
refuses the way GitHub does, so that a push meets a real 401 (no credentials) or 403 (a
read-only token), or every request a 403 (a token that may not read), and git says what it
says to a user; or that takes a push that carries credentials (a token with `contents:
write`). Over TLS too, given a server certificate."""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

Policy = Literal["read-only", "needs-credentials", "no-access", "read-write"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    policy: Policy


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        if self.server.policy == "no-access":
            self._refuse(403, "Permission to acme/bot.git denied to github-actions[bot].")
            return
        pushing = "git-receive-pack" in path or "service=git-receive-pack" in query
        if pushing:
            credentials = self.headers["Authorization"]
            if self.server.policy in ("needs-credentials", "read-write") and not credentials:
                self._refuse(401, "Authentication required")
                return
            if self.server.policy != "read-write":
                self._refuse(403, "Permission to acme/bot.git denied to github-actions[bot].")
                return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if pushing:
            # http-backend takes pushes from an authenticated user only.
            env["REMOTE_USER"] = "github-actions[bot]"
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        ).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name and name.lower() != "content-length":
                headers.append((name, value.strip()))
        # The length, which a CGI need not give: HTTP/1.0 would otherwise end the body by
        # closing the connection, which a TLS client takes for a truncation.
        headers.append(("Content-Length", str(len(content))))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def _refuse(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(root: Path, policy: Policy, *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve the repositories under `root` at the URL yielded (no trailing slash); over https
    with `tls` (a server context holding the certificate)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.root = root
    server.policy = policy
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
