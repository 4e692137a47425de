"""Icons from their sources, with Pillow:

- the app icon: ``resources/app-icon.png`` (1024×1024, the source image) → ``AppIcon.icns``
  with every size macOS asks for;
- the menu-bar template icon, drawn here at 1x (18 px) and 2x (36 px): black on transparent,
  which macOS tints for light and dark menu bars.

``python packaging/make_icons.py`` rewrites the menu-bar icons in ``desktop_chat/resources/``
and the source image if it is missing; ``packaging/setup.py`` makes the ``.icns`` at build time.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "resources" / "app-icon.png"
RUNTIME = ROOT / "desktop_chat" / "resources"


def _bubble(draw, box: tuple[float, float, float, float], fill) -> None:
    """A rounded speech bubble with a tail at the bottom left, in ``box``."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = (x0, y0, x1, y0 + h * 0.78)
    draw.rounded_rectangle(body, radius=h * 0.24, fill=fill)
    draw.polygon([(x0 + w * 0.18, y0 + h * 0.70), (x0 + w * 0.12, y1),
                  (x0 + w * 0.42, y0 + h * 0.74)], fill=fill)  # fmt: skip


def source_image(path: Path = SOURCE) -> Path:
    """The app icon's source: a blue rounded square with a white bubble and three dots."""
    from PIL import Image, ImageDraw

    size = 1024
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i in range(size):  # a vertical gradient, clipped to the rounded square below
        t = i / size
        draw.line([(0, i), (size, i)], fill=(int(40 + 30 * t), int(120 - 40 * t), 255, 255))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((100, 100, 924, 924), radius=185, fill=255)
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    icon.paste(image, (0, 0), mask)
    draw = ImageDraw.Draw(icon)
    _bubble(draw, (250, 290, 774, 740), (255, 255, 255, 255))
    for cx in (380, 512, 644):
        draw.ellipse((cx - 38, 420, cx + 38, 496), fill=(60, 100, 240, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    icon.save(path)
    return path


def menubar_icons(folder: Path = RUNTIME) -> list[Path]:
    from PIL import Image, ImageDraw

    out = []
    for scale, suffix in ((1, ""), (2, "@2x")):
        size = 18 * scale
        big = Image.new("RGBA", (size * 8, size * 8), (0, 0, 0, 0))  # drawn large, then shrunk
        _bubble(ImageDraw.Draw(big), (size * 0.6, size * 1.2, size * 7.4, size * 6.9), "black")
        path = folder / f"menubar-template{suffix}.png"
        big.resize((size, size), Image.Resampling.LANCZOS).save(path)
        out.append(path)
    return out


def app_icns(out: Path, source: Path = SOURCE) -> Path:
    from PIL import Image

    if not source.exists():
        source_image(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.open(source).convert("RGBA").save(out, format="ICNS")
    return out


if __name__ == "__main__":
    if not SOURCE.exists():
        print(f"wrote {source_image()}")
    for p in menubar_icons():
        print(f"wrote {p}")
    if len(sys.argv) > 1:
        print(f"wrote {app_icns(Path(sys.argv[1]))}")
