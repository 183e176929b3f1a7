"""Multipart parsing in memory only: upload bytes never reach a temporary file on disk."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from idproof.core.errors import ValidationFailed

# Enough for the liveness answer (up to 40 frames) and every other form we accept.
MAX_FILES = 64
MAX_FIELDS = 32


class InMemoryMultiPartParser(MultiPartParser):
    # Starlette spools file parts over 1 MB to a temporary file on disk, in plaintext, while
    # the request is in flight. The spool limit is above the edge's upload limit (the
    # middleware refuses bigger bodies before they are read), so nothing ever rolls over.
    spool_max_size = 64 * 1024 * 1024


async def parse_form_in_memory(request: Request, *, max_files: int = MAX_FILES,
                               max_fields: int = MAX_FIELDS) -> FormData | None:
    """Parse a multipart body in memory and cache it where `request.form()` finds it.

    None when the body is not multipart (urlencoded forms are never spooled to disk).
    """
    ctype, _ = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data":
        return None
    if request._form is not None:
        return request._form
    try:
        async with aclosing(request.stream()) as stream:
            parser = InMemoryMultiPartParser(request.headers, stream, max_files=max_files,
                                             max_fields=max_fields)
            # Starlette's Request.form() returns this cached form instead of parsing again
            # with its disk-spooling parser; Request.close() closes it.
            request._form = await parser.parse()
    except MultiPartException:
        raise ValidationFailed("the form could not be read", code="invalid_form") from None
    return request._form


class InMemoryFormRoute(APIRoute):
    """A route whose multipart body is parsed in memory before FastAPI reads its fields."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_then_handle(request: Request) -> Response:
            await parse_form_in_memory(request)
            return await handler(request)

        return parse_then_handle
