"""Blocking HTTP for a componentize-py guest, over wasi:http/outgoing-handler@0.2.

The host attaches the credential and refuses every destination but the configured origin, so
this module never sees a token: it builds the request, sends it, and reads the whole answer.
"""

from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.wasi_http_types import (
    Fields,
    Method_Delete,
    Method_Get,
    Method_Put,
    OutgoingBody,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)

METHODS = {"GET": Method_Get, "PUT": Method_Put, "DELETE": Method_Delete}
READ_BYTES = 65536


class TransportError(Exception):
    """The host refused the request, or it failed before an answer (value: a wasi:http error-code)."""


def send(method, url, headers=()):
    """Sends a request without a body; returns (status, body bytes)."""
    parts = urlsplit(url)
    request = OutgoingRequest(Fields.from_list([(name, value.encode()) for name, value in headers]))
    request.set_method(METHODS[method]())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    body = request.body()  # taken before handle() consumes the request
    try:
        future = outgoing_handler.handle(request, None)
    except Err as refused:
        raise TransportError(refused.value) from None
    OutgoingBody.finish(body, None)
    with future:
        while (answer := future.get()) is None:
            with future.subscribe() as pollable:
                pollable.block()
    if isinstance(answer, Err):
        raise TransportError(answer.value)
    if isinstance(answer.value, Err):
        raise TransportError(answer.value.value)
    with answer.value.value as response:
        return response.status(), read_body(response)


def read_body(response):
    incoming = response.consume()
    chunks = []
    with incoming.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(READ_BYTES))
            except Err as end:
                if isinstance(end.value, StreamError_Closed):
                    break
                raise TransportError(end.value) from None
    incoming.__exit__(None, None, None)
    return b"".join(chunks)
