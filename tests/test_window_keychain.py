"""A Keychain read that waits on the user (macOS asks "Desktop Chat wants to use your
confidential information…" and the read blocks until it is answered) must not freeze the
window: keys are read off the GUI thread."""

from __future__ import annotations

import itertools
import time

import keyring
import keyring.backend
import pytest
from PySide6.QtCore import QTimer

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, type_and_send, wait_for

PROMPT_S = 1.5


class PromptingKeyring(keyring.backend.KeyringBackend):
    """A keyring that takes as long as a person answering the Keychain prompt."""

    priority = 10
    reads = 0

    def get_password(self, service, username):
        type(self).reads += 1
        time.sleep(PROMPT_S)
        return "sk-test-key-1234"

    def set_password(self, service, username, password):
        raise NotImplementedError

    def delete_password(self, service, username):
        raise NotImplementedError


# Every KeyringBackend subclass joins keyring's registry, where a later test choosing its
# backend would find this one (priority 10) first: it is set by hand only, in its fixture.
keyring.backend.KeyringBackend._classes.discard(PromptingKeyring)


@pytest.fixture
def prompting_keyring():
    before = keyring.get_keyring()
    keyring.set_keyring(PromptingKeyring())
    try:
        yield PromptingKeyring
    finally:
        keyring.set_keyring(before)


def test_the_window_keeps_turning_while_the_keychain_asks(qapp, qtbot, fake, prompting_keyring):
    import threading

    from desktop_chat.gui.app import warm_up

    warm_up(threading.Event()).join()  # as the app does at start: the SDK's import is not timed
    fake.script = [Step(pieces=["Hi ", "there."])]
    with running_window(qapp) as (loop, window):
        ticks: list[float] = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(20)

        async def scenario():
            await window.controller.refresh()
            ticks.clear()
            type_and_send(qtbot, window, "Hello")
            await wait_for(lambda: reply_done(window), limit_s=10)

        loop.run_until_complete(scenario())
        timer.stop()
        assert prompting_keyring.reads >= 1, "the key was read from the keychain"
        assert window.view.replies()[-1].text == "Hi there."
        longest = max(b - a for a, b in itertools.pairwise(ticks))
        assert longest < PROMPT_S / 3, f"the window froze for {longest:.2f} s"
