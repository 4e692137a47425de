"""The main window: model picker and Code only on top, the conversation (or the welcome panel)
in the middle, attached images and files, the composer and the context meter below.

It renders what the controller reports and passes the user's actions to it; it never touches
the conversation itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.gui import theme
from desktop_chat.gui.composer import Composer
from desktop_chat.gui.conversation_view import ConversationView
from desktop_chat.gui.files_bar import ContextMeter, FilesBar
from desktop_chat.gui.model_picker import ModelPicker
from desktop_chat.gui.picture_chips import PicturesBar
from desktop_chat.gui.sidebar import Sidebar
from desktop_chat.gui.think_button import ThinkButton
from desktop_chat.gui.vision_notice import VisionNotice
from desktop_chat.gui.welcome import WelcomePanel
from desktop_chat.gui.window_history import HistoryPanel
from desktop_chat.gui.window_library import PersonaButton, TemplatesButton

if TYPE_CHECKING:
    from desktop_chat.gui.controller import ChatController
    from desktop_chat.gui.messages import AssistantMessage

APP_TITLE = "Desktop Chat"


class MainWindow(QMainWindow):
    """Built and shown before the controller (and asyncio, and the core) are imported, so the
    window appears at once; ``attach()`` then connects it to a controller."""

    def __init__(self, controller: ChatController | None = None, on_quit=None) -> None:
        super().__init__()
        self.controller: ChatController | None = None
        # What ⌘Q does: end the app's asyncio loop (run() passes it), or quit Qt directly.
        self.on_quit = on_quit or QApplication.quit
        self.setWindowTitle(APP_TITLE)
        self.resize(1100, 750)
        self.setAcceptDrops(True)
        self.reply: AssistantMessage | None = None
        self.editing: int | None = None
        self.dialog = None
        self.quick_prompt = None
        #: Files and images given before the controller exists (the window comes first).
        self._early: list[tuple[str, object]] = []
        self._build()
        self._shortcuts()
        self._apply_theme()
        if controller is not None:
            self.attach(controller)

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        body = QWidget(self)
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 12)
        column.setSpacing(6)
        top = QHBoxLayout()
        top.setContentsMargins(16, 10, 16, 4)
        self.picker = ModelPicker(body)
        self.code_only = QToolButton(body)
        self.code_only.setText("</>  Code only")
        self.code_only.setCheckable(True)
        self.code_only.setToolTip("Ask for code only, and show only the code blocks")
        self.settings_button = QToolButton(body)
        self.settings_button.setText("Settings")
        self.settings_button.setToolTip("Settings (⌘,)")
        self.persona_button = PersonaButton(body)
        self.think_button = ThinkButton(body)  # shown for models it does something for
        top.addWidget(self.picker)
        top.addWidget(self.persona_button)
        top.addWidget(self.think_button)
        top.addStretch(1)
        top.addWidget(self.code_only)
        top.addWidget(self.settings_button)
        column.addLayout(top)
        self.stack = QStackedWidget(body)
        self.welcome = WelcomePanel(self.stack)
        self.view = ConversationView(self.stack)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.view)
        column.addWidget(self.stack, 1)
        self.overlay = QLabel("Drop files or images to add them to the message", self.stack)
        self.overlay.setObjectName("dropOverlay")
        self.overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.overlay.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.overlay.setFont(font)
        self.overlay.hide()
        bottom = QVBoxLayout()
        bottom.setContentsMargins(24, 0, 24, 0)
        self.pictures = PicturesBar(body)
        self.files = FilesBar(body)
        # Images attached while the chosen model cannot see them: said before sending.
        self.vision = VisionNotice(body)
        self.editing_label = QLabel(
            "Editing an earlier message: sending replaces it and every turn after it. Esc cancels.",
            body,
        )
        self.editing_label.setObjectName("hintLabel")
        self.editing_label.hide()
        # A message sent before a model can answer waits here, said beside the composer.
        self.waiting_label = QLabel(body)
        self.waiting_label.setObjectName("waitingLabel")
        self.waiting_label.setTextFormat(Qt.TextFormat.PlainText)
        self.waiting_label.setWordWrap(True)
        self.waiting_label.hide()
        self.waiting = False
        self.composer = Composer(body)
        # Connected now, not in attach(): Enter pressed before the controller exists is kept.
        self.composer.send_requested.connect(self.send)
        self.composer.edit.image_pasted.connect(self.paste_image)
        self.composer.attached = self._has_images
        row = QHBoxLayout()
        self.attach_button = QToolButton(body)
        self.attach_button.setObjectName("quiet")
        self.attach_button.setText("+ Attach files")
        self.attach_button.setToolTip(
            "Add files or images (⌘O), or drop them on the window; paste an image with ⌘V"
        )
        hint = QLabel("↩ send · ⇧↩ new line", body)
        hint.setObjectName("hintLabel")
        self.meter = ContextMeter(body)
        self.templates_button = TemplatesButton(body, self.composer)
        row.addWidget(self.attach_button)
        row.addWidget(self.templates_button)
        row.addWidget(hint)
        row.addStretch(1)
        row.addWidget(self.meter)
        bottom.addWidget(self.pictures)
        bottom.addWidget(self.files)
        bottom.addWidget(self.vision)
        bottom.addWidget(self.editing_label)
        bottom.addWidget(self.waiting_label)
        bottom.addWidget(self.composer)
        bottom.addLayout(row)
        column.addLayout(bottom)
        self.sidebar = Sidebar(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(body)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        splitter.setCollapsible(1, False)  # the sidebar folds away; the conversation never
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.history = HistoryPanel(self)  # the sidebar's actions

    def _shortcuts(self) -> None:
        # Qt maps Ctrl to ⌘ on macOS, so each of these is the Mac shortcut there.
        std = QKeySequence.StandardKey
        # ⌘, and ⌘Q are the platform's keys on macOS; where a platform has none, add them (the
        # same keys twice would make Qt call the shortcut ambiguous and fire neither).
        settings = QKeySequence.keyBindings(std.Preferences) or [QKeySequence("Ctrl+,")]
        #: One action per shortcut; the menu bar shows the same actions.
        self.named_actions: dict[str, QAction] = {}
        for name, keys, slot in (
            ("close", QKeySequence.keyBindings(std.Close), self.close),
            ("quit", QKeySequence.keyBindings(std.Quit) or [QKeySequence("Ctrl+Q")], self._quit),
            ("new", QKeySequence.keyBindings(std.New), self.new_chat),
            ("settings", settings, self.open_settings),
            ("stop", [QKeySequence("Ctrl+.")], self.stop),
            ("escape", [QKeySequence(Qt.Key.Key_Escape)], self.escape),
            ("open", QKeySequence.keyBindings(std.Open), self.pick_files),
            ("find", QKeySequence.keyBindings(std.Find), self.history.find),
        ):
            action = QAction(self)
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.named_actions[name] = action
        from desktop_chat.gui import menu_bar

        self.menu_bar = menu_bar.build(self)

    def attach(self, controller: ChatController) -> None:
        self.controller = c = controller
        c.user_added.connect(self._user_added)
        c.reply_started.connect(self._reply_started)
        c.delta.connect(self._delta)
        c.thinking.connect(self._thinking)
        c.reply_ended.connect(self._reply_ended)
        c.failed.connect(self._failed)
        c.retrying.connect(self._retrying)
        c.tool_calls.connect(self._tool_calls)
        c.tool_result.connect(self._tool_result)
        c.tools.approval_requested.connect(self._approval_requested)
        c.notice.connect(self._notice)
        c.truncated.connect(self.view.truncate)
        c.conversation_replaced.connect(self._conversation_replaced)
        c.busy_changed.connect(self.composer.set_busy)
        c.models.choices_changed.connect(self.picker.set_choices)
        c.model_changed.connect(self._model_changed)
        c.models.model_ready.connect(self._model_ready)
        c.models.started.connect(self._started)
        c.models.loading.connect(self.picker.set_busy)
        c.models.reach_changed.connect(self._reach_changed)
        c.context.files_changed.connect(self.files.show_files)
        c.context.files_changed.connect(self._files_read)
        c.context.changed.connect(self.meter.show_usage)
        c.context.pictures_changed.connect(self.pictures.show_pictures)
        c.context.pictures_changed.connect(self._pictures_changed)
        c.models.choices_changed.connect(self._check_vision)
        self.pictures.remove_requested.connect(c.context.remove_picture)
        self.vision.chosen.connect(self.choose)
        self.vision.download_requested.connect(self.open_download)
        self.composer.stop_requested.connect(self.stop)
        self.files.remove_requested.connect(c.context.remove)
        self.view.edit_requested.connect(self.edit)
        self.view.regenerate_requested.connect(c.regenerate)
        self.view.retry_requested.connect(c.retry)
        self.view.save_code_requested.connect(self.save_code)
        self.view.save_reply_requested.connect(self.save_reply)
        self.picker.chosen.connect(self.choose)
        self.picker.download_requested.connect(self.open_download)
        self.picker.open_folder_requested.connect(self.open_model_folder)
        self.picker.add_provider_requested.connect(self.add_provider)
        self.welcome.chosen.connect(self.choose)
        self.welcome.download_requested.connect(self.open_download)
        self.welcome.add_provider_requested.connect(self.add_provider)
        self.history.attach(c)
        self.persona_button.attach(c)
        self.think_button.attach(c)
        self.templates_button.attach(c)
        self.code_only.toggled.connect(self.set_code_only)
        self.settings_button.clicked.connect(self.open_settings)
        self.attach_button.clicked.connect(self.pick_files)
        early, self._early = self._early, []
        for kind, what in early:  # pasted or dropped before the app was ready: kept
            if kind == "files":
                c.context.attach(what)
            else:
                c.context.attach_images([what])

    # --- what the controller reports -----------------------------------------------------

    def _show_conversation(self) -> None:
        self.stack.setCurrentWidget(self.view)

    @Slot(int, object)
    def _user_added(self, index: int, message) -> None:
        self._show_conversation()
        self.view.add_user(index, message)

    @Slot(int)
    def _reply_started(self, index: int) -> None:
        self.reply = self.view.begin_reply(index)

    @Slot(str)
    def _delta(self, text: str) -> None:
        if self.reply is not None:
            self.reply.feed(text)

    @Slot(str, bool)
    def _thinking(self, text: str, was_answer: bool) -> None:
        if self.reply is not None:
            self.reply.think(text, was_answer)

    @Slot(dict)
    def _reply_ended(self, meta: dict) -> None:
        if self.reply is not None:
            self.reply.finish(meta)
            self.reply = None

    @Slot(list)
    def _tool_calls(self, calls: list) -> None:
        if self.reply is not None:
            self.reply.tool_calls(calls)

    @Slot(dict)
    def _tool_result(self, result: dict) -> None:
        if self.reply is not None:
            self.reply.tool_result(result)

    @Slot(object)
    def _approval_requested(self, request) -> None:
        """A call waits for the user: its card joins the reply (Esc, Stop: denied, stopped)."""
        if self.reply is None:  # no reply on show to ask in: nothing runs unasked
            from desktop_chat.tools import Approval

            request.answer(Approval.DENY)
            return
        self.reply.ask(request)
        self.view.scroll_to_end()
        self.raise_()

    @Slot(str)
    def _retrying(self, note: str) -> None:
        """Said on the waiting reply's line, so that a retry is never a silent wait."""
        if self.reply is not None:
            self.reply.stats.setText(note)

    @Slot(str, str, bool)
    def _failed(self, message: str, hint: str, retry: bool) -> None:
        if self.waiting and not self.controller.busy:  # the model meant to answer failed
            self._wait("Your message is kept: choose a model that works and it is sent.")
        if self.stack.currentWidget() is self.welcome:
            self.welcome.notes.setText(f"{message}\n{hint}")
            self.welcome.notes.show()
            return
        self.view.show_error(message, hint, retry)

    @Slot(str, str)
    def _notice(self, message: str, hint: str) -> None:
        self._failed(message, hint, False)

    @Slot(object)
    def _conversation_replaced(self, conversation) -> None:
        self.reply = None
        self.editing = None
        self.editing_label.hide()
        self.view.show_conversation(conversation)
        self._choose_page()

    @Slot(object)
    def _model_changed(self, choice) -> None:
        self.picker.set_kv_bits(self.controller.models.kv_bits)
        self.picker.set_current(choice)
        self._choose_page()
        self._check_vision()
        self.composer.edit.setFocus()

    @Slot()
    def _check_vision(self, *_) -> None:
        c = self.controller
        self.vision.update_for(c.choice, c.models.choices, len(c.session.pictures))

    @Slot(list, set, str)
    def _reach_changed(self, servers: list, downloaded: set, notes: str) -> None:
        from desktop_chat.hub import RECOMMENDED

        self.welcome.show_options(servers, RECOMMENDED, downloaded, notes)

    @Slot(object)
    def _model_ready(self, choice) -> None:
        if self.waiting:
            self.send(self.composer.edit.toPlainText())

    @Slot(list)
    def _files_read(self, files: list) -> None:
        """A message sent while dropped files were read goes now, with them."""
        if self.waiting and not self.controller.context.reading:
            self.send(self.composer.edit.toPlainText())

    @Slot(list, list)
    def _pictures_changed(self, pictures: list, preparing: list) -> None:
        self._check_vision()
        self._files_read(pictures)  # a message sent while they were prepared goes now

    @Slot()
    def _started(self) -> None:
        if self.waiting and self.controller.choice is None:
            self._wait(self._choose_a_model())

    def _choose_a_model(self) -> str:
        if self.stack.currentWidget() is not self.welcome:
            where = "pick one from the model menu at the top"
        elif self.controller.models.discovered:
            where = "Use a server found on this machine above, or the model menu at the top"
        else:
            where = "one of the choices above, or the model menu at the top"
        return f"Choose a model to send this: {where}. Your message is kept and sent then."

    def _wait(self, text: str) -> None:
        """Keep the message in the composer and say beside it why, and when, it is sent."""
        self.waiting = True
        self.waiting_label.setText(text)
        self.waiting_label.show()

    def _stop_waiting(self) -> None:
        self.waiting = False
        self.waiting_label.hide()

    def _choose_page(self) -> None:
        empty = not self.controller.conversation.messages
        on_welcome = empty and self.controller.choice is None
        self.stack.setCurrentWidget(self.welcome if on_welcome else self.view)

    # --- the user's actions --------------------------------------------------------------

    def _has_images(self) -> bool:
        """Images attached (or on their way): a message of images alone may be sent."""
        c = self.controller
        if c is None:
            return any(kind == "image" for kind, _ in self._early)
        return bool(c.session.pictures or c.context.preparing)

    @Slot(object)
    def send(self, text: str) -> None:
        if not text.strip() and not self._has_images():
            self._stop_waiting()
            return
        c = self.controller
        if c is None or c.choice is None or c.models.ready_choice is not c.choice:
            # Typed before the app (or the model) is ready: sent as soon as it is.
            if c is not None and c.models.has_started and c.choice is None:
                self._wait(self._choose_a_model())
            else:
                model = c.choice.label if c is not None and c.choice else "Desktop Chat"
                self._wait(f"Waiting for {model} to be ready… your message is sent then.")
            return
        if c.context.reading:  # a file dropped a moment ago (a long PDF): it goes with this
            what = "images" if c.context.preparing else "dropped files"
            self._wait(f"Reading the {what}… your message is sent with them.")
            return
        self._stop_waiting()
        editing, self.editing = self.editing, None
        self.editing_label.hide()
        if self.controller.send(text, replace_from=editing):
            self.composer.clear()
        else:
            self.editing = editing  # nothing was sent: the text and the edit stay

    @Slot()
    def stop(self) -> None:
        self.controller.stop()

    @Slot()
    def escape(self) -> None:
        if self.waiting:  # the message stays in the composer, unsent
            self._stop_waiting()
        elif self.controller.busy:
            self.controller.stop()
        elif self.editing is not None:
            self.editing = None
            self.editing_label.hide()
            self.composer.clear()

    @Slot(int)
    def edit(self, index: int) -> None:
        if self.controller.busy:
            return
        self.editing = index
        self.editing_label.show()
        self.composer.set_text(self.controller.edit_text(index))

    @Slot(object)
    def choose(self, choice) -> None:
        self.controller.spawn(self.controller.choose(choice))

    @Slot()
    def new_chat(self) -> None:
        self.controller.new_chat()
        self.composer.edit.setFocus()

    @Slot(bool)
    def set_code_only(self, on: bool) -> None:
        self.controller.set_code_only(on)
        self.view.set_code_only(on)

    @Slot()
    def pick_files(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # not before the first frame: 5 ms

        paths, _ = QFileDialog.getOpenFileNames(self, "Add files or images to the message")
        if paths:
            self.add_files(paths)

    def add_files(self, paths: list[str]) -> None:
        """Images join the message as images; other files join its context as text."""
        if self.controller is None:
            self._early.append(("files", paths))
            return
        self.controller.context.attach(paths)

    @Slot(object)
    def paste_image(self, image) -> None:
        """A pasted (or dropped) image's data: prepared off the GUI thread, a chip meanwhile."""
        from desktop_chat.gui.pictures import PASTED

        if self.controller is None:
            self._early.append(("image", (image, PASTED)))
            return
        self.controller.context.attach_images([(image, PASTED)])

    @Slot()
    def open_model_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # not before the first frame: 5 ms

        folder = QFileDialog.getExistingDirectory(self, "Open an MLX model folder")
        if not folder:
            return
        from desktop_chat.hub import is_model_folder
        from desktop_chat.models import local_choice

        if not is_model_folder(Path(folder)):
            self._notice(
                f"{Path(folder).name} is not an MLX model folder (no config.json).",
                "Pick the folder that holds config.json and *.safetensors.",
            )
            return
        self.choose(local_choice(Path(folder)))

    @Slot()
    @Slot(str)
    def open_download(self, repo: str = "") -> None:
        from desktop_chat.gui.download_dialog import DownloadDialog

        self.dialog = DownloadDialog(self.controller, repo or "", self)
        self.dialog.open()
        if repo:
            self.dialog.start()

    @Slot()
    def add_provider(self) -> None:
        from desktop_chat.gui.settings_dialog import ProviderDialog

        self.dialog = ProviderDialog(self.controller, parent=self)
        self.dialog.open()

    @Slot()
    def open_settings(self) -> None:
        from desktop_chat.gui.settings_dialog import SettingsDialog

        self.dialog = SettingsDialog(self.controller, self)
        self.dialog.open()

    @Slot(str, str)
    def save_code(self, code: str, language: str) -> None:
        from desktop_chat.gui.code_block import file_extension

        self.save_text(f"snippet{file_extension(language)}", lambda: code)

    @Slot(str)
    def save_reply(self, text: str) -> None:
        self.save_text("reply.md", lambda: text)

    def save_text(self, suggested: str, make_text) -> None:
        """Ask where (the Save panel asks before replacing a file), then write ``make_text()``
        there; a failure is said in the window."""
        path = self.ask_save_path(suggested)
        if not path:
            return
        text = make_text()
        try:
            Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            self._notice(
                f"Could not save {Path(path).name}: {exc.strerror or exc}.",
                "Choose another folder or name.",
            )

    def ask_save_path(self, suggested: str) -> str:
        """The native Save panel; it asks before replacing an existing file."""
        from PySide6.QtWidgets import QFileDialog  # not before the first frame: 5 ms

        path, _ = QFileDialog.getSaveFileName(self, "Save", suggested)
        return path

    def _quit(self) -> None:
        self.on_quit()

    @Slot()
    def bring_forward(self) -> None:
        from desktop_chat.gui.activation import bring_forward

        bring_forward(self)

    @Slot()
    def show_log(self) -> None:
        """The log file in Finder (the file manager elsewhere), for a bug report."""
        from desktop_chat import logs
        from desktop_chat.gui.reveal import reveal
        from desktop_chat.paths import app_paths

        reveal(logs.log_file(app_paths()))

    # --- files dropped on the window -----------------------------------------------------

    @staticmethod
    def _local_paths(mime) -> list[str]:
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []

    @staticmethod
    def _droppable(mime) -> bool:
        from desktop_chat.gui.pictures import carries_image

        return bool(MainWindow._local_paths(mime)) or carries_image(mime)

    def dragEnterEvent(self, event) -> None:
        if self._droppable(event.mimeData()):
            event.acceptProposedAction()
            self.overlay.setGeometry(self.stack.rect().adjusted(12, 12, -12, -12))
            self.overlay.raise_()
            self.overlay.show()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if self._droppable(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self.overlay.hide()

    def dropEvent(self, event) -> None:
        self.overlay.hide()
        paths = self._local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_files(paths)
            return
        from desktop_chat.gui.pictures import from_clipboard

        if (image := from_clipboard(event.mimeData())) is not None:  # an image from a browser
            event.acceptProposedAction()
            self.paste_image(image)

    # --- appearance ----------------------------------------------------------------------

    def _apply_theme(self) -> None:
        if theme.apply(self):
            self.view.restyle()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in theme.CHANGE_EVENTS:
            self._apply_theme()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.composer.edit.setFocus()
