"""Files in the context: read, checked, capped and counted before they join a prompt.

Shared by the window's drop zone and ``llmchat``'s ``/file``. Text, code, Markdown, JSON, CSV
and PDF (text extracted with ``pypdf``, imported lazily) are accepted; folders, binaries,
unreadable and non-UTF-8 files are refused with a sentence that names the file.

A dropped path can be anything: only regular files are read (a FIFO would block the reader
forever, ``/dev/zero`` would fill the memory), never more bytes than can join the context,
and a parser's failure, whatever it raises, is a refusal naming the file.
"""

from __future__ import annotations

import codecs
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_chat.errors import DesktopChatError

log = logging.getLogger(__name__)

#: Characters of one file that join the context; more is cut, and the file says so.
FILE_CAP = 100_000
#: Characters of all files together.
TOTAL_CAP = 400_000
#: Bytes of a PDF: its text is extracted from the whole file, so a bigger one is refused.
PDF_BYTE_CAP = 50_000_000
#: The longest a UTF-8 character is: ``cap`` characters never need more than 4 × ``cap`` bytes.
_UTF8_MAX = 4


class ContextError(DesktopChatError):
    """A file that cannot join the context; the message names it."""


def estimate_tokens(text: str) -> int:
    """About four characters a token in English prose and code; exact counts need the model's
    tokenizer, which callers may pass instead."""
    return max(1, len(text) // 4) if text else 0


@dataclass(frozen=True, slots=True)
class ContextFile:
    name: str
    path: Path
    size_bytes: int
    text: str
    tokens: int
    #: True when only the first ``FILE_CAP`` characters were kept.
    truncated: bool = False


def _human_bytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class _ToAppLog(logging.Handler):
    """pypdf's warnings ("Expected an array for /Widths…"), which Python would otherwise print
    into the terminal, as INFO records of the app's log."""

    def emit(self, record: logging.LogRecord) -> None:
        log.info("pypdf: %s", record.getMessage())


def _pypdf_logs_to_the_app_log() -> None:
    pypdf_log = logging.getLogger("pypdf")
    if not any(isinstance(h, _ToAppLog) for h in pypdf_log.handlers):
        pypdf_log.addHandler(_ToAppLog())
        pypdf_log.propagate = False


def _pdf_text(path: Path, raw: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    _pypdf_logs_to_the_app_log()
    try:
        reader = PdfReader(io.BytesIO(raw))
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except Exception as exc:  # any parser failure (a RecursionError, a TypeError…) is a refusal
        log.info("pypdf could not read %s", path.name, exc_info=True)
        why = (
            str(exc)
            if isinstance(exc, PyPdfError | ValueError) and str(exc)
            else f"the PDF reader failed with {type(exc).__name__}"
        )
        raise ContextError(
            f"{path.name} could not be read as a PDF ({why}).",
            "Check that it opens in Preview; if it does, export it again as PDF and add that copy.",
        ) from exc
    if not text:
        raise ContextError(
            f"{path.name} has no text to extract (it may be scanned images).",
            "Export it with text (OCR) first, or paste the part you need.",
        )
    return text


def _unreadable(path: Path, exc: OSError) -> ContextError:
    return ContextError(
        f"{path.name} could not be read ({exc.strerror or exc}).",
        "Check that it exists and that you may read it.",
    )


def _check_kind(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ContextError(f"{path.name} is a folder.", "Add the files inside it instead.")
    if not stat.S_ISREG(mode):
        raise ContextError(
            f"{path.name} is not a regular file (a device, a pipe or a socket).",
            "Only files saved on disk can join the context: save what you need into a file.",
        )


def _read_bounded(path: Path, text_bytes: int) -> tuple[bytes, int, bool]:
    """(the bytes to use, the file's size, whether there was more than ``text_bytes`` of a
    text file). Regular files only; reads at most ``text_bytes + 1`` bytes of text, and a PDF
    (which must be read whole) only up to ``PDF_BYTE_CAP``."""
    try:
        _check_kind(path, os.stat(path).st_mode)  # follows links: a link to /dev/zero is a device
        # Non-blocking: a FIFO swapped in after the check opens at once, and fstat then says so.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    with open(fd, "rb") as f:
        try:
            info = os.fstat(fd)
            _check_kind(path, info.st_mode)
            raw = f.read(text_bytes + 1)
            if raw.startswith(b"%PDF"):
                if info.st_size > PDF_BYTE_CAP:
                    raise ContextError(
                        f"{path.name} is {_human_bytes(info.st_size)}, more than the "
                        f"{_human_bytes(PDF_BYTE_CAP)} a PDF may have here.",
                        "Export only the pages you need as a new PDF and add that.",
                    )
                raw += f.read(PDF_BYTE_CAP + 1 - len(raw))
                if len(raw) > PDF_BYTE_CAP:  # it grew since it was looked at
                    raise ContextError(
                        f"{path.name} is still being written.", "Add it again once it is complete."
                    )
                return raw, info.st_size, False
        except OSError as exc:
            raise _unreadable(path, exc) from exc
    more = len(raw) > text_bytes
    return raw[:text_bytes], max(info.st_size, len(raw)), more


def read_whole(path: str | Path, limit: int) -> bytes:
    """All of a regular file of at most ``limit`` bytes (an import, a saved conversation), by
    the same rules as the context's files: a FIFO or a device is refused at once, never read."""
    path = Path(path).expanduser()
    raw, size, more = _read_bounded(path, limit)
    if more:
        raise ContextError(
            f"{path.name} is {_human_bytes(size)}, more than can be read here.",
            "Choose a smaller file.",
        )
    return raw


def read_file(
    path: str | Path,
    *,
    cap: int = FILE_CAP,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> ContextFile:
    path = Path(path).expanduser()
    raw, size, more = _read_bounded(path, _UTF8_MAX * cap)
    if raw.startswith(b"%PDF"):
        text = _pdf_text(path, raw)
    elif b"\0" in raw[:8192]:
        raise ContextError(
            f"{path.name} looks like a binary file.",
            "Only text, code, Markdown, JSON, CSV and PDF files can join the context.",
        )
    else:
        try:
            # Not final when the file goes on: a character cut at the read's end is left out.
            text = codecs.getincrementaldecoder("utf-8-sig")().decode(raw, final=not more)
        except UnicodeDecodeError as exc:
            raise ContextError(
                f"{path.name} is not UTF-8 text.", "Save it as UTF-8 and add it again."
            ) from exc
    truncated = more or len(text) > cap
    if truncated:
        text = text[:cap]
    return ContextFile(path.name, path, size, text, count_tokens(text), truncated)


@dataclass(slots=True)
class ContextFiles:
    """The files that will join the next prompt, within a total cap."""

    total_cap: int = TOTAL_CAP
    files: list[ContextFile] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(f.tokens for f in self.files)

    def add(self, file: ContextFile) -> None:
        used = sum(len(f.text) for f in self.files if f.path != file.path)
        if used + len(file.text) > self.total_cap:
            raise ContextError(
                f"{file.name} would take the attached files past {self.total_cap:,} characters.",
                "Remove a file, or attach a smaller part of this one.",
            )
        self.files = [f for f in self.files if f.path != file.path] + [file]

    def remove(self, name: str) -> None:
        self.files = [f for f in self.files if f.name != name]

    def clear(self) -> None:
        self.files.clear()

    def prompt_with(self, prompt: str) -> str:
        """The prompt followed by each file, fenced by its name."""
        parts = [prompt]
        for f in self.files:
            note = " (cut: only the beginning is included)" if f.truncated else ""
            parts.append(f"--- {f.name}{note} ---\n{f.text}\n--- end of {f.name} ---")
        return "\n\n".join(parts)
