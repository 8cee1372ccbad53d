"""The ``kv`` and ``messaging`` interfaces, with Python types instead of generated bindings.

Both pass the gate on every call: the policy must grant the ``storage`` (kv) or ``messaging``
capability; ``dataPolicies`` (data id ``kv/<key>``) decide kv keys by role, and
``messaging.peers`` (or the authorization model) decides who may be messaged. A refusal or
failure raises :class:`KvError` / :class:`MessagingError` with the WIT variant's case as
``kind``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn, Optional

from ._wit import Err, kv_imports, messaging_imports

__all__ = [
    "KvError",
    "Message",
    "MessagingError",
    "Peer",
    "kv_delete",
    "kv_get",
    "kv_list",
    "kv_set",
    "peers",
    "publish",
    "receive",
    "reply",
    "send",
    "subscribe",
    "unsubscribe",
]


class KvError(Exception):
    """A key-value call that did not succeed.

    ``kind`` is ``denied`` (the policy refused: the message says what would allow it),
    ``quota`` (bytes, keys, value size or rate; nothing was written), ``invalid`` (an
    unacceptable key or value) or ``unavailable`` (no store, or a value failing its check).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class MessagingError(Exception):
    """A messaging call that did not succeed.

    ``kind`` is ``denied``, ``not-found`` (no such agent reachable), ``quota`` (message size,
    rate or the recipient's mailbox), ``invalid`` (empty id or topic, unknown message id for
    :func:`reply`) or ``unavailable`` (messaging off, or the broker unreachable).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Peer:
    """An agent this one may message."""

    id: str
    agent_type: str
    roles: list[str]


@dataclass(frozen=True)
class Message:
    """A message delivered to this agent, its sender verified by the host."""

    id: str
    sender: str
    sender_type: str
    topic: Optional[str]
    reply_to: Optional[str]
    timestamp: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _kind(variant: Any) -> str:
    # The bindings name each case `<Variant>_<Case>` (KvError_NotFound): the case, in kebab case.
    case = type(variant).__name__.split("_", 1)[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", "-", case).lower()


def _raise(cls: type, e: Err) -> NoReturn:
    variant = e.value
    raise cls(_kind(variant), str(getattr(variant, "value", variant))) from None


def _bytes(value: Any) -> bytes:
    """bytes as they are, str as UTF-8, anything else as JSON."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


def kv_get(key: str) -> Optional[bytes]:
    """The value under ``key`` in this agent's namespace, or ``None``."""
    try:
        value = kv_imports().get(key)
    except Err as e:
        _raise(KvError, e)
    return None if value is None else bytes(value)


def kv_set(key: str, value: bytes | str, ttl_ms: Optional[int] = None) -> None:
    """Store ``value`` (str as UTF-8) under ``key``; ``ttl_ms`` makes it expire."""
    try:
        kv_imports().set(key, _bytes(value), ttl_ms)
    except Err as e:
        _raise(KvError, e)


def kv_delete(key: str) -> bool:
    """Delete ``key``; True when there was a value."""
    try:
        return bool(kv_imports().delete(key))
    except Err as e:
        _raise(KvError, e)


def kv_list(prefix: str = "") -> list[str]:
    """The keys starting with ``prefix``, in order (at most 1,000)."""
    try:
        return list(kv_imports().list_keys(prefix))
    except Err as e:
        _raise(KvError, e)


def peers() -> list[Peer]:
    """The agents this agent may message now."""
    return [Peer(p.id, p.agent_type, list(p.roles)) for p in messaging_imports().peers()]


def send(to: str, body: Any) -> str:
    """Send ``body`` (bytes; str as UTF-8; anything else as JSON) to agent ``to``; returns the message id."""
    try:
        return messaging_imports().send(to, _bytes(body))
    except Err as e:
        _raise(MessagingError, e)


def publish(topic: str, body: Any) -> int:
    """Publish ``body`` on ``topic``; returns how many agents it reached."""
    try:
        return int(messaging_imports().publish(topic, _bytes(body)))
    except Err as e:
        _raise(MessagingError, e)


def subscribe(topic: str) -> None:
    """Receive what is published on ``topic`` from now on."""
    try:
        messaging_imports().subscribe(topic)
    except Err as e:
        _raise(MessagingError, e)


def unsubscribe(topic: str) -> None:
    """Stop receiving ``topic``."""
    messaging_imports().unsubscribe(topic)


def receive(timeout_ms: int = 0) -> Optional[Message]:
    """The next message, waiting up to ``timeout_ms`` (0: do not wait); ``None`` when none came."""
    try:
        m = messaging_imports().receive(timeout_ms)
    except Err as e:
        _raise(MessagingError, e)
    if m is None:
        return None
    return Message(m.id, m.sender, m.sender_type, m.topic, m.reply_to, int(m.timestamp), bytes(m.body))


def reply(message_id: str, body: Any) -> str:
    """Answer received message ``message_id`` with ``body``; returns the reply's id."""
    try:
        return messaging_imports().reply(message_id, _bytes(body))
    except Err as e:
        _raise(MessagingError, e)
