"""The generated bindings of the agent world.

componentize-py builds a component by running the agent's imports once and snapshotting the
interpreter: a binding module that was not imported then does not exist at run time. So every
interface this package wraps is imported here, eagerly. Outside a build (a type checker, a
unit test on the host) there are no bindings, and the wrappers raise when called.
"""

from __future__ import annotations

from typing import Any

from componentize_py_types import Err  # re-exported: the exception a WIT `err` travels in

try:
    from wit_world.imports import kv as _kv
    from wit_world.imports import log as _log
    from wit_world.imports import messaging as _messaging
    from wit_world.imports import outgoing_handler as _outgoing_handler
    from wit_world.imports import streams as _streams
    from wit_world.imports import tools as _tools
    from wit_world.imports import wasi_http_types as _http_types
except ImportError:  # not inside a componentize-py build
    _kv = _log = _messaging = _outgoing_handler = _streams = _tools = _http_types = None

__all__ = ["Err", "http_imports", "kv_imports", "level_enum", "log_imports", "messaging_imports", "tools_imports"]


def _need(module: Any, what: str) -> Any:
    if module is None:
        raise RuntimeError(f"agent_os: {what} exists only inside an agent built with agentos build")
    return module


def log_imports() -> Any:
    return _need(_log, "the log interface")


def tools_imports() -> Any:
    return _need(_tools, "the tools interface")


def kv_imports() -> Any:
    return _need(_kv, "the kv interface")


def messaging_imports() -> Any:
    return _need(_messaging, "the messaging interface")


def http_imports() -> Any:
    """``(types, outgoing_handler, streams)`` of wasi:http and wasi:io."""
    return _need(_http_types, "wasi:http"), _need(_outgoing_handler, "wasi:http"), _need(_streams, "wasi:io")


def level_enum(level: str) -> Any:
    return getattr(log_imports().Level, level.upper())
