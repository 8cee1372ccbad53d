"""Synchronous HTTP for Python agents over ``wasi:http/outgoing-handler``.

CPython's sockets do not exist in WASI, so ``urllib`` and ``http.client`` cannot connect;
:func:`fetch` builds a ``wasi:http`` request instead. The host decides every request against
the policy's ``networkRules`` (a denied request raises :class:`HttpError` with code
``HTTP-REQUEST-DENIED``), never follows redirects, and caps response bodies.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._wit import Err, http_imports

__all__ = ["HttpError", "Response", "fetch"]

Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]]]

# wasi:io streams accept at most what check-write allows; 4096 bytes is the guaranteed floor.
_WRITE_CHUNK = 4096
_READ_CHUNK = 65536


class HttpError(Exception):
    """A request that got no response: ``code`` is the wasi:http error code in kebab case
    (``HTTP-REQUEST-DENIED`` when the policy refused it, ``CONNECTION-REFUSED``, ...)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}{': ' + detail if detail else ''}")
        self.code = code
        self.detail = detail


class Response:
    """A complete response: ``status``, ``headers`` (list of name/value pairs), ``body`` bytes."""

    def __init__(self, status: int, headers: list[Tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


def _error_name(value: Any) -> str:
    # ErrorCode_HttpRequestDenied -> HTTP-REQUEST-DENIED
    name = type(value).__name__.split("_", 1)[-1]
    out = "".join(f"-{c}" if c.isupper() and i > 0 else c for i, c in enumerate(name))
    return out.upper()


def _method(types: Any, method: str) -> Any:
    known = {
        "GET": types.Method_Get, "HEAD": types.Method_Head, "POST": types.Method_Post,
        "PUT": types.Method_Put, "DELETE": types.Method_Delete, "CONNECT": types.Method_Connect,
        "OPTIONS": types.Method_Options, "TRACE": types.Method_Trace, "PATCH": types.Method_Patch,
    }
    upper = method.upper()
    return known[upper]() if upper in known else types.Method_Other(method)


def _scheme(types: Any, scheme: str) -> Any:
    if scheme == "https":
        return types.Scheme_Https()
    if scheme == "http":
        return types.Scheme_Http()
    return types.Scheme_Other(scheme)


def _header_pairs(headers: Optional[Headers]) -> list[Tuple[str, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v).encode("latin-1")) for k, v in items]


def _write_all(stream: Any, data: bytes) -> None:
    for start in range(0, len(data), _WRITE_CHUNK):
        stream.blocking_write_and_flush(data[start:start + _WRITE_CHUNK])


def _read_all(streams: Any, stream: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunks.append(stream.blocking_read(_READ_CHUNK))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                return b"".join(chunks)
            raise HttpError("HTTP-RESPONSE-INCOMPLETE", "the response body stream failed") from None


def fetch(
    url: str,
    method: str = "GET",
    headers: Optional[Headers] = None,
    body: Union[bytes, str, None] = None,
) -> Response:
    """Send one HTTP request and read the whole response.

    ``url`` must be absolute (``https://host[:port]/path?query``); ``body`` may be bytes or
    text (UTF-8). Raises :class:`HttpError` when there is no response (denied by policy,
    refused, timed out); a response with any status is returned, redirects included.
    """
    types, outgoing_handler, streams = http_imports()
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"fetch needs an absolute URL, got {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    payload = body.encode("utf-8") if isinstance(body, str) else body

    try:
        request = types.OutgoingRequest(types.Fields.from_list(_header_pairs(headers)))
    except Err as e:
        raise HttpError("HEADER-ERROR", _error_name(e.value)) from None
    try:
        request.set_method(_method(types, method))
        request.set_scheme(_scheme(types, parts.scheme.lower()))
        request.set_authority(parts.netloc)
        request.set_path_with_query(path)
    except Err:
        raise HttpError("HTTP-REQUEST-URI-INVALID", url) from None

    outgoing_body = request.body()
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise HttpError(_error_name(e.value)) from None
    if payload:
        with outgoing_body.write() as stream:
            _write_all(stream, payload)
    types.OutgoingBody.finish(outgoing_body, None)

    with future:
        with future.subscribe() as ready:
            ready.block()
        outcome = future.get()
    if outcome is None or isinstance(outcome, Err):
        raise HttpError("INTERNAL-ERROR", "the response future gave no result")
    inner = outcome.value
    if isinstance(inner, Err):
        raise HttpError(_error_name(inner.value))
    with inner.value as response:
        status = response.status()
        with response.headers() as fields:
            pairs = [(k, v.decode("latin-1")) for k, v in fields.entries()]
        incoming = response.consume()
        with incoming.stream() as stream:
            data = _read_all(streams, stream)
        with types.IncomingBody.finish(incoming):  # the trailers are not read; drop them
            pass
    return Response(status, pairs, data)
