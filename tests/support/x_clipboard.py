"""Another app on the X display: it puts an image on the CLIPBOARD and serves it for as long
as it runs (X keeps no copy: the owner answers each paste), and grabs the screen when asked.

``python -m tests.support.x_clipboard IMAGE`` prints "ready" once it owns the clipboard, then
reads commands from stdin: ``shot PATH`` saves a grab of the whole screen and prints "shot";
end of input quits.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage


class Commands(QObject):
    line = Signal(str)

    @Slot(str)
    def run(self, line: str) -> None:
        if line.startswith("shot "):
            QGuiApplication.primaryScreen().grabWindow(0).save(line[5:].strip())
            print("shot", flush=True)
        elif line == "quit":
            QGuiApplication.quit()


def main(image_path: str) -> None:
    app = QGuiApplication(["x-clipboard"])
    image = QImage(image_path)
    assert not image.isNull(), f"cannot read {image_path}"
    QGuiApplication.clipboard().setImage(image)
    commands = Commands()
    commands.line.connect(commands.run)

    def read() -> None:
        for line in sys.stdin:
            commands.line.emit(line)
        commands.line.emit("quit")  # on the GUI thread, as a queued call

    threading.Thread(target=read, daemon=True).start()
    print("ready", flush=True)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1])
