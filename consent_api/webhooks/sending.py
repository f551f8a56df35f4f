"""Send one webhook: the event's JSON, signed per Standard Webhooks (`webhook-id`,
`webhook-timestamp`, `webhook-signature`, with the `standardwebhooks` library), over a
connection that may only reach permitted addresses (addresses.py), with short timeouts and
no redirects. What the receiver answered is kept as a status and a short excerpt, never
the whole body."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from consent_api.webhooks.addresses import AddressRefused, Watch, Watchdog, pool_classes

T = TypeVar("T")
R = TypeVar("R")

EXCERPT = 200
_READ_AT_MOST = 4096
USER_AGENT = "ConsentWallet-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: delivered (a 2xx), or why not."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    excerpt: str = ""


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, *, allow_local: bool) -> None:
        self.allow_local = allow_local
        super().__init__(max_retries=0, pool_maxsize=4)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = pool_classes(allow_local=self.allow_local)


def sign(secrets: list[str], *, message_id: str, at: datetime, body: str) -> str:
    """The `webhook-signature` header: one signature per secret in force."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


class WebhookSender:
    """Post signed events; one per thread (a requests session keeps its connections)."""

    def __init__(self, *, timeout: float, allow_local: bool, watchdog: Watchdog) -> None:
        self.timeout = timeout
        self.watchdog = watchdog
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or .netrc from the environment
        adapter = _GuardedAdapter(allow_local=allow_local)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send(
        self, url: str, *, message_id: str, body: str, secrets: list[str], at: datetime
    ) -> Outcome:
        """Post one event to `url` and say what became of it."""
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sign(secrets, message_id=message_id, at=at, body=body),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        watch = Watch(time.monotonic() + self.timeout)  # the whole attempt's deadline
        self.watchdog.watch(watch)
        try:
            response = self.session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
                stream=True,
            )
            excerpt = self._excerpt(response)
        except AddressRefused as refused:
            return Outcome(False, error=f"refused: {refused}")
        except Exception as error:  # whatever a receiver or its URL can cause: this one fails
            if watch.cut or isinstance(error, requests.Timeout):
                return Outcome(False, error=f"no answer within {self.timeout:g} s")
            return Outcome(False, error=f"could not deliver ({type(error).__name__})")
        finally:
            self.watchdog.release()
        if watch.cut:
            return Outcome(False, error=f"no answer within {self.timeout:g} s")
        ok = 200 <= response.status_code < 300
        return Outcome(
            ok,
            status_code=response.status_code,
            error=None if ok else f"answered {response.status_code}",
            excerpt=excerpt,
        )

    def _excerpt(self, response: requests.Response) -> str:
        """The start of the answer's body (the attempt's deadline bounds the reading; a body
        that breaks off or does not decode is kept as far as it went)."""
        chunks: list[bytes] = []
        try:
            while sum(map(len, chunks)) < _READ_AT_MOST:
                chunk = response.raw.read(1024, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
        except Exception:  # noqa: S110 - the answer's status is what counts
            pass
        finally:
            response.close()
        return b"".join(chunks).decode("utf-8", "replace")[:EXCERPT]

    def close(self) -> None:
        """Close the kept connections."""
        self.session.close()


class Dispatcher:
    """Send to several endpoints at once, one thread each (a thread keeps its own session,
    so connections to a receiver are reused); each endpoint's events go one after another."""

    def __init__(self, *, timeout: float, allow_local: bool, threads: int = 8) -> None:
        self.timeout = timeout
        self.allow_local = allow_local
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="webhooks")
        self.local = threading.local()
        self.watchdog = Watchdog()

    def sender(self) -> WebhookSender:
        """This thread's sender."""
        sender = getattr(self.local, "sender", None)
        if sender is None:
            sender = self.local.sender = WebhookSender(
                timeout=self.timeout, allow_local=self.allow_local, watchdog=self.watchdog
            )
        return sender

    def each(
        self, work: Callable[[WebhookSender, T], R], items: Sequence[T]
    ) -> Iterator[tuple[T, R]]:
        """Run `work` on every item, each on a thread with its sender; yield each item with
        its result as soon as it is done (a slow endpoint holds back no other)."""
        futures = {
            self.pool.submit(lambda item=item: work(self.sender(), item)): item for item in items
        }
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        """Stop the threads."""
        self.pool.shutdown(wait=True)
        self.watchdog.stop()
