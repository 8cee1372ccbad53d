"""Helpers for Python agents of the agent-os-sandbox world (`agent-os:sandbox/agent`).

An agent is a module with a ``run(task: str) -> str`` function; ``agentos build agent.py``
compiles it, this package and CPython into one WebAssembly component with componentize-py.
Raise :class:`AgentError` (or any exception) to return an error: the run then ends with
``AGENT_ERROR`` and the message.

Everything here goes through the sandbox's gate like any other import:

* :func:`log` and the ``trace``/``debug``/``info``/``warn``/``error`` shortcuts: the ``log``
  interface (records become ``log`` events on the host);
* :func:`call_tool` / :func:`available_tools`: the ``tools`` interface (the policy's
  ``toolAccess.allow`` must name the tool);
* :func:`fetch`: an HTTP request through ``wasi:http/outgoing-handler`` (the standard
  library's sockets do not exist in WASI; the policy's ``networkRules`` decide each request,
  and redirects are not followed: each hop would be a new, separately gated request);
* files: use ``open()`` and ``os`` as usual; only the policy's mounts exist;
* :func:`kv_get` / :func:`kv_set` / :func:`kv_delete` / :func:`kv_list`: the ``kv``
  interface, state kept between runs in the agent's own encrypted namespace (the ``storage``
  capability; ``dataPolicies`` on data id ``kv/<key>`` decide by role); failures raise
  :class:`KvError`;
* :func:`peers`, :func:`send`, :func:`receive`, :func:`reply`, :func:`publish`,
  :func:`subscribe`, :func:`unsubscribe`: the ``messaging`` interface, signed and encrypted
  messages between agents (the ``messaging`` capability; ``messaging.peers`` decides who may
  be messaged, a reply needs no entry); failures raise :class:`MessagingError`. Bodies are
  bytes as given, ``str`` as UTF-8, anything else as JSON.

Example::

    import agent_os

    def run(task: str) -> str:
        agent_os.info(f"task: {task}")
        found = agent_os.call_tool("search", {"q": task})
        page = agent_os.fetch("https://api.github.com/zen")
        agent_os.kv_set("last-task", task)
        return f"{found} {page.status} {page.text()}"

A worker answering requests from other agents::

    def run(task: str) -> str:
        served = 0
        while (m := agent_os.receive(timeout_ms=5000)) is not None:
            agent_os.reply(m.id, {"len": len(m.text)})
            served += 1
        return str(served)
"""

from __future__ import annotations

import json
from typing import Any

from ._comms import (
    KvError,
    Message,
    MessagingError,
    Peer,
    kv_delete,
    kv_get,
    kv_list,
    kv_set,
    peers,
    publish,
    receive,
    reply,
    send,
    subscribe,
    unsubscribe,
)
from ._http import HttpError, Response, fetch
from ._wit import Err, level_enum, log_imports, tools_imports

__all__ = [
    "AgentError",
    "HttpError",
    "KvError",
    "Message",
    "MessagingError",
    "Peer",
    "Response",
    "ToolError",
    "available_tools",
    "call_tool",
    "debug",
    "error",
    "fetch",
    "info",
    "kv_delete",
    "kv_get",
    "kv_list",
    "kv_set",
    "log",
    "peers",
    "publish",
    "receive",
    "reply",
    "send",
    "subscribe",
    "trace",
    "unsubscribe",
    "warn",
]


class AgentError(Exception):
    """Raise from ``run`` to return ``err(message)``: the run ends with ``AGENT_ERROR``."""


class ToolError(Exception):
    """A tool call that did not succeed.

    ``kind`` is one of ``not-found``, ``denied`` (the policy refused: the message says what
    would allow it), ``invalid-input``, ``failed`` (the tool ran and failed; a message that
    starts with ``QUOTA_EXCEEDED`` means a usage limit was reached).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """Emit one log record at ``level`` (trace, debug, info, warn, error). Never fails."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(_LEVELS)}")
    log_imports().emit(level_enum(level), str(message))


def trace(message: str) -> None:
    log("trace", message)


def debug(message: str) -> None:
    log("debug", message)


def info(message: str) -> None:
    log("info", message)


def warn(message: str) -> None:
    log("warn", message)


def error(message: str) -> None:
    log("error", message)


def available_tools() -> list[str]:
    """Names of the host tools this agent may call."""
    return list(tools_imports().available())


_TOOL_KINDS = {
    "ToolError_NotFound": "not-found",
    "ToolError_Denied": "denied",
    "ToolError_InvalidInput": "invalid-input",
    "ToolError_Failed": "failed",
}


def call_tool(name: str, input: Any = None) -> Any:
    """Call host tool ``name`` with ``input`` (encoded as JSON); returns the decoded result.

    Raises :class:`ToolError` when the tool is unknown, denied, rejects the input or fails.
    """
    try:
        result = tools_imports().call(name, json.dumps(input))
    except Err as e:
        variant = e.value
        raise ToolError(_TOOL_KINDS.get(type(variant).__name__, "failed"), str(getattr(variant, "value", variant))) from None
    return json.loads(result)


def _run_entry(run: Any, task: str) -> str:
    """Call the agent's ``run``; any exception becomes the WIT ``err`` with its message."""
    try:
        output = run(task)
    except AgentError as e:
        raise Err(str(e)) from None
    except Err:
        raise
    except Exception as e:  # an agent's bug is its error, not the host's
        raise Err(f"{type(e).__name__}: {e}") from None
    if not isinstance(output, str):
        output = json.dumps(output)
    return output

