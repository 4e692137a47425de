"""Real file-system conditions for the store's tests: a tiny tmpfs that fills up (and can be
mounted read-only), and commands run without root's power to ignore file permissions, so
that ``chmod`` means for them what it means for a user. Missing parts skip with a reason, or
fail under ``DESKTOP_CHAT_REQUIRE_ALL=1``."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.system import missing, require_programs

#: Root ignores permissions through these two capabilities; without them it obeys chmod.
_NO_OVERRIDE = "--bounding-set=-dac_override,-dac_read_search"


class Disk:
    """A mounted tmpfs of a few hundred kilobytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self, leave_kb: int = 0) -> None:
        """Take every free byte (as a full disk has none), or all but ``leave_kb``."""
        with open(self.filler, "ab", buffering=0) as f:
            for chunk in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while self._free() - chunk >= leave_kb * 1024:
                        f.write(b"\0" * chunk)
        if not leave_kb:
            assert os.statvfs(self.root).f_bavail == 0, "the disk is not full"

    def _free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        """``ro`` or ``rw``: the whole file system read-only, as a locked volume is."""
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.root)], check=True)


@contextlib.contextmanager
def tiny_disk(where: Path, size_kb: int = 512) -> Iterator[Disk]:
    """A tmpfs of ``size_kb`` mounted at ``where`` (made if missing), unmounted after."""
    if os.geteuid() != 0:
        missing("mounting a tmpfs needs root")
    require_programs("mount", "umount")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        missing(f"cannot mount a tmpfs at {where}: {done.stderr.strip()}")
    try:
        yield Disk(where)
    finally:
        # Lazily: a process the test started may still hold a file there for a moment.
        subprocess.run(["umount", "-l", str(where)], check=True)


def obeying_permissions(command: list[str]) -> list[str]:
    """``command`` run so that file permissions hold for it: as root, without the
    capabilities that override them (``setpriv``); as anyone else, as it is."""
    if os.geteuid() != 0:
        return command
    require_programs("setpriv")
    return ["setpriv", _NO_OVERRIDE, *command]
