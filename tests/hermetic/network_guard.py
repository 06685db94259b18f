"""Refuses network access to anything but this machine, so that no test can depend on the internet.

`install()` patches the socket module: connecting or sending a datagram to an address that is not
loopback, and resolving a host name other than this machine's, raise `NetworkRefused` and are
recorded in `refused`. It is a RuntimeError, not an OSError, so code that handles network failures
(a download that falls back to an offline hint, say) cannot swallow it and pass.

tests/conftest.py installs it in the test process, and in every Python subprocess the tests start
through sitecustomize.py in this folder, which it puts on PYTHONPATH.
"""

from __future__ import annotations

import ipaddress
import socket
import sys


class NetworkRefused(RuntimeError):
  pass


refused: list[str] = []

_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_local(host) -> bool:
  """Loopback or unspecified addresses, and the names of this machine."""
  if host is None:
    return True
  if isinstance(host, bytes):
    host = host.decode(errors="replace")
  host = str(host).strip("[]").split("%")[0].lower()
  if host in _LOCAL_NAMES or host.endswith(".localhost") or host == socket.gethostname().lower():
    return True
  try:
    address = ipaddress.ip_address(host)
  except ValueError:
    return False
  return address.is_loopback or address.is_unspecified


def _refuse(what: str) -> None:
  refused.append(what)
  message = f"tests must not use the network: {what} refused (tests/hermetic/network_guard.py)"
  print(message, file=sys.stderr, flush=True)
  raise NetworkRefused(message)


def _check_address(address) -> None:
  if isinstance(address, tuple) and address and not is_local(address[0]):  # AF_UNIX paths are local
    _refuse(f"connection to {address[0]!r} port {address[1] if len(address) > 1 else '?'}")


def install() -> None:
  """Patches the socket module (once per process)."""
  if getattr(socket, "_stylejax_network_guard", False):
    return
  connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
  getaddrinfo, gethostbyname, gethostbyname_ex = (socket.getaddrinfo, socket.gethostbyname,
                                                  socket.gethostbyname_ex)

  def guarded_connect(self, address):
    _check_address(address)
    return connect(self, address)

  def guarded_connect_ex(self, address):
    _check_address(address)
    return connect_ex(self, address)

  def guarded_sendto(self, data, *flags_and_address):
    _check_address(flags_and_address[-1])
    return sendto(self, data, *flags_and_address)

  def guarded_getaddrinfo(host, *args, **kwargs):
    if not is_local(host):
      _refuse(f"resolving {host!r}")
    return getaddrinfo(host, *args, **kwargs)

  def guarded_gethostbyname(host):
    if not is_local(host):
      _refuse(f"resolving {host!r}")
    return gethostbyname(host)

  def guarded_gethostbyname_ex(host):
    if not is_local(host):
      _refuse(f"resolving {host!r}")
    return gethostbyname_ex(host)

  socket.socket.connect = guarded_connect
  socket.socket.connect_ex = guarded_connect_ex
  socket.socket.sendto = guarded_sendto
  socket.getaddrinfo = guarded_getaddrinfo
  socket.gethostbyname = guarded_gethostbyname
  socket.gethostbyname_ex = guarded_gethostbyname_ex
  socket._stylejax_network_guard = True
