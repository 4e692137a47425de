"""Settings (⌘,): providers with their keys in the Keychain, default generation parameters
and the default system prompt. Changes go to config.toml, keeping what the user wrote."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import DesktopChatError
from desktop_chat.gui.model_picker import KV_BITS_TIP
from desktop_chat.params import GenerationParams


class ProviderDialog(QDialog):
    """Add or edit one provider; Test connection asks the server for its models."""

    def __init__(self, controller, provider: ProviderSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Edit provider" if provider else "Add a provider")
        self.setMinimumWidth(480)
        self.controller = controller
        self.old_name = provider.name if provider else None
        #: What the dialog does not show (its keychain item, parameters) is kept as it was.
        self.original = provider
        self.name = QLineEdit(provider.name if provider else "", self)
        self.name.setPlaceholderText("openai")
        self.base_url = QLineEdit(provider.base_url if provider else "", self)
        self.base_url.setPlaceholderText("https://api.openai.com/v1")
        self.models = QLineEdit(", ".join(provider.models) if provider else "", self)
        self.models.setPlaceholderText("gpt-4o-mini, gpt-4o (Test connection fills this in)")
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("kept in the Keychain" if provider else "sk-… (optional)")
        self.result = QLabel("", self)
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_button = QPushButton("Test connection", self)
        self.test_button.clicked.connect(self._test)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.base_url)
        form.addRow("Models", self.models)
        form.addRow("API key", self.key)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.result, 1)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.task: asyncio.Task | None = None

    def provider(self) -> ProviderSettings:
        models = tuple(m.strip() for m in self.models.text().split(",") if m.strip())
        name, base_url = self.name.text().strip(), self.base_url.text().strip().rstrip("/")
        if self.original is None:
            return ProviderSettings(name, base_url, models)
        return dataclasses.replace(self.original, name=name, base_url=base_url, models=models)

    def _problem(self) -> str:
        p = self.provider()
        if not p.name or not p.name.replace("-", "").replace("_", "").isalnum():
            return "Give the provider a short name: letters, digits, - or _."
        if not p.base_url.startswith(("http://", "https://")):
            return "The base URL starts with http:// or https://, e.g. https://api.openai.com/v1."
        return ""

    @Slot()
    def _test(self) -> None:
        self.task = self.controller.spawn(self.test())

    async def test(self) -> None:
        problem = self._problem()
        if problem:
            self.result.setText(problem)
            return
        self.result.setText("Connecting…")
        key = self.key.text().strip() or None
        if key is None and self.original is not None:
            # The key the provider would really be sent: its own keychain item (key_name).
            from desktop_chat.keys import KeyStore
            from desktop_chat.targets import key_for

            try:
                key = await asyncio.to_thread(key_for, self.provider(), KeyStore())
            except DesktopChatError:
                key = None
        from desktop_chat.provider_setup import test_connection

        try:
            health = await test_connection(self.provider(), key)
        except DesktopChatError as err:
            self.result.setText(f"✗ {err.message} {err.hint}".strip())
            return
        if not health.ok:
            self.result.setText(f"✗ {health.detail}")
            return
        ms = f" in {health.latency_s * 1000:.0f} ms" if health.latency_s else ""
        count = len(health.models)
        self.result.setText(f"✓ Connected{ms}: {count} model{'' if count == 1 else 's'}.")
        if health.models and not self.models.text().strip():
            self.models.setText(", ".join(health.models[:8]))

    @Slot()
    def _save(self) -> None:
        self.task = self.controller.spawn(self.save())

    async def save(self) -> bool:
        problem = self._problem()
        if problem:
            self.result.setText(problem)
            return False
        from desktop_chat.provider_setup import save_provider

        c, provider = self.controller, self.provider()
        try:
            key = self.key.text().strip() or None
            config, old = c.paths.config_file, self.old_name
            await asyncio.to_thread(save_provider, config, c.settings, provider, key, old)
            await c.reload(provider.name, *([old] if old else []))
        except DesktopChatError as err:
            self.result.setText(f"✗ {err.message} {err.hint}".strip())
            return False
        self.accept()
        return True


class SettingsDialog(QDialog):
    def __init__(self, controller, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumSize(560, 420)
        self.controller = controller
        self.task: asyncio.Task | None = None
        tabs = QTabWidget(self)
        tabs.addTab(self._providers_tab(), "Providers")
        tabs.addTab(self._defaults_tab(), "Defaults")
        tabs.addTab(self._app_tab(), "App")
        from desktop_chat.gui.tools_settings import ToolsPage

        self.tools_page = ToolsPage(controller, self)
        tabs.addTab(self.tools_page, "Tools")
        self.tabs = tabs
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close, self
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._fill()

    def _providers_tab(self) -> QWidget:
        page = QWidget(self)
        self.provider_list = QListWidget(page)
        add = QPushButton("Add…", page)
        add.clicked.connect(self._add)
        self.edit_button = QPushButton("Edit…", page)
        self.edit_button.clicked.connect(self._edit)
        self.remove_button = QPushButton("Remove", page)
        self.remove_button.clicked.connect(self._remove)
        note = QLabel("Keys are stored in the Keychain, never in the settings file.", page)
        note.setObjectName("hintLabel")
        row = QHBoxLayout()
        for button in (add, self.edit_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addWidget(self.provider_list)
        layout.addLayout(row)
        layout.addWidget(note)
        return page

    def _defaults_tab(self) -> QWidget:
        page = QWidget(self)
        self.temperature = QDoubleSpinBox(page)
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.top_p = QDoubleSpinBox(page)
        self.top_p.setRange(0.0, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setSpecialValueText("server default")
        self.max_tokens = QSpinBox(page)
        self.max_tokens.setRange(0, 1_000_000)
        self.max_tokens.setSpecialValueText("server default")
        self.system_prompt = QPlainTextEdit(page)
        self.system_prompt.setPlaceholderText("You are a helpful assistant.")
        form = QFormLayout(page)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top p", self.top_p)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("System prompt", self.system_prompt)
        return page

    def _app_tab(self) -> QWidget:
        page = QWidget(self)
        self.hotkey = QKeySequenceEdit(page)
        self.hotkey.setMaximumSequenceLength(1)
        self.native_key = NativeKeyRecorder(self.hotkey)
        self.hotkey_off = QCheckBox("No global shortcut", page)
        self.hotkey_off.toggled.connect(lambda off: self.hotkey.setEnabled(not off))
        self.menu_bar_only = QCheckBox("Menu bar only (no Dock icon)", page)
        note = QLabel("Click the box and press the new shortcut for the quick prompt.", page)
        note.setObjectName("hintLabel")
        form = QFormLayout(page)
        form.addRow("Quick prompt", self.hotkey)
        form.addRow("", self.hotkey_off)
        form.addRow("", note)
        if self.controller.hotkey_note:
            problem = QLabel(self.controller.hotkey_note, page)
            problem.setWordWrap(True)
            problem.setObjectName("hotkeyProblem")
            problem.setTextFormat(Qt.TextFormat.PlainText)
            form.addRow("", problem)
        form.addRow("Mode", self.menu_bar_only)
        self._caches_rows(page, form)
        return page

    def _caches_rows(self, page: QWidget, form: QFormLayout) -> None:
        """The local chats' prompt caches: the disk they take, and Clear."""
        self.cache_usage = QLabel("…", page)
        self.cache_usage.setObjectName("cacheUsage")
        self.clear_caches = QPushButton("Clear", page)
        self.clear_caches.setEnabled(False)  # until the figure is read
        self.clear_caches.setToolTip("Remove the prompt caches of every local conversation")
        self.clear_caches.clicked.connect(self._clear_caches)
        row = QHBoxLayout()
        row.addWidget(self.cache_usage, 1)
        row.addWidget(self.clear_caches)
        form.addRow("Prompt caches", row)
        note = QLabel(
            "What a local model has read of each chat, kept so that a long chat reopens at "
            "once. Clearing only makes the next reply in each chat slower.",
            page,
        )
        note.setObjectName("hintLabel")
        note.setWordWrap(True)
        form.addRow("", note)
        if bits := self.controller.models.kv_bits:
            kv = QLabel(f"{bits}-bit KV cache ([app] kv_bits = {bits} in config.toml)", page)
            kv.setObjectName("kvBits")
            kv.setToolTip(KV_BITS_TIP.format(bits=bits))
            form.addRow("Local models", kv)
        self.cache_task = self.controller.spawn(self.show_cache_usage())

    async def show_cache_usage(self) -> int:
        from desktop_chat.gui import prompt_cache_files

        used = await prompt_cache_files.disk_used(self.controller.models)
        self.cache_usage.setText(cache_figure(used, self.controller.settings.prompt_cache_disk_gb))
        self.clear_caches.setEnabled(used > 0)
        return used

    @Slot()
    def _clear_caches(self) -> None:
        self.cache_task = self.controller.spawn(self.clear_prompt_caches())

    async def clear_prompt_caches(self) -> bool:
        from desktop_chat.gui import prompt_cache_files

        self.clear_caches.setEnabled(False)
        self.cache_usage.setText("Clearing…")
        try:
            await prompt_cache_files.clear(self.controller.models)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.error.setText(
                f"Some prompt caches could not be removed ({reason}). Check that the cache "
                f"folder {prompt_cache_files.folder(self.controller.models)} can be written to, "
                "then try again."
            )
            await self.show_cache_usage()
            return False
        await self.show_cache_usage()
        return True

    def hotkey_setting(self, platform: str = sys.platform) -> str:
        """The shortcut as config.toml writes it, or "off"; ``ValueError`` if unusable."""
        if self.hotkey_off.isChecked():
            return "off"
        sequence = self.hotkey.keySequence()
        spec = spec_from_qt(sequence.toString(QKeySequence.SequenceFormat.PortableText))
        code = self.native_key.code_for(sequence)
        return f"{spec}@{code}" if code is not None and platform == "darwin" else spec

    def _fill(self) -> None:
        settings = self.controller.settings
        self.provider_list.clear()
        for name, provider in settings.providers.items():
            self.provider_list.addItem(f"{name} — {provider.base_url}")
        d = settings.defaults
        self.temperature.setValue(d.temperature if d.temperature is not None else 0.7)
        self.top_p.setValue(d.top_p or 0.0)
        self.max_tokens.setValue(d.max_tokens or 0)
        self.system_prompt.setPlainText(d.system_prompt or "")
        from desktop_chat.platform.hotkey import default_spec, parse

        hotkey = settings.hotkey or default_spec()
        self.hotkey_off.setChecked(hotkey == "off")
        if hotkey != "off":
            spec = parse(hotkey)
            sequence = QKeySequence(qt_from_spec(spec.spec().partition("@")[0]))
            self.hotkey.setKeySequence(sequence)
            self.native_key.remember(sequence, spec.code)
        self.menu_bar_only.setChecked(settings.dock_hidden())

    def _selected(self) -> ProviderSettings | None:
        row = self.provider_list.currentRow()
        providers = list(self.controller.settings.providers.values())
        return providers[row] if 0 <= row < len(providers) else None

    def defaults(self) -> GenerationParams:
        return GenerationParams(
            temperature=round(self.temperature.value(), 2),
            top_p=round(self.top_p.value(), 2) or None,
            max_tokens=self.max_tokens.value() or None,
            system_prompt=self.system_prompt.toPlainText().strip() or None,
        )

    @Slot()
    def _add(self) -> None:
        self._open_provider(None)

    @Slot()
    def _edit(self) -> None:
        provider = self._selected()
        if provider:
            self._open_provider(provider)

    def _open_provider(self, provider: ProviderSettings | None) -> ProviderDialog:
        # open(), not exec(): a nested event loop would stall the asyncio tasks it starts.
        self.provider_dialog = ProviderDialog(self.controller, provider, self)
        self.provider_dialog.accepted.connect(self._fill)
        self.provider_dialog.open()
        return self.provider_dialog

    @Slot()
    def _remove(self) -> None:
        provider = self._selected()
        if provider:
            self.task = self.controller.spawn(self._removed(provider.name))

    async def _removed(self, name: str) -> None:
        from desktop_chat.provider_setup import remove_provider

        c = self.controller
        await asyncio.to_thread(remove_provider, c.paths.config_file, c.settings, name)
        await c.reload(name)
        self._fill()

    @Slot()
    def _save(self) -> None:
        self.task = self.controller.spawn(self.save())

    async def save(self) -> bool:
        try:
            hotkey = self.hotkey_setting()
        except ValueError as exc:
            self.error.setText(str(exc))
            return False
        try:
            # Only what changed goes into [app]: a default left alone stays the default.
            from desktop_chat.platform.hotkey import default_spec

            current = self.controller.settings
            if hotkey == (current.hotkey or default_spec()):
                hotkey = None
            menu_bar_only = self.menu_bar_only.isChecked()
            if menu_bar_only == current.dock_hidden():
                menu_bar_only = None
            from desktop_chat.config_writer import save_defaults

            config = self.controller.paths.config_file
            await asyncio.to_thread(save_defaults, config, self.defaults(), hotkey, menu_bar_only)
            await self.controller.reload()
        except DesktopChatError as err:
            self.error.setText(f"{err.message} {err.hint}".strip())
            return False
        self.accept()
        return True


def cache_figure(used: int, budget_gb: float) -> str:
    """ "312 MB on disk, of up to 4 GB" (in the setting's gigabytes: 1,024 MB each)."""
    if used <= 0:
        return "None on disk"
    mb = used / (1 << 20)
    size = f"{used / (1 << 30):.1f} GB" if mb >= 1000 else f"{max(mb, 1):.0f} MB"
    if budget_gb <= 0:
        return f"{size} on disk ([app] prompt_cache_disk_gb = 0: no more are saved)"
    return f"{size} on disk, of up to {budget_gb:g} GB"


class NativeKeyRecorder(QObject):
    """Which physical key made the shortcut typed into the box: on a Mac Qt reports Carbon's
    virtual key code as ``nativeVirtualKey``, and the global hotkey must register that code,
    not the US-layout position of the character (an AZERTY "A" is where a US "Q" is)."""

    def __init__(self, edit: QKeySequenceEdit) -> None:
        super().__init__(edit)
        self._last: tuple[Qt.Key, int] | None = None
        edit.installEventFilter(self)
        for child in edit.findChildren(QLineEdit):  # the box forwards its line edit's keys
            child.installEventFilter(self)

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.nativeVirtualKey()
            and event.key() not in _MODIFIER_KEYS
        ):
            self._last = (Qt.Key(event.key()), event.nativeVirtualKey())
        return False

    def remember(self, sequence: QKeySequence, code: int | None) -> None:
        self._last = None if code is None or sequence.isEmpty() else (sequence[0].key(), code)

    def code_for(self, sequence: QKeySequence) -> int | None:
        """The native code of the key in ``sequence``, if it was the one last pressed."""
        if self._last is None or sequence.isEmpty() or sequence[0].key() != self._last[0]:
            return None
        return self._last[1]


_MODIFIER_KEYS = {Qt.Key.Key_Control, Qt.Key.Key_Shift, Qt.Key.Key_Alt, Qt.Key.Key_Meta}

# Qt writes ⌘ as "Ctrl" and ⌃ as "Meta" on a Mac; the hotkey specs name the keys themselves.
_QT_TO_SPEC_MAC = {"ctrl": "cmd", "meta": "ctrl"}


def spec_from_qt(text: str, platform: str = sys.platform) -> str:
    from desktop_chat.platform.hotkey import parse

    parts = [p.strip().lower() for p in text.split("+") if p.strip()]
    if platform == "darwin":
        parts = [_QT_TO_SPEC_MAC.get(p, p) for p in parts[:-1]] + parts[-1:]
    return parse("+".join(parts) or "").spec()


def qt_from_spec(spec: str, platform: str = sys.platform) -> str:
    names = {"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "cmd": "Meta"}
    if platform == "darwin":
        names = {"ctrl": "Meta", "alt": "Alt", "shift": "Shift", "cmd": "Ctrl"}
    *mods, key = spec.split("+")
    return "+".join([*(names[m] for m in mods), key.capitalize()])
