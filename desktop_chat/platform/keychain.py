"""Pin keyring's macOS backend in a frozen app.

keyring finds its backends through package entry points, which a py2app bundle loses; without
this a frozen app would silently get the "fail" backend and never reach the Keychain.
"""

from __future__ import annotations

import sys


def pin_backend() -> None:
    """On a frozen macOS app, select the Keychain backend explicitly. Elsewhere, do nothing."""
    if sys.platform != "darwin" or not getattr(sys, "frozen", False):
        return
    import keyring
    from keyring.backends import macOS  # present in every keyring wheel

    keyring.set_keyring(macOS.Keyring())
