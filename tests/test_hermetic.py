"""The tests' network guard: other machines are refused, here and in subprocesses; loopback works."""

import socket
import subprocess
import sys

import pytest

import network_guard  # tests/hermetic, put on sys.path by conftest.py


def test_other_machines_are_refused_and_recorded():
  before = len(network_guard.refused)
  try:
    with pytest.raises(network_guard.NetworkRefused):
      socket.create_connection(("download.pytorch.org", 443), timeout=1)
    with pytest.raises(network_guard.NetworkRefused):
      socket.socket().connect_ex(("192.0.2.1", 80))  # an IP literal skips name resolution
    assert len(network_guard.refused) == before + 2
  finally:
    del network_guard.refused[before:]  # expected here; the autouse check must not fail this test


def test_loopback_connections_work():
  with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5):
      conn, _ = server.accept()
      conn.close()


def test_subprocesses_get_the_guard():
  result = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('example.com', 80)"],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode != 0
  assert "tests must not use the network" in result.stderr
