"""Small PDFs written by hand, with a correct cross-reference table: a normal one of many pages,
one that makes pypdf fail with a Python error of its own (not a pypdf error), and one that pypdf
reads but warns about."""

from __future__ import annotations

_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def build(objects: list[bytes]) -> bytes:
    """Objects numbered from 1 (1: the catalog), then the xref table and trailer."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pages_pdf(texts: list[str], font: bytes = _FONT) -> bytes:
    """One page per text. Objects: 1 catalog, 2 pages, 3 font, then page and contents pairs."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(texts)))
    objects = [_CATALOG, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(texts)), font]
    for i, text in enumerate(texts):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i)
        )
        lines = b" ".join(b"(%s) Tj T*" % line.encode() for line in text.split("\n"))
        objects.append(_stream(b"BT /F1 11 Tf 14 TL 72 740 Td " + lines + b" ET"))
    return build(objects)


def recursion_pdf() -> bytes:
    """A page whose text operator takes 5,000 nested arrays: pypdf's parser recurses into each
    and raises Python's own RecursionError, which is no ``PyPdfError``."""
    contents = b"BT /F1 18 Tf 72 712 Td " + b"[" * 5000 + b"]" * 5000 + b" TJ ET"
    return build(
        [
            _CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(contents),
            _FONT,
        ]
    )


def warning_pdf(text: str) -> bytes:
    """Readable, but its font's /Widths is a string: pypdf logs "Expected an array for
    /Widths" (a warning that, unhandled, Python prints into the terminal)."""
    font = (
        b"<< /Type /Font /Subtype /TrueType /BaseFont /Foo /FirstChar 32 /LastChar 40"
        b" /Widths (abc) >>"
    )
    return pages_pdf([text], font)
