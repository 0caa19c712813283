"""The webhook server with real sockets on 127.0.0.1: slow clients (a byte at a time) cannot take
its workers, so /health keeps answering; a request has a deadline for the whole of it, not per
read; one client address holds only a few unfinished requests. A port in use is one clear
message (exit 1), and an IPv6 listen address works where the host has IPv6."""

import socket
import subprocess
import sys
import threading
import time

import pytest

from caseload.daemon import webhooks
from daemon_support import daemon_config, env, get
from servers import HOST, free_port, make_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def server(store):
    from caseload.store import open_store

    port = free_port()
    srv = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"{HOST}:{port}")
    yield port
    srv.stop()


class Trickle:
    """n connections that send a request one byte at a time and never finish it."""

    def __init__(self, port: int, n: int, every: float = 0.3):
        self.socks = []
        for _ in range(n):
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(b"G")
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self.thread.start()

    def _run(self, every):
        while not self.stop.wait(every):
            for s in self.socks:
                try:
                    s.sendall(b"E")
                except OSError:
                    pass

    def closed_by_server(self) -> int:
        n = 0
        for s in self.socks:
            s.settimeout(0.2)
            try:
                n += s.recv(1024) == b"" or True
            except socket.timeout:
                pass
            except OSError:
                n += 1
        return n

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


def test_health_answers_while_forty_slow_clients_hang(server):
    slow = Trickle(server, 48)
    try:
        time.sleep(1)  # the slow clients are in, each well within any per-read timeout
        started = time.monotonic()
        status, body, _ = get(server, "/health")
        assert (status, body) == (200, b"ok")
        assert time.monotonic() - started < 5
    finally:
        slow.close()


def test_a_request_has_one_deadline_for_the_whole_of_it(server, monkeypatch):
    monkeypatch.setattr(webhooks, "REQUEST_SECONDS", 1.0, raising=False)
    slow = Trickle(server, 2, every=0.2)
    try:
        time.sleep(2.5)  # a byte every 0.2 s: never idle for long, but over the deadline
        assert slow.closed_by_server() == 2
    finally:
        slow.close()
    assert get(server, "/health")[0] == 200


def run_daemon(tmp_path, store, listen):
    config, _ = daemon_config(tmp_path / "daemon.toml")
    return subprocess.run([sys.executable, "-c", "from caseload.cli import main; main()", "--db", str(store.path),
                           "--config", str(config), "daemon", "--listen", listen, "--tick", "0.2"],
                          env=env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_a_port_in_use_is_one_clear_message(tmp_path, store):
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_daemon(tmp_path, store, f"{HOST}:{port}")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and f"{HOST}:{port}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this host has no IPv6 loopback")
def test_an_ipv6_listen_address_works(store):
    from caseload.store import open_store

    port = free_port()
    srv = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"[::1]:{port}")
    try:
        with socket.create_connection(("::1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok")
    finally:
        srv.stop()


def test_an_unusable_listen_address_is_one_clear_message(tmp_path, store):
    r = run_daemon(tmp_path, store, "192.0.2.1:8425")  # TEST-NET: not an address of this host
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
