"""Direct routes: the hottest endpoints answered by the edge without the router.

FastAPI's router tries the routes one by one (over a hundred, in included routers) and its
request handling resolves dependencies generically; for `POST /oauth/token` and
`GET /v1/me` that was most of a request's CPU. A direct route is the very coroutine the
FastAPI route awaits (`Request -> Response`, listed by its feature: `auth/api.py`), called
once the edge's checks passed. Errors take the app's own exception handlers, looked up as
Starlette's ExceptionMiddleware looks them up; an unhandled exception goes on up to
ServerErrorMiddleware, as from the router. The FastAPI routes stay: the OpenAPI document, and
every request the table does not name exactly (another method, a trailing slash, a root path).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
# (method, path) -> the endpoint serving exactly that request.
DirectRoutes = Mapping[tuple[str, str], Endpoint]
Handler = Callable[[Request, Exception], Any]


def exception_handler(app: Any, exc: Exception) -> Handler | None:
    """The app's handler for `exc` as ExceptionMiddleware picks it (an HTTPException's status
    first, then the exception's classes in order), None for the handlers of 500 and
    Exception, which ServerErrorMiddleware applies to what propagates."""
    handlers: dict[Any, Handler] = getattr(app, "exception_handlers", {})
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _is_async(fn: Any) -> bool:
    # As Starlette decides it: a coroutine function (or a partial of one) is awaited, any
    # other handler runs in a worker thread.
    while isinstance(fn, functools.partial):
        fn = fn.func
    call = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    return inspect.iscoroutinefunction(call)


async def serve_direct(endpoint: Endpoint, scope: Scope, receive: Receive,
                       send: Send) -> None:
    """Answer a request with `endpoint`, its exceptions through the app's handlers."""
    request = Request(scope, receive)
    try:
        response = await endpoint(request)
    except Exception as exc:
        handler = exception_handler(scope.get("app"), exc)
        if handler is None:
            raise
        response = (await handler(request, exc) if _is_async(handler)
                    else await run_in_threadpool(handler, request, exc))
    await response(scope, receive, send)
