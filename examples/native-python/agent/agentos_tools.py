"""A small client for host tools, for native Python agents (no dependencies).

The sandbox passes a socket on the descriptor named by AGENTOS_TOOLS_FD when the policy's
toolAccess grants a tool. Each call is one JSON line out and one back; the host decides it
exactly as for a WebAssembly agent's tools.call and records it in the audit log.

    from agentos_tools import call_tool, ToolError
    result = call_tool("classify", {"text": "..."})
"""

import itertools
import json
import os
import socket

__all__ = ["ToolError", "available_tools", "call_tool"]

_ids = itertools.count(1)
_conn = None


class ToolError(Exception):
    """kind: denied, not-found, invalid-input or failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _channel():
    global _conn
    if _conn is None:
        fd = os.environ.get("AGENTOS_TOOLS_FD")
        if fd is None:
            raise ToolError("denied", "no tool channel: the policy's toolAccess grants no tool")
        _conn = socket.socket(fileno=int(fd)).makefile("rwb", buffering=0)
    return _conn


def _request(body: dict):
    conn = _channel()
    body["id"] = next(_ids)
    conn.write(json.dumps(body).encode() + b"\n")
    reply = json.loads(conn.readline())
    if not reply.get("ok"):
        err = reply.get("error", {})
        raise ToolError(err.get("kind", "failed"), err.get("message", ""))
    return reply["result"]


def call_tool(name: str, input=None):
    """Call host tool `name` with a JSON-able input; returns its JSON result."""
    return _request({"tool": name, "input": input})


def available_tools() -> list:
    """The tools this agent may call."""
    return _request({"list": True})
