"""A scripted two-user session with matrix-nio against a running homeserver.

Usage: python session.py http://127.0.0.1:PORT

Each step is checked from the other user's /sync, as a person using two clients would see
it. Every wait is bounded. Exits non-zero on the first failed step and prints a summary line
"N passed, N failed". Steps for features the server does not have yet are listed as skipped,
not faked.
"""
import asyncio
import io
import secrets
import struct
import sys
import tempfile
import zlib

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    MemoryDownloadResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomMessageText,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    ThumbnailResponse,
    UploadResponse,
)
from nio.api import ResizingMethod

PASSED, FAILED, SKIPPED = [], [], []


def png(width, height):
    """An RGB PNG with a gradient, built with the standard library only."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def image_size(data):
    """Width and height of a PNG or baseline/progressive JPEG, or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return (width, height)
            i += 2 + length
    return None


def step(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        raise SystemExit(finish())


def finish():
    for name in SKIPPED:
        print(f"SKIP {name}")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed, {len(SKIPPED)} skipped")
    return 1 if FAILED else 0


async def sync_until(client, predicate, rounds=10):
    """Syncs (long-polling up to 2 s a round) until predicate(response) holds."""
    for _ in range(rounds):
        response = await client.sync(timeout=2000)
        if isinstance(response, SyncResponse) and predicate(response):
            return response
    return None


def timeline(response, room_id):
    room = response.rooms.join.get(room_id)
    return room.timeline.events if room else []


def has_event(response, room_id, test):
    return any(test(event.source) for event in timeline(response, room_id))


async def main(homeserver):
    suffix = secrets.token_hex(4)
    alice = AsyncClient(homeserver, f"nioalice{suffix}")
    bob = AsyncClient(homeserver, f"niobob{suffix}")
    try:
        for client in (alice, bob):
            response = await client.register(client.user, "a long password " + suffix)
            step(f"register {client.user}", isinstance(response, RegisterResponse), response)
        # A fresh login, as a returning user would.
        await alice.logout()
        await alice.close()
        alice = AsyncClient(homeserver, alice.user)
        response = await alice.login("a long password " + suffix)
        step("login with password", getattr(response, "access_token", None) is not None, response)

        await alice.sync(timeout=0)
        await bob.sync(timeout=0)
        created = await alice.room_create(name="nio session", invite=[bob.user_id])
        step("create a room inviting bob", isinstance(created, RoomCreateResponse), created)
        room_id = created.room_id

        seen = await sync_until(bob, lambda r: room_id in r.rooms.invite)
        step("bob sees the invite in sync", seen is not None)
        joined = await bob.join(room_id)
        step("bob joins", isinstance(joined, JoinResponse), joined)
        seen = await sync_until(
            alice,
            lambda r: has_event(r, room_id, lambda e: e.get("type") == "m.room.member"
                                and e.get("state_key") == bob.user_id
                                and e.get("content", {}).get("membership") == "join"),
        )
        step("alice sees bob join", seen is not None)

        sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
        step("alice sends a message", isinstance(sent, RoomSendResponse), sent)
        message_id = sent.event_id
        seen = await sync_until(bob, lambda r: has_event(r, room_id, lambda e: e.get("event_id") == message_id))
        step("bob receives the message", seen is not None)

        edit = {
            "msgtype": "m.text",
            "body": "* hello bob!",
            "m.new_content": {"msgtype": "m.text", "body": "hello bob!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": message_id},
        }
        sent = await alice.room_send(room_id, "m.room.message", edit)
        step("alice edits the message", isinstance(sent, RoomSendResponse), sent)
        seen = await sync_until(bob, lambda r: has_event(
            r, room_id, lambda e: e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"))
        step("bob receives the edit", seen is not None)

        reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": message_id, "key": "👍"}}
        sent = await bob.room_send(room_id, "m.reaction", reaction)
        step("bob reacts", isinstance(sent, RoomSendResponse), sent)
        seen = await sync_until(alice, lambda r: has_event(r, room_id, lambda e: e.get("type") == "m.reaction"))
        step("alice receives the reaction", seen is not None)

        typed = await alice.room_typing(room_id, True, 30000)
        step("alice starts typing", type(typed).__name__ == "RoomTypingResponse", typed)
        seen = await sync_until(bob, lambda r: any(
            alice.user_id in getattr(event, "users", [])
            for event in (r.rooms.join[room_id].ephemeral if room_id in r.rooms.join else [])))
        step("bob sees alice typing", seen is not None)

        marked = await bob.update_receipt_marker(room_id, message_id)
        step("bob marks the message read", type(marked).__name__ == "UpdateReceiptMarkerResponse", marked)
        seen = await sync_until(alice, lambda r: any(
            receipt.user_id == bob.user_id and receipt.event_id == message_id
            for event in (r.rooms.join[room_id].ephemeral if room_id in r.rooms.join else [])
            for receipt in getattr(event, "receipts", [])))
        step("alice sees bob's read receipt", seen is not None)

        redacted = await alice.room_redact(room_id, message_id, reason="changed my mind")
        step("alice redacts the message", isinstance(redacted, RoomRedactResponse), redacted)
        seen = await sync_until(bob, lambda r: has_event(r, room_id, lambda e: e.get("type") == "m.room.redaction"))
        step("bob receives the redaction", seen is not None)
        event = await bob.room_get_event(room_id, message_id)
        step(
            "bob reads the message back redacted",
            isinstance(event, RoomGetEventResponse) and event.event.source.get("content") == {},
            event,
        )

        picture = png(400, 300)
        uploaded, _ = await alice.upload(io.BytesIO(picture), content_type="image/png",
                                         filename="picture.png", filesize=len(picture))
        step("alice uploads a picture", isinstance(uploaded, UploadResponse), uploaded)
        mxc = uploaded.content_uri
        image = {"msgtype": "m.image", "body": "picture.png", "url": mxc,
                 "info": {"mimetype": "image/png", "w": 400, "h": 300, "size": len(picture)}}
        sent = await alice.room_send(room_id, "m.room.message", image)
        step("alice sends the picture", isinstance(sent, RoomSendResponse), sent)
        seen = await sync_until(bob, lambda r: has_event(
            r, room_id, lambda e: e.get("content", {}).get("url") == mxc))
        step("bob receives the picture message", seen is not None)
        downloaded = await bob.download(mxc=mxc)
        step("bob downloads the picture", isinstance(downloaded, MemoryDownloadResponse)
             and downloaded.body == picture and downloaded.content_type == "image/png", downloaded)
        server_name, media_id = mxc[len("mxc://"):].split("/", 1)
        thumb = await bob.thumbnail(server_name, media_id, 96, 96, ResizingMethod.crop)
        step("bob fetches a 96x96 thumbnail", isinstance(thumb, ThumbnailResponse)
             and image_size(thumb.body) == (96, 96), thumb)
    finally:
        await alice.close()
        await bob.close()
    await encrypted_exchange(homeserver, suffix)
    return finish()


def decrypted_text(response, room_id, body):
    """Whether the sync holds a message nio decrypted to exactly `body`."""
    return any(isinstance(event, RoomMessageText) and event.decrypted and event.body == body
               for event in timeline(response, room_id))


async def encrypted_exchange(homeserver, suffix):
    """Two clients with nio's Olm/Megolm (vodozemac) talk in an encrypted room: each reads
    only what the other encrypted, through keys the server stored, handed out and relayed."""
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
    with tempfile.TemporaryDirectory() as store:
        carol = AsyncClient(homeserver, f"niocarol{suffix}", store_path=store, config=config)
        dave = AsyncClient(homeserver, f"niodave{suffix}", store_path=store, config=config)
        try:
            for client in (carol, dave):
                response = await client.register(client.user, "a long password " + suffix)
                step(f"register {client.user} with encryption", isinstance(response, RegisterResponse), response)
                uploaded = await client.keys_upload()
                step(f"{client.user} uploads device and one-time keys",
                     type(uploaded).__name__ == "KeysUploadResponse", uploaded)
            encryption = {"type": "m.room.encryption", "state_key": "",
                          "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            created = await carol.room_create(name="nio encrypted", invite=[dave.user_id],
                                              initial_state=[encryption])
            step("create an encrypted room", isinstance(created, RoomCreateResponse), created)
            room_id = created.room_id
            seen = await sync_until(dave, lambda r: room_id in r.rooms.invite)
            step("dave sees the encrypted room's invite", seen is not None)
            joined = await dave.join(room_id)
            step("dave joins the encrypted room", isinstance(joined, JoinResponse), joined)
            seen = await sync_until(carol, lambda r: has_event(
                r, room_id, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == dave.user_id
                and e.get("content", {}).get("membership") == "join"))
            step("carol sees dave join", seen is not None)
            step("nio marks the room encrypted", carol.rooms[room_id].encrypted)

            secret = "only dave can read this " + secrets.token_hex(4)
            sent = await carol.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": secret},
                                         ignore_unverified_devices=True)
            step("carol sends an encrypted message", isinstance(sent, RoomSendResponse), sent)
            raw = await dave.room_get_event(room_id, sent.event_id)
            step("the server holds only ciphertext",
                 isinstance(raw, RoomGetEventResponse) and raw.event.source.get("type") == "m.room.encrypted"
                 and secret not in str(raw.event.source), raw)
            seen = await sync_until(dave, lambda r: decrypted_text(r, room_id, secret))
            step("dave decrypts carol's message", seen is not None)

            reply = "and carol can read this " + secrets.token_hex(4)
            sent = await dave.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": reply},
                                        ignore_unverified_devices=True)
            step("dave replies encrypted", isinstance(sent, RoomSendResponse), sent)
            seen = await sync_until(carol, lambda r: decrypted_text(r, room_id, reply))
            step("carol decrypts dave's reply", seen is not None)
        finally:
            await carol.close()
            await dave.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=120)))
