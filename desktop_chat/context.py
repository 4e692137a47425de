"""Files in the context: read, checked, capped and counted before they join a prompt.

Shared by the window's drop zone and ``llmchat``'s ``/file``. Text, code, Markdown, JSON, CSV
and PDF (text extracted with ``pypdf``, imported lazily) are accepted; folders, binaries,
unreadable and non-UTF-8 files are refused with a sentence that names the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_chat.errors import DesktopChatError

#: Characters of one file that join the context; more is cut, and the file says so.
FILE_CAP = 100_000
#: Characters of all files together.
TOTAL_CAP = 400_000


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


def _pdf_text(path: Path, raw: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ContextError(
            f"{path.name} could not be read as a PDF ({exc}).", "Check that it opens in Preview."
        ) from exc
    if not text:
        raise ContextError(
            f"{path.name} has no text to extract (it may be scanned images).",
            "Export it with text (OCR) first, or paste the part you need.",
        )
    return text


def read_file(
    path: str | Path,
    *,
    cap: int = FILE_CAP,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> ContextFile:
    path = Path(path).expanduser()
    if path.is_dir():
        raise ContextError(f"{path.name} is a folder.", "Add the files inside it instead.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContextError(
            f"{path.name} could not be read ({exc.strerror or exc}).",
            "Check that it exists and that you may read it.",
        ) from exc
    if raw.startswith(b"%PDF"):
        text = _pdf_text(path, raw)
    elif b"\0" in raw[:8192]:
        raise ContextError(
            f"{path.name} looks like a binary file.",
            "Only text, code, Markdown, JSON, CSV and PDF files can join the context.",
        )
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContextError(
                f"{path.name} is not UTF-8 text.", "Save it as UTF-8 and add it again."
            ) from exc
    truncated = len(text) > cap
    if truncated:
        text = text[:cap]
    return ContextFile(path.name, path, len(raw), text, count_tokens(text), truncated)


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
