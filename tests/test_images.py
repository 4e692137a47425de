"""``images.normalise`` on real image files made with Pillow: what a phone photo says about
where it was taken is gone, a huge image is capped, the first frame of an animation is taken,
and what is not an image is refused by its name."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageDraw

from desktop_chat.images import DEFAULT_MAX_SIDE, ImageRefused, is_image_name, normalise

GPS = ExifTags.IFD.GPSInfo


def gps_jpeg(size: tuple[int, int] = (60, 40), orientation: int = 6) -> bytes:
    """A JPEG as a phone writes one: the camera, the time, GPS coordinates, an orientation."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 2, size[1] // 2), fill="red")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15"
    exif[ExifTags.Base.DateTime] = "2026:11:30 09:41:00"
    exif[ExifTags.Base.Orientation] = orientation
    exif[GPS] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (2.0, 21.0, 3.0),
    }
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def test_a_phone_photo_loses_its_gps_and_camera_data_and_stands_upright(tmp_path):
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(gps_jpeg())
    with Image.open(photo) as source:  # the file really says where it was taken
        assert source.getexif().get_ifd(GPS)[ExifTags.GPS.GPSLatitude] == (48.0, 51.0, 24.0)

    picture = normalise(photo)

    assert picture.name == "IMG_0001.jpg" and picture.mime == "image/jpeg"
    with Image.open(io.BytesIO(picture.data)) as sent:
        assert sent.format == "JPEG"
        assert dict(sent.getexif()) == {} and sent.getexif().get_ifd(GPS) == {}
        assert "exif" not in sent.info and "icc_profile" not in sent.info
        # Orientation 6 (turned a quarter clockwise): applied to the pixels, then dropped.
        assert sent.size == (40, 60) == (picture.width, picture.height)
    assert b"Apple" not in picture.data and b"iPhone" not in picture.data


def test_a_50_megapixel_image_is_capped_to_the_longest_side(tmp_path):
    big = tmp_path / "poster.png"
    image = Image.new("RGB", (10_000, 5_000), "white")
    ImageDraw.Draw(image).ellipse((2_000, 1_000, 8_000, 4_000), fill="navy")
    image.save(big, "PNG", compress_level=1)
    del image

    picture = normalise(big)

    assert max(picture.width, picture.height) == DEFAULT_MAX_SIDE
    assert (picture.width, picture.height) == (2048, 1024), "the shape is kept"
    with Image.open(io.BytesIO(picture.data)) as sent:
        assert sent.size == (2048, 1024) and sent.format == "PNG"
        assert sent.getpixel((1024, 512))[:3] == (0, 0, 128)
    assert normalise(big, max_side=512).width == 512


def test_a_corrupt_png_is_refused_by_its_name(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(good, "PNG")
    broken = tmp_path / "screenshot.png"
    broken.write_bytes(good.getvalue()[:60])  # the header, then nothing

    with pytest.raises(ImageRefused) as refused:
        normalise(broken)
    assert "screenshot.png" in str(refused.value)
    assert "PNG, JPEG, HEIC, GIF or WebP" in refused.value.hint

    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(ImageRefused, match=r"notes\.png"):
        normalise(text)


def test_an_animated_gif_gives_its_first_frame_as_png(tmp_path):
    frames = [Image.new("P", (30, 20), c) for c in ("red", "blue", "green")]
    gif = tmp_path / "dance.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(gif) as source:
        assert source.n_frames == 3

    picture = normalise(gif)

    assert picture.mime == "image/png" and (picture.width, picture.height) == (30, 20)
    with Image.open(io.BytesIO(picture.data)) as sent:
        assert sent.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
        assert getattr(sent, "n_frames", 1) == 1


def test_a_webp_becomes_a_png_with_its_transparency(tmp_path):
    webp = tmp_path / "sticker.webp"
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((8, 8, 23, 23), fill=(0, 200, 0, 255))
    image.save(webp, "WEBP", lossless=True)

    picture = normalise(webp)

    assert picture.mime == "image/png" and picture.name == "sticker.webp"
    with Image.open(io.BytesIO(picture.data)) as sent:
        assert sent.mode == "RGBA"
        assert sent.getpixel((0, 0))[3] == 0 and sent.getpixel((16, 16)) == (0, 200, 0, 255)


def test_pasted_bytes_and_pil_images_are_taken_too():
    raw = io.BytesIO()
    Image.new("RGB", (10, 10), "blue").save(raw, "PNG")
    pasted = normalise(raw.getvalue())
    assert pasted.name == "Pasted image" and pasted.width == 10
    made = normalise(Image.new("RGB", (12, 8), "blue"), name="chart")
    assert (made.name, made.width, made.height, made.mime) == ("chart", 12, 8, "image/png")
    assert pasted.digest != made.digest and len(pasted.digest) == 64


def test_image_names():
    assert is_image_name("Shot.PNG") and is_image_name("a.jpeg") and is_image_name("b.webp")
    assert not is_image_name("notes.txt") and not is_image_name("png")


DATA = Path(__file__).parent / "data"


def test_an_iphone_heic_photo_becomes_an_upright_jpeg_without_its_gps(tmp_path):
    """A HEIC as an iPhone writes one (made with pillow-heif's encoder: camera, time, GPS in
    its EXIF; portrait, stored turned): read with pi-heif, sent as a clean JPEG."""
    photo = DATA / "IMG_0002.heic"
    assert photo.read_bytes()[4:12] == b"ftypheic", "a real HEIC file"
    assert b"iPhone" in photo.read_bytes(), "it says which camera took it"

    picture = normalise(photo)

    assert picture.name == "IMG_0002.heic" and picture.mime == "image/jpeg"
    with Image.open(io.BytesIO(picture.data)) as sent:
        assert sent.format == "JPEG" and sent.size == (40, 60) == (picture.width, picture.height)
        assert dict(sent.getexif()) == {} and "exif" not in sent.info
        assert sent.getpixel((35, 5))[0] > 200 > sent.getpixel((35, 5))[1], "the red corner"
    assert b"iPhone" not in picture.data and b"Apple" not in picture.data
    assert is_image_name("IMG_0002.HEIC")


def test_a_broken_heic_reader_costs_heic_alone(tmp_path, monkeypatch):
    """pi-heif whose compiled part does not load (a bundle with a bad libheif): it still
    imports, and fails only when used. PNGs and JPEGs are read all the same, and a HEIC is
    refused by name."""
    import sys

    from desktop_chat import images

    monkeypatch.setitem(sys.modules, "_pi_heif", None)  # its extension cannot be imported
    for name in [n for n in sys.modules if n == "pi_heif" or n.startswith("pi_heif.")]:
        monkeypatch.delitem(sys.modules, name)
    images._heif_opener.cache_clear()
    monkeypatch.setattr(Image, "OPEN", dict(Image.OPEN))  # the real opener stays registered
    monkeypatch.setattr(Image, "ID", list(Image.ID))
    for plugin in ("HEIF", "AVIF"):
        Image.OPEN.pop(plugin, None)
        if plugin in Image.ID:
            Image.ID.remove(plugin)
    try:
        shot = tmp_path / "shot.png"
        Image.new("RGB", (30, 20), "blue").save(shot)
        assert normalise(shot).mime == "image/png", "a PNG is read without pi-heif"
        with pytest.raises(ImageRefused) as refused:
            normalise(DATA / "IMG_0002.heic")
        assert "IMG_0002.heic" in str(refused.value)
    finally:
        images._heif_opener.cache_clear()
