"""A server that accepts the connection and never answers: reported once, within the first-token
time the settings give, with Retry; never retried in silence. Connection failures and 429/5xx
are retried, and the window says that it is retrying."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from desktop_chat.errors import RequestTimeout
from desktop_chat.events import Retrying, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import reply_done, running_window, type_and_send, wait_for
from tests.support.settings import write_config

MESSAGES = [{"role": "user", "content": "hi"}]


class HungServer:
    """Accepts every connection, reads the request, and answers nothing, ever."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)


@contextlib.contextmanager
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    server.thread.start()
    try:
        yield server
    finally:
        server._stop.set()
        server.thread.join(2)
        for conn in server.held:
            conn.close()
        server.sock.close()


def _collect(provider, limit_s: float):
    async def go():
        try:
            return [e async for e in provider.stream(MESSAGES, "m", GenerationParams())]
        finally:
            await provider.aclose()

    return asyncio.run(asyncio.wait_for(go(), limit_s))


def test_a_server_that_never_answers_is_reported_once_within_the_first_token_time():
    import openai  # noqa: F401  (its seconds of import are not the server's)

    with hung_server() as server:
        provider = OpenAICompatProvider(server.base_url, name="stuck", first_token_timeout_s=1.0)
        start = time.perf_counter()
        with pytest.raises(RequestTimeout) as info:
            _collect(provider, limit_s=15)
        took = time.perf_counter() - start
        assert 0.9 <= took < 3, took
        assert server.accepted == 1, "a silent server is not asked again in silence"
    assert "nothing for 1 s" in info.value.message
    assert "Retry" in info.value.hint and "first_token_timeout" in info.value.hint


def test_the_first_token_time_has_defaults_for_remote_and_for_a_cold_local_load():
    from desktop_chat.config import Settings
    from desktop_chat.targets import first_token_timeout

    settings = Settings()
    remote = OpenAICompatProvider("https://api.example.com/v1", name="r")
    local = OpenAICompatProvider("http://127.0.0.1:11434/v1", name="l")
    assert remote.first_token_timeout_s == settings.first_token_timeout_s <= 30
    assert local.first_token_timeout_s == settings.first_token_timeout_local_s >= 120
    from desktop_chat.config import ProviderSettings

    assert first_token_timeout(ProviderSettings("r", "https://api.example.com/v1"), settings) == 30


def test_the_first_token_time_is_a_setting(_isolated_home):
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    write_config(
        _isolated_home, "[app]\nfirst_token_timeout = 12\nfirst_token_timeout_local = 300\n"
    )
    loaded = load_settings(app_paths(), write_default=False)
    assert not loaded.errors, loaded.errors
    assert loaded.settings.first_token_timeout_s == 12
    assert loaded.settings.first_token_timeout_local_s == 300
    write_config(_isolated_home, '[app]\nfirst_token_timeout = "soon"\n')
    loaded = load_settings(app_paths(), write_default=False)
    assert loaded.settings.first_token_timeout_s == 30
    assert any("first_token_timeout" in str(e) for e in loaded.errors)


def test_only_connection_failures_and_429_5xx_are_retried_and_each_retry_is_said():
    with FakeOpenAI() as fake:
        fake.script = [Step(503, error="overloaded"), Step(429, error="busy"), Step(pieces=["ok"])]
        provider = OpenAICompatProvider(fake.base_url, name="acme", backoff_s=0.01)
        events = _collect(provider, limit_s=15)
    retries = [e for e in events if isinstance(e, Retrying)]
    assert [(r.attempt, r.of) for r in retries] == [(2, 3), (3, 3)]
    assert "overloaded" in retries[0].reason and "busy" in retries[1].reason
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ok"


@pytest.mark.slow
def test_the_window_says_a_hung_server_failed_with_retry(qapp, qtbot, _isolated_home):
    with hung_server() as server:
        write_config(
            _isolated_home,
            f"""default_model = "stuck:m"
[app]
first_token_timeout_local = 1

[providers.stuck]
base_url = "{server.base_url}"
models = ["m"]
""",
        )
        with running_window(qapp) as (loop, window):

            async def scenario():
                await window.controller.refresh()
                await wait_for(lambda: window.controller.choice is not None)
                type_and_send(qtbot, window, "Hello?")
                await wait_for(lambda: window.controller.busy)
                await wait_for(lambda: reply_done(window), limit_s=10, what="the report")

            start = time.perf_counter()
            loop.run_until_complete(scenario())
            assert time.perf_counter() - start < 8
            banner = window.view.items[-1]
            assert banner.objectName() == "errorBanner"
            assert "sent nothing" in banner.message.text()
            assert banner.retry_button.isVisible()
            assert "failed" in window.view.replies()[-1].stats.text()
            assert server.accepted == 1


@pytest.mark.slow
def test_the_window_shows_that_it_is_retrying(qapp, qtbot, fake, _isolated_home):
    fake.script = [Step(503, error="overloaded"), Step(pieces=["Here ", "at last."])]
    with running_window(qapp) as (loop, window):
        seen: list[str] = []

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Hello?")
            await wait_for(lambda: window.reply is not None)
            reply = window.reply
            await wait_for(lambda: "retrying" in reply.stats.text(), what="the retry note")
            seen.append(reply.stats.text())
            await wait_for(lambda: reply_done(window))
            seen.append(reply.stats.text())

        loop.run_until_complete(scenario())
        assert "overloaded" in seen[0] and "2 of 3" in seen[0], seen
        assert "retrying" not in seen[1], "the note goes once the reply came"
        assert window.view.replies()[-1].text == "Here at last."
