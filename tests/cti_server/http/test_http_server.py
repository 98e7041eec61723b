"""``serve_http``: port 0, bind errors, clean shutdown of the embedded uvicorn server."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cti_server.http import HttpService, serve_http


async def _hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def test_serves_on_a_free_port_and_stops() -> None:
    app = Starlette(routes=[Route("/", _hello)])

    async def main() -> None:
        handle, port = await serve_http(app, "127.0.0.1", 0)
        assert port > 0 and handle.port == port
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/")
        assert answer.text == "hello"
        await handle.close()
        assert handle.task.done()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # the port is free again

    asyncio.run(main())


def test_a_port_in_use_raises_oserror_instead_of_exiting() -> None:
    app = Starlette(routes=[Route("/", _hello)])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            with pytest.raises(OSError):
                await serve_http(app, "127.0.0.1", port)

        asyncio.run(main())


def test_http_service_starts_and_stops_idempotently() -> None:
    """The composition root's ``HttpSide`` shape: ``start()``/``stop()``, ``port`` bound."""
    app = Starlette(routes=[Route("/", _hello)])
    service = HttpService(app, "127.0.0.1", 0)

    async def main() -> None:
        await service.start()
        await service.start()
        assert service.port > 0
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{service.port}/")).text == "hello"
        await service.stop()
        await service.stop()
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{service.port}/")

    asyncio.run(main())
