"""The redirect URIs a public (native) app may register, and how a presented one matches.

RFC 8252: a native app redirects to an https URL, to http on a loopback address, or to a
private-use scheme in reverse-domain form (`com.example.app:/callback`). A loopback redirect
may come back on any port (section 7.3: the app listens on an ephemeral port it learns only
at run time); everything else matches exactly, character for character.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
REFUSED = "Use https, http on a loopback address, or a reverse-domain scheme (RFC 8252)."


def problem(uri: str) -> str | None:
    """Why an app may not register this redirect URI, or None if it may."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return "Must be an absolute URI."
    if parts.fragment or not parts.scheme:
        return "Must be an absolute URI without a fragment."
    if parts.port == 0:
        return "Port 0 receives nothing."
    if parts.scheme == "https" and parts.netloc:
        return None
    if _loopback(parts):
        return None
    if "." in parts.scheme and parts.scheme not in {"http", "https"}:
        return None
    return REFUSED


def _loopback(parts: SplitResult) -> bool:
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and parts.username is None
        and parts.password is None
    )


def _without_port(parts: SplitResult) -> tuple[str, str | None, str, str]:
    return parts.scheme, parts.hostname, parts.path, parts.query


def matches(registered: list[str], presented: str) -> bool:
    """Whether a presented redirect URI is one of the registered ones (RFC 8252 7.3)."""
    if presented in registered:
        return True
    try:
        asked = urlsplit(presented)
        asked.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return False
    if not _loopback(asked) or asked.fragment or asked.port == 0:
        return False
    for uri in registered:
        parts = urlsplit(uri)
        if _loopback(parts) and _without_port(parts) == _without_port(asked):
            return True
    return False
