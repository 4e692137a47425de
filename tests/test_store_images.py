"""Images in the store, with real files: kept once by content hash beside the database, shown
again when a conversation reopens, removed only once no message refers to them and Undo's
window is over, carried by the JSON export, and brought to every earlier schema."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import sqlite3
import time

import pytest
from PIL import ExifTags, Image

from desktop_chat import store as store_module
from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.history import StoredChat
from desktop_chat.images import normalise
from desktop_chat.models import remote_choice
from desktop_chat.picture import Picture
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession
from desktop_chat.store import UNDO_S, Store, StoreError
from desktop_chat.store_export import export_conversation, import_conversation, to_markdown
from tests.support.fake_openai import FakeOpenAI, Step
from tests.test_images import gps_jpeg


def _png(colour: str, size: tuple[int, int] = (40, 30)) -> Picture:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return normalise(out.getvalue(), name=f"{colour}.png")


def _files(home) -> list:
    folder = home / "images"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _rows(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _ask(chat: StoredChat, text: str, images: list[Picture]) -> None:
    chat.add_user(text, "m", images=images)
    asyncio.run(chat.saved())
    assert chat.problem is None


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "c.db")
    yield s
    s.close()


def test_a_photo_sent_and_stored_has_no_gps_or_camera_data(tmp_path):
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(gps_jpeg())
    store = Store.open(tmp_path / "data" / "c.db")
    session = ChatSession(store, Settings())
    session.pictures.append(normalise(photo))
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["A red corner."])]
        session.set_model(remote_choice(ProviderSettings("peer", server.base_url), "m"))
        provider = OpenAICompatProvider(server.base_url, name="peer")

        async def go():
            [e async for e in session.send("Where was this taken?").events(provider)]
            await provider.aclose()

        asyncio.run(go())
    store.close()

    (kept,) = _files(tmp_path / "data")
    assert kept.suffix == ".jpg" and kept.parent.name == kept.stem[:2]
    url = server.requests[0]["body"]["messages"][0]["content"][1]["image_url"]["url"]
    sent = url.split(",", 1)[1]

    for data in (kept.read_bytes(), base64.b64decode(sent)):
        with Image.open(io.BytesIO(data)) as image:
            assert dict(image.getexif()) == {}
            assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
            assert "exif" not in image.info and image.size == (40, 60)
        assert b"iPhone" not in data and b"Apple" not in data


def test_the_same_image_in_two_messages_is_kept_once_and_reopens_with_both(tmp_path):
    store = Store.open(tmp_path / "c.db")
    red, blue = _png("red"), _png("blue")
    chat = StoredChat(store)
    _ask(chat, "What colour?", [red])
    _ask(chat, "And these two?", [blue, red])
    conversation_id = chat.conversation_id
    store.close()

    assert len(_files(tmp_path)) == 2, "red once, blue once"
    again = Store.open(tmp_path / "c.db")
    assert _rows(again, "images") == 2 and _rows(again, "message_images") == 3
    reopened = StoredChat(again)
    reopened.open(conversation_id)
    first, second = reopened.conversation.messages
    assert first.images == [red] and second.images == [blue, red]
    assert second.images[0].name == "blue.png" and second.images[0].data == blue.data
    assert reopened.conversation.to_api()[1]["content"][1] == blue.to_api()
    again.close()


def test_images_go_when_their_conversation_is_purged_not_before(store, tmp_path):
    red, blue = _png("red"), _png("blue")
    one, two = StoredChat(store), StoredChat(store)
    _ask(one, "Red and blue?", [red, blue])
    _ask(two, "Red again?", [red])
    red_file = next(p for p in _files(tmp_path) if p.stem == red.digest)
    blue_file = next(p for p in _files(tmp_path) if p.stem == blue.digest)

    store.delete_conversation(one.conversation_id)
    assert store.purge(UNDO_S) == 0, "Undo's window is not over"
    assert blue_file.exists() and red_file.exists()
    store.undelete(one.conversation_id)
    assert store.branch(one.conversation_id)[0].images == [red, blue], "Undo brings them back"

    store.delete_conversation(one.conversation_id)
    assert store.purge(0) == 1
    assert not blue_file.exists(), "no message refers to blue any more"
    assert red_file.exists(), "the other conversation still shows red"
    assert _rows(store, "images") == 1 and _rows(store, "message_images") == 1

    store.delete_conversation(two.conversation_id)
    store.purge(0)
    assert _files(tmp_path) == [] and _rows(store, "images") == 0


def test_a_stray_file_goes_once_old_a_fresh_one_stays(store, tmp_path):
    _ask(StoredChat(store), "Red?", [_png("red")])
    folder = tmp_path / "images" / "ab"
    folder.mkdir()
    old, fresh = folder / ("ab" + "0" * 62 + ".png"), folder / ("ab" + "1" * 62 + ".png")
    old.write_bytes(b"left by a write that failed")
    fresh.write_bytes(b"another program's, not committed yet")
    hour_ago = time.time() - 2 * 3600

    os.utime(old, (hour_ago, hour_ago))
    gone = StoredChat(store)
    _ask(gone, "Blue?", [_png("blue")])
    store.delete_conversation(gone.conversation_id)
    store.purge(0)
    assert not old.exists() and fresh.exists()
    assert len(_files(tmp_path)) == 2, "red (still referred to) and the fresh file"


def test_an_image_that_cannot_be_written_loses_nothing_and_is_saved_later(store, tmp_path):
    (tmp_path / "images").write_text("a file where the images folder goes")
    chat = StoredChat(store)
    red = _png("red")
    chat.add_user("What colour?", "m", images=[red])
    asyncio.run(chat.saved())
    assert chat.problem is not None and chat.problem.kind == "not a folder"
    assert "images is a file" in chat.problem.message
    assert chat.conversation.messages[0].images == [red], "still in the chat"
    assert store.branch(chat.conversation_id) == [], "no message without its image"

    (tmp_path / "images").unlink()
    _ask(chat, "Still there?", [])
    first, second = store.branch(chat.conversation_id)
    assert first.images == [red] and second.images == []


def test_add_message_with_an_unwritable_image_raises_a_store_error(store, tmp_path):
    (tmp_path / "images").write_text("in the way")
    conversation_id = store.new_conversation("t")
    with pytest.raises(StoreError, match="Could not save the image") as err:
        store.add_message(conversation_id, "user", "hi", images=[_png("red")])
    assert err.value.hint
    assert store.messages(conversation_id) == [] and _rows(store, "images") == 0


def test_json_export_and_import_carry_the_images(store, tmp_path):
    red, blue = _png("red"), _png("blue", (20, 10))
    chat = StoredChat(store)
    _ask(chat, "Red and blue?", [red, blue])
    data = json.loads(json.dumps(export_conversation(store, chat.conversation_id)))
    (entry, other) = data["messages"][0]["images"]
    assert entry["name"] == "red.png" and entry["mime"] == "image/png"
    assert (other["width"], other["height"]) == (20, 10)
    assert "data:" not in entry["data"], "base64 of the file, the mime beside it"

    elsewhere = Store.open(tmp_path / "other" / "c.db")
    copy = import_conversation(elsewhere, data)
    (message,) = elsewhere.branch(copy)
    assert message.images == [red, blue]
    assert {p.stem for p in _files(tmp_path / "other")} == {red.digest, blue.digest}
    elsewhere.close()

    import_conversation(store, data)  # into the same store: the same files
    assert len(_files(tmp_path)) == 2 and _rows(store, "message_images") == 4


def test_an_imported_image_with_gps_is_cleaned_and_a_broken_one_refused(store):

    data = {
        "format": "desktop-chat-conversation",
        "version": 1,
        "title": "From elsewhere",
        "messages": [
            {
                "id": 1,
                "role": "user",
                "content": "Where?",
                "images": [
                    {
                        "name": "IMG.jpg",
                        "mime": "image/jpeg",
                        "data": base64.b64encode(gps_jpeg()).decode(),
                    }
                ],
            }
        ],
    }
    (message,) = store.branch(import_conversation(store, data))
    (picture,) = message.images
    with Image.open(io.BytesIO(picture.data)) as image:
        assert dict(image.getexif()) == {} and image.size == (40, 60)

    data["messages"][0]["images"][0]["data"] = base64.b64encode(b"\x89PNG broken").decode()
    before = len(store.conversations())
    with pytest.raises(StoreError, match=r"Message 1 of 1 has an image \(1 of 1\)"):
        import_conversation(store, data)
    assert len(store.conversations()) == before, "nothing added"


def test_markdown_names_each_image(store):
    chat = StoredChat(store)
    _ask(chat, "What colour?", [_png("red")])
    text = to_markdown("Colours", store.branch(chat.conversation_id))
    assert "## You\n\n*[Image: red.png, 40×30]*\n\nWhat colour?" in text
    assert "base64" not in text


def test_every_earlier_schema_takes_images_after_migrating(tmp_path, monkeypatch):
    migrations = store_module.MIGRATIONS
    latest = len(migrations)
    red = _png("red")
    for version in range(1, latest):
        path = tmp_path / f"v{version}" / "c.db"
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations[:version])
        old = Store.open(path)
        conv = old.db.execute(
            "INSERT INTO conversations (title, created, updated) VALUES ('Old', 1, 1)"
        ).lastrowid
        q = old.db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, updated)"
            " VALUES (?, 'user', 'An old question', 1, 1)",
            (conv,),
        ).lastrowid
        old.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (q, conv))
        old.close()

        monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
        s = Store.open(path)
        assert s.version == latest and s.integrity_ok()
        assert {"images", "message_images"} <= _tables(s.db)
        (question,) = s.branch(conv)
        assert question.content == "An old question" and question.images == []
        new = s.add_message(conv, "user", "And this?", parent_id=q, images=[red])
        assert s.message(new).images == [red]
        s.delete_conversation(conv)
        s.purge(0)
        assert _files(path.parent) == [] and _rows(s, "images") == 0
        s.close()


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_store_for_this_session_only_keeps_new_images_in_memory(tmp_path):
    (tmp_path / "data").write_text("a file where the data folder goes")
    store = Store.open_anyway(tmp_path / "data" / "c.db")
    assert not store.saved
    chat = StoredChat(store)
    red = _png("red")
    _ask(chat, "What colour?", [red])
    (question,) = store.branch(chat.conversation_id)
    assert question.images == [red]
    assert (tmp_path / "data").is_file(), "nothing written beside it"
    store.close()


def test_what_a_repair_copies_out_of_a_damaged_file_keeps_its_images(tmp_path):
    from desktop_chat.store_rescue import salvage_into

    store = Store.open(tmp_path / "c.db")
    chat = StoredChat(store)
    red = _png("red")
    _ask(chat, "Red?", [red])
    store.close()
    target = sqlite3.connect(tmp_path / "copy.db", isolation_level=None)
    Store._new_schema(target)
    assert salvage_into(target, tmp_path / "c.db").messages == 1
    target.close()

    copy = Store.open(tmp_path / "copy.db")  # the same data folder: the same image files
    assert copy.branch(chat.conversation_id)[0].images == [red]
    copy.close()


def test_a_chat_that_starts_with_an_image_alone_is_titled_by_its_name(store):
    chat = StoredChat(store)
    _ask(chat, "", [_png("red")])
    assert store.conversation(chat.conversation_id).title == "red.png"
