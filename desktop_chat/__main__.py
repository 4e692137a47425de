"""``desktop-chat`` / ``python -m desktop_chat``: start the window."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from desktop_chat.gui.app import run

    return run(sys.argv if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
