"""A database host that goes silent is noticed by TCP, not after many minutes."""

from __future__ import annotations

import socket
import types

from service import db


def _connection_over(sock: socket.socket):
    transport = types.SimpleNamespace(get_extra_info=lambda name: sock if name == "socket" else None)
    return types.SimpleNamespace(_transport=transport)


def test_tcp_connections_probe_a_silent_peer_and_bound_unacknowledged_data():
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as client:
            db._notice_silent_peer(_connection_over(client))
            assert client.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000


def test_unix_sockets_are_left_alone():
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        db._notice_silent_peer(_connection_over(left))  # no TCP options to set: no error
        db._notice_silent_peer(types.SimpleNamespace())  # no transport at all
