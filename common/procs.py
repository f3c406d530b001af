"""Small process helpers shared by the supervisor, the embedded Redis and the tests."""

import ctypes
import ipaddress
import signal
import socket
import time

import psutil

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """``preexec_fn`` for children: the kernel signals them when we die.

    This is what keeps a ``kill -9`` of the supervisor from leaving a
    redis-server or a qcluster running with nobody to stop it.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, alive=lambda: True) -> bool:
    """True once something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other machines on the network can reach.

    Read from the interfaces (no traffic): up, not loopback, not link-local; private
    addresses first (a phone on the Wi-Fi reaches those), in the interfaces' order.
    """
    stats = psutil.net_if_stats()
    found = []
    for name, addresses in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for address in addresses:
            if address.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(address.address)
            if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
                continue
            found.append(ip)
    return [str(ip) for ip in sorted(found, key=lambda ip: not ip.is_private)]
