#!/usr/bin/env bash
# Build "Desktop Chat.app" on an Apple-silicon Mac (macOS 14+), optionally a .dmg.
#
#   packaging/build_app.sh                 # dist/Desktop Chat.app, ad-hoc signed
#   packaging/build_app.sh --menu-bar-only # the LSUIElement flavour (no Dock icon)
#   packaging/build_app.sh --dmg           # also dist/Desktop Chat.dmg (dmgbuild)
#   SIGN_IDENTITY="Developer ID Application: Name (TEAMID)" packaging/build_app.sh --dmg
#
# With SIGN_IDENTITY the bundle is signed inside-out with the hardened runtime and a secure
# timestamp (packaging/sign.py; without it, ad hoc); notarise the .dmg with
#   xcrun notarytool submit "dist/Desktop Chat.dmg" --keychain-profile NAME --wait
#   xcrun stapler staple "dist/Desktop Chat.dmg"
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != Darwin ] || [ "$(uname -m)" != arm64 ]; then
  echo "The .app is built on an Apple-silicon Mac (MLX needs Metal)." >&2
  exit 2
fi
dmg=0
for arg in "$@"; do
  case "$arg" in
    --dmg) dmg=1 ;;
    --menu-bar-only) export DESKTOP_CHAT_MENU_BAR_ONLY=1 ;;
    *) echo "unknown option $arg (use --dmg, --menu-bar-only)" >&2; exit 2 ;;
  esac
done

# The wheels the bundle runs: mlx's macOS-14 arm64 wheels, so the app runs on 14 and later
# even when it is built on a newer macOS (uv would otherwise pick this Mac's newest wheel;
# with --python-platform it honours MACOSX_DEPLOYMENT_TARGET).
export MACOSX_DEPLOYMENT_TARGET=14.0
# The libraries py2app copies as folders ship as they are installed: compiled, they start fast
# (the bundle is read-only, and py2app's launcher forbids writing bytecode in it anyway).
export UV_COMPILE_BYTECODE=1
# What the app runs: the project with its vision extra (mlx-vlm, for local vision models; what
# of it the app never imports is kept out in packaging/bundle.py, UNUSED). Every uv run below
# names the same set, so that none of them syncs the environment to another.
deps=(--no-dev --extra vision)
uv sync "${deps[@]}"
mlx_version=$(uv run "${deps[@]}" python -c "import importlib.metadata as m; print(m.version('mlx'))")
uv pip install --python-platform aarch64-apple-darwin --reinstall-package mlx \
  --reinstall-package mlx-metal "mlx==$mlx_version"
rm -rf packaging/build packaging/dist
uv run "${deps[@]}" --with py2app --with pillow python packaging/setup.py py2app
app="packaging/dist/Desktop Chat.app"

# Every Mach-O file, then the frameworks, then the app; then codesign --verify --strict.
uv run "${deps[@]}" python packaging/sign.py "$app"
mkdir -p dist
rm -rf "dist/Desktop Chat.app"
mv "$app" dist/

if [ "$dmg" = 1 ]; then
  uv run "${deps[@]}" --with dmgbuild dmgbuild -s packaging/dmg_settings.py \
    -D app="dist/Desktop Chat.app" "Desktop Chat" "dist/Desktop Chat.dmg"
  if [ -n "${SIGN_IDENTITY:-}" ]; then
    codesign --force --timestamp --sign "$SIGN_IDENTITY" "dist/Desktop Chat.dmg"
  fi
fi
echo "built: dist/Desktop Chat.app"
