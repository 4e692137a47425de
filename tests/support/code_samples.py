"""A Python snippet with a multi-line docstring and string, streamed by the code-block
tests and the benchmark."""

PYTHON = '''class Lines:
    """Lines of a file, kept in order.

    A docstring over several lines, as models write them.
    """

    def keep(self, limit: int = 10) -> list[str]:
        note = \'\'\'a string
        over two lines\'\'\'
        out = []  # what is kept
        for line in self.lines:
            if line.strip() and len(out) < limit:
                out.append(f"{line!r} {note}")
        return out


'''
