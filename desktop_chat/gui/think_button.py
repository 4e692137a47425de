"""The main window's Think switch: a reasoning model thinks before it answers, or answers at
once; with a menu of efforts for models that take one. Shown only for a model it does something
for (``reasoning_switches``); what it is set to is the conversation's own choice, kept with it
in the store, over the persona's default; the next turn is asked with it."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton

if TYPE_CHECKING:
    from desktop_chat.reasoning_switches import Switches

THINK_TIP = (
    "Think before answering: the model reasons first (its thinking shown apart, folded away), "
    "then answers. Off: it answers at once. For this conversation, from the next message on."
)
EFFORT_TIP = (
    "How hard the model reasons before it answers: higher is slower and more careful. "
    "For this conversation, from the next message on."
)


class ThinkButton(QToolButton):
    """Hidden until ``attach``ed to a controller whose model takes a switch."""

    def __init__(self, parent) -> None:
        super().__init__(parent)
        self.setObjectName("thinkSwitch")
        self.controller = None
        # What the model takes, once attached (the rules are imported after the first frame).
        self.switches: Switches | None = None
        self.toggled.connect(self._toggled)
        self.hide()

    @functools.cached_property
    def efforts(self) -> QActionGroup:
        """The efforts, made for the first model that takes one (most never do; and the
        window's first frame waits for what its widgets make)."""
        from desktop_chat.reasoning_switches import EFFORT_LEVELS

        efforts = QActionGroup(self)
        for level in (None, *EFFORT_LEVELS):
            action = QAction("Model's default" if level is None else level.title(), self)
            action.setCheckable(True)
            action.setData(level)
            efforts.addAction(action)
        efforts.triggered.connect(self._effort_chosen)
        return efforts

    @functools.cached_property
    def effort_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.addActions(self.efforts.actions())
        return menu

    def attach(self, controller) -> None:
        self.controller = c = controller
        for signal in (c.model_changed, c.models.model_ready, c.persona_changed):
            signal.connect(self.refresh)
        c.conversation_replaced.connect(self.refresh)
        c.reply_ended.connect(self._replied)

    @Slot(dict)
    def _replied(self, meta: dict) -> None:
        """A server's model that just thought is known to think: the switch shows from now."""
        c = self.controller
        if meta.get("reasoning") and c.choice is not None:
            c.models.reasoned.add(c.choice.key)
        self.refresh()

    @Slot()
    @Slot(object)
    def refresh(self, *_) -> None:
        """Shown (or not) for the model chosen, set as the conversation asks now."""
        c = self.controller
        self.switches = switches = c.models.reasoning_switches(c.choice, c.conversation)
        self.setVisible(bool(switches))
        if not switches:
            return
        params = c.session.params()
        self.blockSignals(True)
        self.setCheckable(switches.think)
        self.setChecked(params.think is not False)  # a thinking model thinks unless told not
        self.blockSignals(False)
        effort = params.reasoning_effort
        if switches.effort:  # the menu is made for the first model that takes an effort
            for action in self.efforts.actions():
                action.setChecked(action.data() == effort)
        # The efforts' menu only where they do something: beside the switch (its arrow), or
        # as the whole button for a model whose thinking is set by effort alone.
        self.setMenu(self.effort_menu if switches.effort else None)
        modes = QToolButton.ToolButtonPopupMode
        if not switches.effort:
            self.setPopupMode(modes.DelayedPopup)  # no menu: no arrow
        else:
            self.setPopupMode(modes.MenuButtonPopup if switches.think else modes.InstantPopup)
        self._label(params.think is not False, effort)

    def _label(self, on: bool, effort: str | None) -> None:
        sw = self.switches
        words = []
        if sw.think:
            words.append("Think" if on else "Think: off")
        if sw.effort and (on or not sw.think):
            words.append(f"Effort: {effort}" if effort else "Effort: default")
        self.setText("  ·  ".join(words))
        tips = ([THINK_TIP] if sw.think else []) + ([EFFORT_TIP] if sw.effort else [])
        self.setToolTip("\n\n".join(tips))

    @Slot(bool)
    def _toggled(self, on: bool) -> None:
        if self.switches is not None and self.switches.think:
            self._choose(think=on)

    @Slot(QAction)
    def _effort_chosen(self, action: QAction) -> None:
        self._choose(reasoning_effort=action.data())

    def _choose(self, **changes) -> None:
        c = self.controller
        # Used from the next turn on; a refusal of the store is said in a banner.
        c.with_store(lambda _: c.session.set_options(**changes))
        self.refresh()


def asked_with(controller) -> str:
    """What the main window's switch says now, for the quick prompt's model line ("Think:
    off", "Effort: high"; "" where the model has no switch, or it is at its default)."""
    switches = controller.models.reasoning_switches(controller.choice, controller.conversation)
    params = controller.session.params()
    words = []
    if switches.think and params.think is False:
        words.append("Think: off")
    if switches.effort and params.reasoning_effort:
        words.append(f"Effort: {params.reasoning_effort}")
    return "  ·  ".join(words)
