# dmgbuild settings for "Desktop Chat.dmg": the app beside a link to /Applications, to drag.
# dmgbuild runs this file with ``defines`` (from -D) in scope.
import os.path

application = defines.get("app", "dist/Desktop Chat.app")  # noqa: F821 (given by dmgbuild)
appname = os.path.basename(application)

format = "UDZO"  # compressed, read-only
files = [application]
symlinks = {"Applications": "/Applications"}
icon_locations = {appname: (140, 120), "Applications": (400, 120)}
window_rect = ((200, 200), (540, 300))
icon_size = 96
