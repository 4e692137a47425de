"""Light and dark colours that follow the system, and the one style sheet built from them.

Qt gives the palette (on macOS it follows the system appearance); the app adds what the
palette has no role for: the user's bubble, code blocks, the error banner, the drop overlay.
Two roles it does have are the app's own: links and placeholders, whose Qt defaults (dark blue,
half-transparent black) are unreadable on a dark background.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QGuiApplication, QPalette


class Colors(NamedTuple):
    dark: bool
    accent: str
    muted: str
    bubble: str
    code_bg: str
    code_border: str
    banner_bg: str
    banner_border: str
    overlay: str
    #: The pygments style for code on this background.
    pygments_style: str
    #: Links in replies (the palette's Link), readable as text on the window's background.
    link: str
    #: Placeholder text in fields (the palette's PlaceholderText): the search, the composer.
    placeholder: str


LIGHT = Colors(
    dark=False,
    accent="#0a84ff",
    muted="#6e6e73",
    bubble="#e9e9ee",
    code_bg="#f6f6f8",
    code_border="#dcdce0",
    banner_bg="#fff1f0",
    banner_border="#ffb3ad",
    overlay="rgba(10, 132, 255, 28)",
    pygments_style="friendly",
    link="#0068da",
    placeholder="#8a8a8e",
)
DARK = Colors(
    dark=True,
    accent="#409cff",
    muted="#98989d",
    bubble="#3a3a3c",
    code_bg="#1f1f22",
    code_border="#3a3a3d",
    banner_bg="#3b1f1f",
    banner_border="#7a3a36",
    overlay="rgba(64, 156, 255, 40)",
    pygments_style="monokai",
    link="#4aa3ff",
    placeholder="#8e8e93",
)


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def current() -> Colors:
    return DARK if is_dark() else LIGHT


def style_sheet(c: Colors) -> str:
    return f"""
    #userBubble {{ background: {c.bubble}; border-radius: 14px; }}
    #codeBlock {{ background: {c.code_bg}; border: 1px solid {c.code_border}; border-radius: 8px; }}
    #codeHeader {{ border-bottom: 1px solid {c.code_border}; }}
    #codeLanguage, #stats, #contextLabel, #chipSize, #hintLabel, #welcomeNote {{
        color: {c.muted};
    }}
    #errorBanner {{ background: {c.banner_bg}; border: 1px solid {c.banner_border};
                    border-radius: 8px; }}
    #fileChip {{ border: 1px solid {c.code_border}; border-radius: 10px; }}
    #dropOverlay {{ background: {c.overlay}; border: 2px dashed {c.accent}; border-radius: 12px; }}
    #composerFrame {{ border: 1px solid {c.code_border}; border-radius: 12px; }}
    #sendButton {{ background: {c.accent}; color: white; border: none; border-radius: 15px;
                   padding: 6px 16px; font-weight: 600; }}
    #sendButton:disabled {{ background: {c.code_border}; }}
    #quickPrompt {{ border: 1px solid {c.code_border}; border-radius: 12px; }}
    #quickQuestion {{ color: {c.muted}; font-weight: 600; }}
    #waitingLabel {{ color: {c.accent}; }}
    #welcomeCard {{ border: 1px solid {c.code_border}; border-radius: 10px; }}
    QToolButton#quiet {{ border: none; color: {c.muted}; padding: 2px 6px; }}
    QPlainTextEdit#thought {{ color: {c.muted}; background: transparent; }}
    QToolButton#quiet:hover {{ color: {c.accent}; }}
    QToolButton#thinkSwitch:checked {{ color: {c.accent}; }}
    #approvalCard {{ border: 2px solid {c.accent}; border-radius: 10px; }}
    #toolCard {{ background: {c.code_bg}; border: 1px solid {c.code_border};
                 border-radius: 8px; }}
    #toolCard[failed="true"] {{ background: {c.banner_bg}; border-color: {c.banner_border}; }}
    QToolButton#toolCardHeader {{ border: none; padding: 2px 0; }}
    """


#: The events that say the system's appearance (or the app's palette) changed.
CHANGE_EVENTS = frozenset(
    {QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange, QEvent.Type.ThemeChange}
)


def fit_palette(colors: Colors) -> bool:
    """Give the application's palette the link and placeholder colours of this appearance;
    False when it has them. Markdown takes a link's colour from this palette when it is
    parsed, and every field's placeholder is drawn in it."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    palette = app.palette()
    wanted = (
        (QPalette.ColorRole.Link, colors.link),
        (QPalette.ColorRole.LinkVisited, colors.link),
        (QPalette.ColorRole.PlaceholderText, colors.placeholder),
    )
    if all(palette.color(role) == QColor(colour) for role, colour in wanted):
        return False
    for role, colour in wanted:
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)  # the apply() its change events call finds this palette: no loop
    return True


def apply(widget) -> bool:
    """Give a top-level window the style sheet for the current appearance, and the app its
    link and placeholder colours; False when the window has them already (setting a style
    sheet or a palette sends a PaletteChange of its own: apply once)."""
    colors = current()
    # First: a widget under a style sheet keeps the palette it was polished with, and setting
    # the style sheet below polishes every one again, now with these colours.
    fit_palette(colors)
    if getattr(widget, "_theme_colors", None) == colors:
        return False
    widget._theme_colors = colors
    widget.setStyleSheet(style_sheet(colors))
    return True
