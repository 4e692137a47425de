"""The quick prompt: a small always-on-top panel the global hotkey opens, with its input
focused. The answer streams inline; the clipboard can join the prompt; dropped files too, and
images dropped or pasted (⌘V of a screenshot); "Continue in main window" opens the conversation
there. Quick conversations are stored like
any other."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCursor, QGuiApplication, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.context import ContextError, ContextFiles, read_file
from desktop_chat.drafts import QUICK, Drafts
from desktop_chat.gui import theme
from desktop_chat.gui.activation import bring_forward
from desktop_chat.gui.composer import DraftKeeper, PromptEdit
from desktop_chat.gui.messages import AssistantMessage
from desktop_chat.gui.picture_chips import PicturesBar
from desktop_chat.gui.pictures import PASTED, prepare, remember
from desktop_chat.gui.think_button import asked_with
from desktop_chat.gui.turns import in_words, relay
from desktop_chat.gui.vision_notice import VisionNotice
from desktop_chat.images import ImageRefused, is_image_name
from desktop_chat.params import REASONING
from desktop_chat.session import ChatSession
from desktop_chat.store_files import StoreError

log = logging.getLogger(__name__)

WIDTH = 680


def screen_under_mouse():
    """The screen the user is looking at: the one with the pointer (the primary one if the
    pointer is nowhere Qt knows)."""
    return QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()


def with_clipboard(prompt: str, clipboard: str) -> str:
    if not clipboard.strip():
        return prompt
    return f"{prompt}\n\n--- clipboard ---\n{clipboard.strip()}\n--- end of clipboard ---"


class QuickPrompt(QFrame):
    continue_requested = Signal(int)  # a stored conversation's id
    shown = Signal()

    def __init__(self, controller, parent=None) -> None:
        super().__init__(
            parent,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint,
        )
        self.setObjectName("quickPrompt")
        self.setWindowTitle("Quick Prompt")
        # On macOS a Qt.Tool window hides whenever the app deactivates, unless told otherwise.
        self.setAttribute(Qt.WidgetAttribute.WA_MacAlwaysShowToolWindow)
        self.setAcceptDrops(True)
        self.setFixedWidth(WIDTH)
        self.controller = controller
        self.app_was_active: bool | None = None
        #: Its own conversation, asked as the main window asks (model, persona, code only).
        self.session = controller.with_store(ChatSession, on_problem=self._store_problem)
        #: Files for the next question: they join the session's message when it is sent.
        self.files = ContextFiles()
        #: Images for the next question (normalised), and those still being prepared.
        self.pictures: list = []
        self._preparing: list[str] = []
        self._reading: list[str] = []  # names of dropped files and images not read yet
        self._read_lock = asyncio.Lock()  # one drop after the other: files stay in order
        self._send_when_read = False
        self.task: asyncio.Task | None = None
        self.reply: AssistantMessage | None = None
        self.input = PromptEdit(self)
        self.input.setPlaceholderText("Ask anything…")
        self.input.submitted.connect(self.submit)
        self.input.image_pasted.connect(self.paste_image)
        # What is typed here survives a crash or a quit, like the main window's composer.
        self.drafts = DraftKeeper(self.input, controller.with_store(Drafts), QUICK, self)
        controller.closing.connect(self.drafts.save_now)
        controller.closing.connect(self.session.chat.flush)  # what a full disk refused
        self.model_label = QLabel("", self)
        self.model_label.setObjectName("hintLabel")
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)  # a server's name for its model
        top = QHBoxLayout()
        top.addWidget(self.input, 1)
        top.addWidget(self.model_label, 0, Qt.AlignmentFlag.AlignTop)
        self.answer = QScrollArea(self)
        self.answer.setWidgetResizable(True)
        self.answer.setFrameShape(QFrame.Shape.NoFrame)
        self.answer.hide()
        self.attached = QLabel("", self)
        self.attached.setObjectName("hintLabel")
        self.attached.setTextFormat(Qt.TextFormat.PlainText)  # file names
        self.attached.setWordWrap(True)  # a sentence about the store is longer than the panel
        self.attached.hide()
        self.picture_chips = PicturesBar(self)
        self.picture_chips.remove_requested.connect(self.remove_picture)
        self.vision = VisionNotice(self)
        self.vision.chosen.connect(self._choose_vision)
        self.use_clipboard = QCheckBox("Clipboard as context", self)
        hint = QLabel("↩ send · ⇧↩ new line · esc close", self)
        hint.setObjectName("hintLabel")
        self.continue_button = QPushButton("Continue in main window", self)
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(self._continue)
        bottom = QHBoxLayout()
        bottom.addWidget(hint)
        bottom.addStretch(1)
        bottom.addWidget(self.use_clipboard)
        bottom.addWidget(self.continue_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 10)
        layout.addLayout(top)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.picture_chips)
        layout.addWidget(self.vision)
        layout.addWidget(self.attached)
        layout.addLayout(bottom)

    # --- showing -------------------------------------------------------------------------

    @Slot()
    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.present()

    def present(self) -> None:
        """Centred in the upper third of the screen, in front, the input focused; a fresh
        conversation if the last one was answered (it stays in the store)."""
        if self.session.conversation.messages and (self.task is None or self.task.done()):
            self.session.new()
            self._clear_answer()
        choice = self.controller.choice
        thinks = asked_with(self.controller) if choice else ""  # the main window's Think
        self.model_label.setText(
            " · ".join(filter(None, [choice.label, thinks])) if choice else "no model chosen"
        )
        self._show_pictures()  # the model may have changed since: is the notice still true?
        screen = screen_under_mouse().availableGeometry()
        self.adjustSize()
        self.move(
            screen.x() + (screen.width() - self.width()) // 2, screen.y() + screen.height() // 6
        )
        from desktop_chat.platform import panel

        # Where the user was, so Esc can give the keyboard back (None: no such thing here).
        self.app_was_active = panel.app_is_active()
        # Not a panel: a menu-bar-only app must be active to show a window in front.
        bring_forward(self, activate_app=not panel.make_floating_panel(int(self.winId())))
        self.input.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
        self.shown.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            if self.app_was_active is False:  # back to the app the user was typing in
                from desktop_chat.platform.panel import return_to_previous_app

                return_to_previous_app()
            return
        super().keyPressEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in theme.CHANGE_EVENTS and theme.apply(self) and self.reply:
            self.reply.restyle()  # a light/dark switch while it is open

    def _clear_answer(self) -> None:
        if self.reply is not None:
            self.answer.takeWidget().deleteLater()
            self.reply = None
        self.answer.hide()
        self.continue_button.setEnabled(False)
        self.setFixedHeight(self.sizeHint().height())

    # --- asking --------------------------------------------------------------------------

    @Slot()
    def submit(self) -> None:
        text = self.input.toPlainText().strip()
        if not (text or self.pictures or self._preparing):  # images alone may be asked about
            return
        if self.task is not None and not self.task.done():
            return
        if self.controller.choice is None:
            self.model_label.setText("Choose a model in the main window first.")
            return
        if self._reading:  # files dropped a moment ago: sent with them once they are read
            self._send_when_read = True
            what = "images are ready" if self._preparing else "dropped files are read"
            self.attached.setText(f"Sending once the {what}…")
            self.attached.show()
            return
        typed, files, pictures = text, self.files, self.pictures
        if self.use_clipboard.isChecked():
            text = with_clipboard(text, QGuiApplication.clipboard().text())
        self.files, self.pictures = ContextFiles(), []
        self._show_pictures()
        self.attached.hide()
        self.drafts.sent(QUICK)
        self.input.clear()
        self.task = self.controller.spawn(self.ask(text, typed, files, pictures))

    def _give_back(self, typed: str, files: ContextFiles, pictures: list) -> None:
        """The question never reached a conversation (no model could answer): back in the
        input, with its files and images, so nothing is lost (the draft keeper keeps it)."""
        if not self.input.toPlainText().strip():
            self.input.setPlainText(typed)
            self.input.moveCursor(QTextCursor.MoveOperation.End)
        if not self.files.files:
            self.files = files
        if not self.pictures:
            self.pictures = list(pictures)
            self._show_pictures()
        self._show_attached([])

    async def ask(
        self,
        prompt: str,
        typed: str = "",
        files: ContextFiles | None = None,
        pictures: list | None = None,
    ) -> None:
        """Answer ``prompt`` (``typed`` and the clipboard) with ``files`` and ``pictures``; a
        question no model could take comes back into the input."""
        files, pictures = files or ContextFiles(), list(pictures or ())
        session, c = self.session, self.controller
        # Asked as the main window asks now: its model, persona, code only and settings.
        session.settings, session.persona, session.code_only = c.settings, c.persona, c.code_only
        session.set_model(choice := c.choice)
        try:  # and its Think choice, kept with this chat too
            session.set_options(**{k: c.session.options.get(k) for k in REASONING})
        except StoreError as err:  # used all the same; the chat's own save says the rest
            log.warning("the quick chat's Think choice is not saved: %s", err)
        page = QWidget(self)
        column = QVBoxLayout(page)
        column.setContentsMargins(2, 4, 2, 4)
        asked = QLabel(typed or prompt, page)  # what was typed, not the context
        asked.setObjectName("quickQuestion")
        asked.setWordWrap(True)
        asked.setTextFormat(Qt.TextFormat.PlainText)
        asked.setVisible(bool(typed or prompt))  # images alone: their thumbnails say it
        self.reply = AssistantMessage(len(session.conversation.messages) + 1, parent=page)
        column.addWidget(asked)
        if pictures:
            from desktop_chat.gui.picture_view import ThumbStrip

            column.addWidget(ThumbStrip(pictures, 64, page))
        column.addWidget(self.reply)
        column.addStretch(1)
        self.answer.setWidget(page)
        self.answer.show()
        screen = QGuiApplication.primaryScreen().availableGeometry()
        self.setFixedHeight(min(screen.height() // 2, 360))
        turn, meta = None, {"interrupted": True}
        try:
            with in_words(choice.label) as outcome:
                provider = await c.models.ready_provider(choice)
                if provider is None:  # the load failed; the main window says why
                    outcome.reason = "the model could not be loaded"
                else:  # from here on the question is in the conversation
                    session.files = files
                    turn = session.send(prompt, display=typed or None, images=pictures)
                    reply = self.reply
                    if note := await relay(
                        turn, provider, reply.feed, reply.stats.setText, reply.think
                    ):
                        self.attached.setText(" ".join(note))  # a long quick chat: why turns went
                        self.attached.show()
            if outcome.failure is not None:
                self.reply.feed("\n\n**{}** {}".format(*outcome.failure))
            if turn is None:
                meta = {"model": choice.label, "failed": True, "error": outcome.reason}
                self._give_back(typed, files, pictures)
        finally:
            if turn is not None:
                turn.end()  # stopped before it began: it ends all the same
                meta = turn.meta
            if self.reply is not None:
                self.reply.finish(meta, last=False)
            self.continue_button.setEnabled(session.conversation_id is not None)
            c.history_changed.emit()

    def _store_problem(self, problem) -> None:
        """The quick chat stopped being saved (a full disk…), or is saved again (None): said
        under the answer, which stays on show either way."""
        if problem is None:
            self.attached.setText("The chat is saved again.")
        else:
            self.attached.setText(f"{problem.message} {problem.hint}".strip())
        self.attached.show()

    @Slot()
    def _continue(self) -> None:
        if self.session.conversation_id is not None:
            self.continue_requested.emit(self.session.conversation_id)
            self.hide()

    # --- files ---------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        from desktop_chat.gui.pictures import carries_image

        if event.mimeData().hasUrls() or carries_image(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        from desktop_chat.gui.pictures import from_clipboard

        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        event.acceptProposedAction()
        if not paths and (image := from_clipboard(event.mimeData())) is not None:
            self.paste_image(image)  # an image dragged from a browser: data, no file
        images = [p for p in paths if is_image_name(p)]
        paths = [p for p in paths if not is_image_name(p)]
        if images:
            self.attach_images([(p, Path(p).name) for p in images])
        if paths:
            self._reading += [Path(p).name for p in paths]
            self._show_attached([])
            self.controller.spawn(self.attach(paths))

    @Slot(object)
    def paste_image(self, image) -> None:
        self.attach_images([(image, PASTED)])

    def attach_images(self, sources: list[tuple[object, str]]) -> None:
        names = [name for _, name in sources]
        self._reading += names
        self._preparing += names
        self._show_pictures()
        self.controller.spawn(self._prepare(sources))

    async def _prepare(self, sources: list[tuple[object, str]]) -> None:
        """Normalise images off the GUI thread, in the order given (a chip says so meanwhile);
        a prompt sent meanwhile goes once they are ready, with them."""
        refused: list[str] = []
        # At the size the main window's model reads, which the quick prompt asks.
        side = self.controller.session.image_max_side()
        async with self._read_lock:
            for source, name in sources:
                try:
                    ready = await asyncio.to_thread(prepare, source, name, side)
                except ImageRefused as err:
                    refused.append(f"{err.message} {err.hint}")
                else:
                    remember(ready.picture, ready.thumb)
                    self.pictures.append(ready.picture)
                finally:
                    self._reading.remove(name)
                    self._preparing.remove(name)
                    self._show_pictures()
        self._show_attached(refused)
        self._sent_when_read()

    @Slot(str)
    def remove_picture(self, digest: str) -> None:
        self.pictures = [p for p in self.pictures if p.digest != digest]
        self._show_pictures()

    def _show_pictures(self) -> None:
        self.picture_chips.show_pictures(list(self.pictures), list(self._preparing))
        self.vision.update_for(
            self.controller.choice, self.controller.models.choices, len(self.pictures)
        )
        if self.isVisible() and self.reply is None:  # the panel as tall as what it holds
            self.layout().activate()  # the chips just added count in its size hint
            self.setFixedHeight(self.sizeHint().height())

    @Slot(object)
    def _choose_vision(self, choice) -> None:
        """A model that sees images, chosen from the notice: the app's model from now on."""
        self.controller.spawn(self._use(choice))

    async def _use(self, choice) -> None:
        await self.controller.choose(choice)
        self.model_label.setText(choice.label)
        self._show_pictures()

    def _sent_when_read(self) -> None:
        if self._send_when_read and not self._reading:
            self._send_when_read = False
            self.submit()

    async def attach(self, paths: list[str]) -> None:
        """Read dropped files off the GUI thread (a long PDF's text takes seconds), in the order
        they were dropped, one drop after the other; say which joined and which were refused.
        A prompt sent meanwhile goes once they are read, with them."""
        refused: list[str] = []
        async with self._read_lock:
            for path in paths:
                try:
                    self.files.add(await asyncio.to_thread(read_file, path))
                except ContextError as err:
                    refused.append(err.message)
                finally:
                    self._reading.remove(Path(path).name)
        self._show_attached(refused)
        self._sent_when_read()

    def _show_attached(self, refused: list[str]) -> None:
        names = ", ".join(f.name for f in self.files.files)
        files = [name for name in self._reading if name not in self._preparing]  # chips: images
        reading = f"Reading {', '.join(files)}…" if files else ""
        text = "  ".join(filter(None, [f"Attached: {names}" if names else "", *refused, reading]))
        self.attached.setText(text)
        self.attached.setVisible(bool(text))


def quick_prompt_for(window) -> QuickPrompt:
    """The quick prompt wired to the main window: Continue opens its conversation there."""
    quick = QuickPrompt(window.controller)
    theme.apply(quick)  # its own: it follows light and dark even with the main window closed

    def continue_there(conversation_id: int) -> None:
        window.bring_forward()  # activates the app first: it may be in the background
        window.history.open_conversation(conversation_id)

    quick.continue_requested.connect(continue_there)

    def download_there(repo: str) -> None:  # a vision model to download: the window's dialog
        quick.hide()
        window.bring_forward()
        window.open_download(repo)

    quick.vision.download_requested.connect(download_there)
    window.quick_prompt = quick
    return quick
