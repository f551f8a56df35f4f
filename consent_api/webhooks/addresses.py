"""Where webhooks may go. By default only https URLs of public addresses: never loopback,
private, link-local (cloud metadata at 169.254.169.254), shared, reserved or multicast
ones, nor an IPv6 form of those. A URL is checked when it is registered, and the addresses
its name resolves to are checked again at every connection, which is then made to the very
address checked: a name that later resolves inward (DNS rebinding) is refused too.

`WEBHOOK_ALLOW_LOCAL` (tests, `make run`; refused in production) also allows http, and
loopback addresses, never the other inward ones.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the only IPv6 addresses webhooks reach
_URL_CHARACTERS = re.compile(r"[!-~]+")  # printable ASCII, no space: hosts in punycode
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def _embedded(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), or the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def reachable(ip: IPAddress, *, allow_local: bool) -> bool:
    """Whether a webhook may connect to this address."""
    ip = _embedded(ip)
    if allow_local and ip.is_loopback:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return False  # IPv4-compatible, translated, local NAT64 and every other odd form
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why this URL cannot be a webhook endpoint, or None. Names are resolved at sending."""
    if not _URL_CHARACTERS.fullmatch(url):
        return "Must be printable ASCII without spaces (write an international host in punycode)."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Not a valid URL."
    if port == 0:
        return "Not a valid port."
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes:
        return "Must be an https:// URL."
    if not parts.hostname:
        return "Must name a host."
    if parts.username is not None or parts.password is not None:
        return "Must not carry a user name or password."
    if parts.fragment:
        return "Must not carry a fragment."
    host = parts.hostname
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not allow_local and (host == "localhost" or host.endswith(".localhost")):
            return "Must not be a loopback, private, link-local or other internal address."
        labels = host.removesuffix(".").split(".")
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            return "Not a valid host name."
        return None
    if not reachable(ip, allow_local=allow_local):
        return "Must not be a loopback, private, link-local or other internal address."
    return None


def connect(host: str, port: int, timeout: object, *, allow_local: bool) -> socket.socket:
    """Resolve `host`, refuse if any address it names is off limits, and connect to the
    first that answers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not reachable(ip, allow_local=allow_local):
            raise AddressRefused(f"{host} resolves to {ip}, an address webhooks may not reach")
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as failure:
            error = failure
            sock.close()
    raise error or OSError(f"{host} resolves to no address")


class Watch:
    """One attempt's connection, so that another thread can cut it off at the attempt's
    deadline: a socket timeout bounds each read, not a receiver that answers a byte at a time.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic()
        self.connection: HTTPConnection | None = None
        self.cut = False

    def cut_off(self) -> None:
        """Shut the connection's socket: the attempt's blocked read ends with an error."""
        self.cut = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)


_watched = threading.local()


class Watchdog:
    """One thread that cuts off every watched attempt past its deadline (checking ten times
    a second): cheaper than a timer thread per attempt."""

    TICK = 0.1

    def __init__(self) -> None:
        self._watches: dict[int, Watch] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-watchdog", daemon=True)
        self._thread.start()

    def watch(self, watch: Watch) -> None:
        """Watch this thread's attempt until `release` (its connection, new or reused, is
        named to the watch when the request is sent)."""
        _watched.current = watch
        with self._lock:
            self._watches[threading.get_ident()] = watch

    def release(self) -> None:
        """This thread's attempt is over."""
        _watched.current = None
        with self._lock:
            self._watches.pop(threading.get_ident(), None)

    def _run(self) -> None:
        while not self._stopping.wait(self.TICK):
            now = time.monotonic()
            with self._lock:
                late = [w for w in self._watches.values() if w.deadline <= now and not w.cut]
            for watch in late:
                watch.cut_off()

    def stop(self) -> None:
        """End the thread."""
        self._stopping.set()
        self._thread.join(timeout=5)


def _guarded(base: type[HTTPConnection], allow_local: bool) -> type[HTTPConnection]:
    class Guarded(base):  # type: ignore[misc, valid-type]
        def request(self, *args, **kwargs):  # the attempt's connection, new or reused
            watch = getattr(_watched, "current", None)
            if watch is not None:
                watch.connection = self
            return super().request(*args, **kwargs)

        def _new_conn(self) -> socket.socket:
            try:
                return connect(self._dns_host, self.port, self.timeout, allow_local=allow_local)
            except AddressRefused:
                raise
            except socket.gaierror as error:
                raise NameResolutionError(self.host, self, error) from error
            except TimeoutError as error:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from error
            except OSError as error:
                raise NewConnectionError(self, f"Failed to connect: {error}") from error

    return Guarded


def pool_classes(*, allow_local: bool) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose every connection goes through `connect`."""

    class Plain(HTTPConnectionPool):
        ConnectionCls = _guarded(HTTPConnection, allow_local)

    class Secure(HTTPSConnectionPool):
        ConnectionCls = _guarded(HTTPSConnection, allow_local)

    return {"http": Plain, "https": Secure}
