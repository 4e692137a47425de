"""No App Nap while the app works for the user: an NSProcessInfo activity is held exactly
while a reply streams or a model downloads, against a stand-in for Foundation (the real one
exists only on a Mac); elsewhere nothing is called."""

from __future__ import annotations

import sys
import types

import pytest
from PySide6.QtCore import Qt

from tests.support.fake_hub import Repo
from tests.support.gui import reply_done, running_window, type_and_send, wait_for


class _ProcessInfo:
    """``NSProcessInfo.processInfo()`` as pyobjc exposes it: begin returns a token that
    ``endActivity_`` takes back."""

    def __init__(self):
        self.open: dict[int, str] = {}
        self.log: list[tuple[str, str]] = []
        self._next = 0

    def processInfo(self):
        return self

    def beginActivityWithOptions_reason_(self, options, reason):
        assert options == 0x00EFFFFF  # user-initiated, idle system sleep still allowed
        self._next += 1
        self.open[self._next] = reason
        self.log.append(("begin", reason))
        return self._next

    def endActivity_(self, token):
        self.log.append(("end", self.open.pop(token)))


@pytest.fixture
def process_info(monkeypatch):
    from desktop_chat.platform import app_nap

    info = _ProcessInfo()
    foundation = types.ModuleType("Foundation")
    foundation.NSProcessInfo = info
    # NSActivityUserInitiated (0x00FFFFFF) without NSActivityIdleSystemSleepDisabled (1 << 20)
    foundation.NSActivityUserInitiatedAllowingIdleSystemSleep = 0x00FFFFFF & ~(1 << 20)
    monkeypatch.setitem(sys.modules, "Foundation", foundation)
    monkeypatch.setattr(app_nap, "sys", types.SimpleNamespace(platform="darwin"))
    return info


def test_an_activity_is_held_while_a_reply_streams(qapp, qtbot, fake, process_info):
    from tests.support.fake_openai import Step

    fake.script = [Step(pieces=[f"w{i} " for i in range(40)], delay_s=0.01)]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Talk")
            await wait_for(lambda: window.view.replies() and window.view.replies()[-1].text)
            assert list(process_info.open.values()) == ["Answering a message"]
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        assert process_info.open == {}
        assert process_info.log == [
            ("begin", "Answering a message"),
            ("end", "Answering a message"),
        ]


@pytest.mark.slow
def test_an_activity_is_held_while_a_model_downloads(
    qapp, qtbot, hub, tiny_model_dir, process_info
):
    from desktop_chat.gui.download_dialog import DownloadDialog

    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    hub.stall_file = "model.safetensors"
    with running_window(qapp) as (loop, window):
        dialog = DownloadDialog(window.controller, "mlx-community/tiny-chat", window)
        dialog.show()

        async def scenario():
            qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: "Downloading a model" in process_info.open.values())
            dialog.cancel()
            await wait_for(lambda: not process_info.open, what="the activity to end")

        loop.run_until_complete(scenario())
        assert ("end", "Downloading a model") in process_info.log


def test_nothing_is_called_off_the_mac():
    from desktop_chat.platform import app_nap

    assert app_nap.begin("x", platform="linux") is None
    app_nap.end(None)
    awake = app_nap.Awake("x", platform="linux")
    awake.set(True)
    awake.set(False)
    assert not awake.on
