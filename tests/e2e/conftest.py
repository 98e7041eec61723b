"""Fixtures of the end-to-end tests: real processes (always stopped, even on failure)
and phones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.media.process import RtpEngineNotFoundError, resolve_binary
from tests.e2e.e2e_support import LoggedProcess, Phone

ProcessFactory = Callable[[str, str, Sequence[str]], LoggedProcess]
PhoneFactory = Callable[..., Awaitable[Phone]]


@pytest.fixture
def rtpengine_binary() -> str:
    try:
        return resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")


@pytest_asyncio.fixture
async def make_phone() -> AsyncIterator[PhoneFactory]:
    phones: list[Phone] = []

    async def factory(user: str, *, answer_after: float = 0.2) -> Phone:
        phone = await Phone.open(user, answer_after=answer_after)
        phones.append(phone)
        return phone

    yield factory
    for phone in phones:
        await phone.close()


@pytest_asyncio.fixture
async def processes(make_phone: PhoneFactory, tmp_path: Path) -> AsyncIterator[ProcessFactory]:
    """``processes(name, module, args)`` → a :class:`LoggedProcess` (not started yet);
    all of them are stopped at the end (SIGTERM, then SIGKILL of their process group),
    before the phones close (a switch hanging up calls gets its BYEs answered). Their
    whole logs are left in ``<tmp_path>/<name>.log``."""
    made: list[LoggedProcess] = []

    def factory(name: str, module: str, args: Sequence[str]) -> LoggedProcess:
        proc = LoggedProcess(name, module, args)
        made.append(proc)
        return proc

    yield factory
    for proc in reversed(made):
        code = await proc.stop()
        (tmp_path / f"{proc.name}.log").write_text("".join(proc.lines), encoding="utf-8")
        # Shown by pytest only when the test failed.
        print(f"===== {proc.name} (exit {code}) =====\n{proc.tail()}")
