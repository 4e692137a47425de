"""Files joining the context: every bad kind refused with a sentence naming the file."""

from __future__ import annotations

import pytest

from desktop_chat.context import ContextError, ContextFiles, read_file
from tests.support.pdfs import build


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose page draws ``text``, with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return build(objects)


def test_text_code_json_csv_and_pdf_are_read_and_counted(tmp_path):
    for name, body in [
        ("notes.md", "# Title\n\nSome *text*."),
        ("code.py", "def f():\n    return 1\n"),
        ("data.json", '{"a": 1}'),
        ("table.csv", "a,b\n1,2\n"),
    ]:
        (tmp_path / name).write_text(body)
        f = read_file(tmp_path / name)
        assert f.text == body and f.tokens >= 1 and not f.truncated and f.size_bytes == len(body)
    (tmp_path / "spec.pdf").write_bytes(minimal_pdf("Hello from a PDF"))
    assert "Hello from a PDF" in read_file(tmp_path / "spec.pdf").text


BAD = [
    ("folder", lambda p: p.mkdir(), "is a folder"),
    (
        "image.png",
        lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        "looks like a binary file",
    ),
    ("latin1.txt", lambda p: p.write_bytes("café".encode("latin-1")), "is not UTF-8 text"),
    ("missing.txt", lambda p: None, "could not be read"),
    ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.4\nnot really"), "PDF"),
    ("scanned.pdf", lambda p: p.write_bytes(minimal_pdf("")), "no text to extract"),
]


@pytest.mark.parametrize(("name", "make", "words"), BAD)
def test_bad_files_are_refused_with_a_sentence_naming_them(tmp_path, name, make, words):
    path = tmp_path / name
    make(path)
    with pytest.raises(ContextError) as info:
        read_file(path)
    assert name in str(info.value) and words in str(info.value) and info.value.hint


def test_caps_per_file_and_in_total(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * 150)
    f = read_file(big, cap=100)
    assert f.truncated and len(f.text) == 100
    files = ContextFiles(total_cap=150)
    files.add(f)
    files.add(f)  # the same file again replaces itself
    assert len(files.files) == 1
    other = tmp_path / "other.txt"
    other.write_text("y" * 60)
    with pytest.raises(ContextError, match="past 150 characters"):
        files.add(read_file(other))
    files.remove("big.txt")
    files.add(read_file(other))
    prompt = files.prompt_with("Summarise this.")
    assert prompt.startswith("Summarise this.") and "--- other.txt ---" in prompt
    assert files.tokens == 15
