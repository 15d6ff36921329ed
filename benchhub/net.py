"""Small network helpers shared by the code that starts local servers (the local model, test and
benchmark servers)."""

from __future__ import annotations

import socket
from contextlib import closing


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
