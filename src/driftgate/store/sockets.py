"""The store's listening socket, apart from the HTTP server: a gate binds it (and hands its
address to the command) before the server's modules are even imported; connections made
meanwhile wait in the listen queue until the server takes them."""

from __future__ import annotations

import socket

# `driftgate serve`'s address unless told otherwise: where a report's links to the store's
# pages point (a local run's store is served there only once `driftgate serve` runs).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving so that port 0 resolves to a real port we can print."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio switches Nagle off (TCP_NODELAY) only on connections
    # whose listener says TCP, and without it every answer's body waits for the client's
    # delayed ACK, some 40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
