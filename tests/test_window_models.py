"""Models in the window: downloading one with progress and Cancel, the memory check before a
load, providers added in Settings with their key in a real Secret Service, and the dark
appearance."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt

from tests.support.fake_hub import Repo
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config

pytestmark = pytest.mark.slow


def test_download_a_model_from_the_picker_then_chat_with_it(
    qapp, qtbot, hub, tiny_model_dir, _isolated_home
):
    write_config(_isolated_home, "[defaults]\ntemperature = 0.0\n")
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    with running_window(qapp) as (loop, window):
        progress = []
        window.controller.downloads.progress.connect(progress.append)

        async def scenario():
            await window.controller.refresh()
            download = next(
                a for a in window.picker.menu_.actions() if a.text() == "Download a model…"
            )
            download.trigger()
            dialog = window.dialog
            assert dialog.isVisible()
            qtbot.keyClicks(dialog.repo, "mlx-community/tiny-chat")
            qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: not dialog.isVisible(), what="the download")
            assert dialog.result() == dialog.DialogCode.Accepted
            await wait_for(lambda: window.controller.choice is not None)
            await wait_for(lambda: not window.picker.busy_text, what="the load")
            type_and_send(qtbot, window, "Say hello.")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        assert progress and progress[-1].done_bytes == progress[-1].total_bytes > 0
        assert window.controller.choice.label == "mlx-community/tiny-chat"
        assert window.controller.choice.local
        assert window.view.replies()[-1].text == "Hello! How can I help you today?"
        labels = [a.text() for a in window.picker.menu_.actions()]
        assert any(t.startswith("mlx-community/tiny-chat") for t in labels), labels


def test_a_download_shows_bytes_speed_and_can_be_cancelled(qapp, qtbot, hub, tiny_model_dir):
    from desktop_chat.gui.download_dialog import DownloadDialog

    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    hub.stall_file = "model.safetensors"
    with running_window(qapp) as (loop, window):
        dialog = DownloadDialog(window.controller, "mlx-community/tiny-chat", window)
        dialog.show()

        async def scenario():
            dialog.start()
            await wait_for(
                lambda: hub.stalled.is_set() and dialog.bar.value() > 0, what="half the weights"
            )
            await asyncio.sleep(0.3)
            text = dialog.status.text()
            assert " / " in text and "/s" in text, text
            screenshot(dialog, "download-progress")
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
            hub.stall.set()
            await wait_for(lambda: dialog.start_button.isEnabled(), what="the cancel")

        loop.run_until_complete(scenario())
        assert "cancel" in dialog.status.text().lower()
        assert dialog.isVisible(), "the dialog stays, ready to try again"
        assert window.controller.choice is None
        dialog.close()


def test_a_model_too_large_is_refused_before_loading(qapp, tiny_model_dir, monkeypatch):
    import desktop_chat.engine as engine
    from desktop_chat.models import local_choice

    monkeypatch.setattr(engine, "memory_limit_bytes", lambda: 10_000)
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.choose(local_choice(tiny_model_dir)))
        banner = window.view.items[-1]
        assert "needs about" in banner.message.text() and "can give it" in banner.message.text()
        assert "smaller" in banner.hint.text()
        assert window.controller.models._engine_host.engine.info is None, "nothing was loaded"


def test_add_a_provider_in_settings_key_to_the_keychain(
    qapp, qtbot, secret_service, mlx_server, _isolated_home
):
    import keyring

    from desktop_chat.gui.settings_dialog import ProviderDialog

    with running_window(qapp) as (loop, window):
        config = _isolated_home / "config" / "config.toml"

        async def scenario():
            await window.controller.refresh()  # writes the commented default config.toml
            assert config.exists()
            window.add_provider()
            dialog = window.dialog
            assert isinstance(dialog, ProviderDialog)
            qtbot.keyClicks(dialog.name, "tiny")
            qtbot.keyClicks(dialog.base_url, "ftp://nowhere")
            await dialog.test()
            assert "http" in dialog.result.text()
            dialog.base_url.clear()
            qtbot.keyClicks(dialog.base_url, mlx_server.base_url)
            qtbot.keyClicks(dialog.key, "sk-test-secret-123")
            await dialog.test()
            assert dialog.result.text().startswith("✓ Connected"), dialog.result.text()
            assert dialog.models.text() == mlx_server.model_id
            screenshot(dialog, "add-provider")
            assert await dialog.save(), dialog.result.text()

        loop.run_until_complete(scenario())
        text = config.read_text()
        assert "[providers.tiny]" in text and mlx_server.base_url in text
        assert "# Desktop Chat settings." in text, "the user's comments are kept"
        assert "sk-test-secret-123" not in text
        assert keyring.get_password("Desktop Chat", "tiny") == "sk-test-secret-123"
        for path in _isolated_home.rglob("*"):
            if path.is_file():
                assert b"sk-test-secret-123" not in path.read_bytes(), path
        choices = window.controller.models.choices
        assert any(c.provider and c.provider.name == "tiny" for c in choices)


def test_settings_change_defaults_and_remove_a_provider(qapp, secret_service, _isolated_home):
    import keyring
    from PySide6.QtWidgets import QTabWidget

    from desktop_chat.gui.settings_dialog import SettingsDialog

    config = write_config(
        _isolated_home,
        """# my own notes
[defaults]
temperature = 0.7  # warm

[providers.lan]
base_url = "http://127.0.0.1:9/v1"
models = ["a"]
""",
    )
    keyring.set_password("Desktop Chat", "lan", "sk-old")
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        dialog = window.dialog
        assert isinstance(dialog, SettingsDialog)
        assert dialog.provider_list.count() == 1 and dialog.temperature.value() == 0.7
        dialog.temperature.setValue(0.2)
        dialog.system_prompt.setPlainText("Answer in French.")
        screenshot(dialog, "settings")
        dialog.findChild(QTabWidget).setCurrentIndex(1)
        screenshot(dialog, "settings-defaults")
        assert loop.run_until_complete(dialog.save())
        text = config.read_text()
        assert "# my own notes" in text and "temperature = 0.2" in text
        assert 'system_prompt = "Answer in French."' in text
        assert (config.parent / "config.toml.bak").read_text().count("0.7") == 1
        assert window.controller.session.params().system_prompt == "Answer in French."
        window.open_settings()
        dialog = window.dialog
        dialog.provider_list.setCurrentRow(0)
        dialog.remove_button.click()
        loop.run_until_complete(wait_for(lambda: dialog.provider_list.count() == 0))
        assert "[providers.lan]" not in config.read_text()
        assert keyring.get_password("Desktop Chat", "lan") is None


def test_the_window_follows_a_dark_appearance(qapp, qtbot, _isolated_home):
    from PySide6.QtGui import QColor, QPalette

    from desktop_chat.gui import theme
    from tests.support.fake_openai import FakeOpenAI, Step
    from tests.test_window_states import ANSWER

    light = qapp.palette()
    dark = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#1e1e1e"),
        (QPalette.ColorRole.WindowText, "#eeeeee"),
        (QPalette.ColorRole.Base, "#262626"),
        (QPalette.ColorRole.Text, "#eeeeee"),
        (QPalette.ColorRole.Button, "#2d2d2d"),
        (QPalette.ColorRole.ButtonText, "#eeeeee"),
    ):
        dark.setColor(role, QColor(colour))
    try:
        with FakeOpenAI() as fake, running_window(qapp) as (loop, window):
            write_config(
                _isolated_home,
                f"""
default_model = "fake:m"
[providers.fake]
base_url = "{fake.base_url}"
models = ["m"]
""",
            )
            fake.script = [Step(pieces=ANSWER)]

            async def scenario():
                await window.controller.refresh()
                type_and_send(qtbot, window, "Plan it")
                await wait_for(lambda: reply_done(window))
                qapp.setPalette(dark)  # what macOS does when the appearance changes
                await asyncio.sleep(0.2)

            loop.run_until_complete(scenario())
            assert theme.current().dark
            block = window.view.replies()[-1].code_blocks[0]
            assert block._style == theme.DARK.pygments_style
            assert theme.DARK.code_bg in window.styleSheet()
            screenshot(window, "dark")
    finally:
        qapp.setPalette(light)
