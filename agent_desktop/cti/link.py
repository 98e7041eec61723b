"""The CTI link: :class:`shared.cti_client.CtiClient` on a dedicated asyncio thread.

::

    link = CtiLink()
    link.state_changed.connect(banner.on_link_state)       # "connecting" / "online" / "offline"
    link.connected.connect(model.on_welcome)                # every (re)connection
    link.resynced.connect(model.load_snapshot)              # first connect, refused resume, gap
    link.event.connect(model.apply)                         # each protocol event, in order
    link.login_failed.connect(login_dialog.show_error)      # bad credentials: no retries
    link.start("ws://cti:8765", PasswordCredentials(user_id="1001", password="…"))
    link.request(AgentSetReady(id=0), lambda result, error: ...)
    link.run(lambda: asyncio.to_thread(web.get_json, "/ui/api/…"), on_done)
    link.stop()                                             # logout, end the thread

Threads: the object lives on the GUI thread; the client, its reader and heartbeat run on
the link thread's asyncio loop. Everything the link thread has to say (signals and
``on_done`` callbacks) is posted through one private queued signal and runs on the GUI
thread, in the order it happened, so slots may touch widgets and Qt-free models.

Reconnect: after a lost connection or a failed attempt the link waits
:func:`backoff_delay` (0.5 s doubling to 30 s, ±20 % jitter) and reconnects with
``CtiClient.reconnect`` (a resume with the last seq: the missed events follow, no
resync). When the server cannot resume (the session expired) or events were missed,
the client fetches a snapshot and the link emits :attr:`CtiLink.resynced`. Bad
credentials (``not_authenticated``, ``forbidden``, ``unsupported_version``) end the run
with :attr:`CtiLink.login_failed`: no retry loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from shared.cti_client import ClientEvent, ConnectionLost, CtiClient, Resync
from shared.protocol.base import Request, ResultBody
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Credentials, Welcome

log = logging.getLogger("agent_desktop.cti.link")

LOGIN_ERRORS = frozenset(
    {ErrorCode.NOT_AUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.UNSUPPORTED_VERSION}
)
"""``hello`` refusals that retrying cannot fix: :attr:`CtiLink.login_failed`, no retry."""

type RequestMessage = Request | Callable[[int], Request]
"""A request (its ``id`` is replaced) or ``lambda i: AgentSetReady(id=i)``."""
type RequestDone = Callable[[ResultBody | None, Exception | None], None]
"""``on_done(result, None)`` or ``on_done(None, error)``; always on the GUI thread."""


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"
    """An attempt to connect (or reconnect and resume) is under way."""
    ONLINE = "online"
    """Connected and welcomed: requests go out."""
    OFFLINE = "offline"
    """Not started, stopped, waiting before the next attempt, or login failed."""


class LinkOffline(ConnectionLost):
    """A request while the link is not online (not started, connecting, offline,
    stopped), or work still pending when the link stopped. Raised at once, never after
    a wait."""


def backoff_delay(
    attempt: int,
    *,
    initial: float = 0.5,
    maximum: float = 30.0,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 = the first retry):
    ``initial`` doubling per attempt up to ``maximum``, times 1 ± ``jitter`` (so many
    desktops cut off together do not come back in step), never above ``maximum``."""
    base = min(maximum, initial * 2.0 ** min(attempt, 64))
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, min(maximum, base * (1.0 + spread)))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CtiLink(QObject):
    """One CTI session of the desktop, kept up across connection losses."""

    connected = Signal(object)
    """:class:`Welcome` of every (re)connection; ``welcome.resumed`` says whether the
    missed events follow (True) or a :attr:`resynced` snapshot does (False)."""
    disconnected = Signal(str)
    """Why the link went offline: a lost connection or a failed attempt (not on stop())."""
    event = Signal(object)  # type: ignore[assignment]  # the design's name; shadows QObject.event
    """Each protocol event (``shared.protocol.messages.AnyEvent``), in order, no duplicates."""
    resynced = Signal(object)
    """A :class:`Snapshot` to replace local state with: after the first connect, after a
    resume the server refused and after a sequence gap. Events after it follow."""
    state_changed = Signal(str)
    """A :class:`LinkState` value, on every change."""
    login_failed = Signal(object)
    """The :class:`ProtocolError` of a refused ``hello`` (bad credentials); the run ends."""

    _posted = Signal(object)
    """(generation or None, callable) from the link thread, run on the GUI thread."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        request_timeout: float = 10.0,
        heartbeat: bool | float = True,
        open_timeout: float = 10.0,
        logout_timeout: float = 3.0,
    ) -> None:
        super().__init__(parent)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self.heartbeat = heartbeat
        self.open_timeout = open_timeout
        self.logout_timeout = logout_timeout
        self._state = LinkState.OFFLINE
        self._welcome: Welcome | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: CtiClient | None = None
        self._supervisor: Future[None] | None = None
        self._work: set[Future[Any]] = set()
        self._work_lock = threading.Lock()  # added on the GUI thread, removed on the link's
        self._generation = 0
        self._rng = random.Random()
        self._supervisor_task: asyncio.Task[None] | None = None
        """The running supervisor (link thread only)."""
        self._background: set[asyncio.Task[None]] = set()
        """Snapshot fetches in flight (link thread only)."""
        self._announced: list[Welcome] = []
        """Welcomes announced by the current run (link thread only)."""
        self._posted.connect(self._run_posted, Qt.ConnectionType.QueuedConnection)

    # -- GUI-thread API -------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def welcome(self) -> Welcome | None:
        """The welcome of the current (or last) connection."""
        return self._welcome

    @property
    def running(self) -> bool:
        """Started and not stopped, and not ended by a failed login."""
        return self._supervisor is not None and not self._supervisor.done()

    def start(
        self,
        url: str,
        credentials: Credentials,
        *,
        kind: ClientKind = ClientKind.DESKTOP,
        client_name: str | None = None,
        client_version: str | None = None,
    ) -> None:
        """Connect (and keep reconnecting); ``kind`` is ``SUPERVISOR`` for a team lead's
        desktop. ``RuntimeError`` while running."""
        if self.running:
            raise RuntimeError("the CTI link is already started: stop() it first")
        loop = self._ensure_loop()
        self._generation += 1
        generation = self._generation
        client = CtiClient(
            url,
            credentials,
            kind,
            client_name=client_name,
            client_version=client_version,
            heartbeat=self.heartbeat,
            request_timeout=self.request_timeout,
            open_timeout=self.open_timeout,
            auto_snapshot=True,
            on_event=lambda item: self._on_client_event(generation, client, item),
        )
        self._client = client
        self._welcome = None
        self._set_state(LinkState.CONNECTING)
        self._supervisor = asyncio.run_coroutine_threadsafe(
            self._supervise(generation, client), loop
        )

    def request(self, message: RequestMessage, on_done: RequestDone | None = None) -> None:
        """Send a request; ``on_done(result_body_or_None, error_or_None)`` runs later on the
        GUI thread (never inside this call). Errors: :class:`LinkOffline` at once when the
        link is not online, :class:`ProtocolError` (an ``error`` response),
        :class:`ConnectionLost` (the connection closed first), ``TimeoutError`` (no
        response within ``request_timeout``)."""
        loop, client = self._loop, self._client
        if self._state is not LinkState.ONLINE or loop is None or client is None:
            error = LinkOffline(f"the CTI link is {self._state.value}")
            self._post(None, lambda: self._call_done(on_done, None, error))
            return
        future = asyncio.run_coroutine_threadsafe(client.request(message), loop)
        self._track(future, on_done)

    def run[T](
        self,
        factory: Callable[[], Coroutine[Any, Any, T]],
        on_done: Callable[[T | None, Exception | None], None] | None = None,
    ) -> None:
        """Run ``factory()`` on the link loop (HTTP through ``asyncio.to_thread`` …), online
        or not; ``on_done(result, error)`` on the GUI thread. Work still running at
        :meth:`stop` is cancelled and gets :class:`LinkOffline`."""

        async def call() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(call(), self._ensure_loop())
        self._track(future, on_done)

    def stop(self) -> None:
        """Log out cleanly if online, end the session and the link thread. Idempotent;
        the link can be started again afterwards."""
        loop, thread, client = self._loop, self._thread, self._client
        with self._work_lock:
            work = list(self._work)
        self._generation += 1  # what the old run still posts is dropped (on_done excepted)
        self._loop = self._thread = self._client = self._supervisor = None
        if loop is not None and thread is not None and thread.is_alive():
            for future in work:
                future.cancel()  # thread-safe: the task is cancelled on the loop
            shutdown = asyncio.run_coroutine_threadsafe(self._shutdown(client), loop)
            try:
                shutdown.result(self.logout_timeout + 5.0)
            except Exception as exc:  # a stuck loop must not block the GUI for ever
                log.warning("CTI link shutdown: %s", _describe(exc))
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5.0)
        self._welcome = None
        self._set_state(LinkState.OFFLINE)

    # -- GUI-thread internals -------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_run_loop, args=(loop,), name="cti-link", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state.value)

    def _run_posted(self, item: tuple[int | None, Callable[[], None]]) -> None:
        generation, action = item
        if generation is not None and generation != self._generation:
            return  # from a run that was stopped since
        try:
            action()
        except Exception:
            log.exception("CTI link: a slot or callback failed")

    def _call_done[T](
        self,
        on_done: Callable[[T | None, Exception | None], None] | None,
        result: T | None,
        error: Exception | None,
    ) -> None:
        if on_done is not None:
            on_done(result, error)
        elif error is not None:
            log.warning("CTI link: unhandled request error: %s", _describe(error))

    def _track[T](
        self,
        future: Future[T],
        on_done: Callable[[T | None, Exception | None], None] | None,
    ) -> None:
        with self._work_lock:
            self._work.add(future)

        def finished(done: Future[T]) -> None:  # on the link thread (or here if done)
            with self._work_lock:
                self._work.discard(done)
            result: T | None = None
            error: Exception | None = None
            try:
                result = done.result()
            except (FutureCancelled, asyncio.CancelledError):
                error = LinkOffline("the CTI link stopped")
            except Exception as exc:
                error = exc
            self._post(None, lambda: self._call_done(on_done, result, error))

        future.add_done_callback(finished)

    def _post(self, generation: int | None, action: Callable[[], None]) -> None:
        """Run ``action`` on the GUI thread (from any thread), after what was posted before."""
        self._posted.emit((generation, action))

    # -- link thread ----------------------------------------------------------------------

    def _post_state(self, generation: int, state: LinkState) -> None:
        self._post(generation, lambda: self._set_state(state))

    def _went_offline(self, generation: int, reason: str) -> None:
        def action() -> None:
            self._set_state(LinkState.OFFLINE)
            self.disconnected.emit(reason)

        self._post(generation, action)

    def _login_refused(self, generation: int, error: ProtocolError) -> None:
        def action() -> None:
            self._set_state(LinkState.OFFLINE)
            self.login_failed.emit(error)

        self._post(generation, action)

    def _announce(self, generation: int, client: CtiClient, announced: list[Welcome]) -> None:
        """Online and ``connected(welcome)`` once per welcome, before what follows it."""
        welcome = client.welcome
        if welcome is None or (announced and announced[-1] is welcome):
            return
        announced.append(welcome)

        def action() -> None:
            self._welcome = welcome
            self._set_state(LinkState.ONLINE)
            self.connected.emit(welcome)

        self._post(generation, action)

    def _on_client_event(self, generation: int, client: CtiClient, item: ClientEvent) -> None:
        """The client's reader (link thread): hand each item to the GUI thread in order."""
        self._announce(generation, client, self._announced)
        if isinstance(item, Resync):
            snapshot = item.snapshot
            if snapshot is None:  # not with auto_snapshot, but never leave state stale
                task = asyncio.get_running_loop().create_task(self._fetch_snapshot(client))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                return
            log.info("CTI link resync (%s) at seq %d", item.reason, snapshot.last_seq)
            self._post(generation, lambda: self.resynced.emit(snapshot))
        else:
            event = item
            self._post(generation, lambda: self.event.emit(event))

    async def _fetch_snapshot(self, client: CtiClient) -> None:
        try:
            await client.snapshot()
        except (ProtocolError, ConnectionLost, TimeoutError) as exc:
            log.warning("CTI link: snapshot failed: %s", _describe(exc))

    async def _supervise(self, generation: int, client: CtiClient) -> None:
        self._announced = []
        self._supervisor_task = asyncio.current_task()
        attempt = 0
        first = True
        while True:
            self._post_state(generation, LinkState.CONNECTING)
            try:
                await (client.open() if first else client.reconnect())
            except ProtocolError as exc:
                if exc.code in LOGIN_ERRORS:
                    log.warning("CTI login refused: %s", exc)
                    self._login_refused(generation, exc)
                    return
                reason = f"the server refused the connection: {exc.message}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OSError, TimeoutError, websockets' handshake errors …
                reason = f"cannot connect: {_describe(exc)}"
            else:
                attempt = 0
                self._announce(generation, client, self._announced)
                await client.wait_disconnected()
                reason = (
                    f"connection lost ({client.close_code} {client.close_reason or ''})".strip()
                )
            first = False
            log.info("CTI link offline: %s", reason)
            self._went_offline(generation, reason)
            delay = backoff_delay(
                attempt, initial=self.backoff_initial, maximum=self.backoff_max, rng=self._rng
            )
            attempt += 1
            await asyncio.sleep(delay)

    async def _shutdown(self, client: CtiClient | None) -> None:
        supervisor = self._supervisor_task
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        if client is None:
            return
        if client.connected:
            try:
                await asyncio.wait_for(client.logout(), self.logout_timeout)
            except Exception as exc:
                log.warning("CTI logout: %s", _describe(exc))
        await client.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
