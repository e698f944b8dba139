// A scripted two-user session with matrix-js-sdk against a running homeserver.
//
// Usage: node session.mjs http://127.0.0.1:PORT
//
// Both users run the SDK's own sync loop (startClient), as an application would; every step is
// checked in the other user's client state, built from that sync. Every wait is bounded.
// Exits non-zero on the first failed step and prints "N passed, N failed".
import * as sdk from "matrix-js-sdk";

const baseUrl = process.argv[2];
const passed = [];
let failed = 0;

function step(name, ok, detail) {
    if (ok) {
        passed.push(name);
        console.log(`PASS ${name}`);
        return;
    }
    failed += 1;
    console.log(`FAIL ${name}${detail === undefined ? "" : `: ${detail}`}`);
    finish();
}

function finish() {
    console.log(`${passed.length} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Polls `check` until it returns something truthy, for at most `ms`.
async function until(check, ms = 15000) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        try {
            const value = check();
            if (value) return value;
        } catch {
            // The state being polled may not exist yet.
        }
        await sleep(100);
    }
    return null;
}

function timelineEvents(client, roomId) {
    return client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
}

async function register(name) {
    const anonymous = sdk.createClient({ baseUrl });
    const response = await anonymous.registerRequest({
        username: name,
        password: `a long password ${name}`,
        auth: { type: "m.login.dummy" },
    });
    return { name, password: `a long password ${name}`, ...response };
}

async function start(session, { encryption = false } = {}) {
    const client = sdk.createClient({
        baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
    });
    if (encryption) {
        // The SDK's Rust crypto (matrix-sdk-crypto-wasm), kept in memory for this run.
        await client.initRustCrypto({ useIndexedDB: false });
    }
    const prepared = new Promise((resolve) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED") resolve(true);
        });
    });
    await client.startClient({ initialSyncLimit: 20 });
    const ready = await Promise.race([prepared, sleep(15000).then(() => false)]);
    return { client, ready };
}

async function main() {
    const suffix = Math.random().toString(16).slice(2, 10);
    const aliceSession = await register(`jsalice${suffix}`);
    step("register alice", !!aliceSession.access_token);
    const bobSession = await register(`jsbob${suffix}`);
    step("register bob", !!bobSession.access_token);

    const login = await sdk
        .createClient({ baseUrl })
        .loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: aliceSession.user_id },
            password: aliceSession.password,
        });
    step("alice logs in with her password", !!login.access_token);

    const { client: alice, ready: aliceReady } = await start(login);
    step("alice's client finishes its first sync", aliceReady);
    const { client: bob, ready: bobReady } = await start(bobSession);
    step("bob's client finishes its first sync", bobReady);

    const { room_id: roomId } = await alice.createRoom({
        name: "js-sdk session",
        invite: [bob.getUserId()],
    });
    step("alice creates a room inviting bob", !!roomId);
    const invited = await until(() => bob.getRoom(roomId)?.getMyMembership() === "invite");
    step("bob's client shows the invite", !!invited);
    await bob.joinRoom(roomId);
    const joined = await until(
        () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join",
    );
    step("alice's client shows bob joined", !!joined);

    const { event_id: messageId } = await alice.sendTextMessage(roomId, "hello bob");
    const received = await until(() =>
        timelineEvents(bob, roomId).find((e) => e.getId() === messageId),
    );
    step("bob receives the message", received?.getContent().body === "hello bob");

    const { event_id: editId } = await alice.sendEvent(roomId, "m.room.message", {
        msgtype: "m.text",
        body: "* hello bob!",
        "m.new_content": { msgtype: "m.text", body: "hello bob!" },
        "m.relates_to": { rel_type: "m.replace", event_id: messageId },
    });
    const edited = await until(() =>
        timelineEvents(bob, roomId).find((e) => e.getId() === editId),
    );
    step("bob receives the edit", !!edited);

    await bob.sendEvent(roomId, "m.reaction", {
        "m.relates_to": { rel_type: "m.annotation", event_id: messageId, key: "👍" },
    });
    const reacted = await until(() =>
        timelineEvents(alice, roomId).find((e) => e.getType() === "m.reaction"),
    );
    step("alice receives the reaction", reacted?.getRelation()?.key === "👍");

    await alice.sendTyping(roomId, true, 30000);
    const typing = await until(() => bob.getRoom(roomId)?.getMember(alice.getUserId())?.typing);
    step("bob sees alice typing", !!typing);

    await bob.sendReadReceipt(received);
    // Receipts the SDK synthesises from bob's own later events (his reaction) are left out:
    // only the receipt the server delivered counts here.
    const receipt = await until(
        () => alice.getRoom(roomId)?.getEventReadUpTo(bob.getUserId(), true) === messageId,
    );
    step("alice sees bob's read receipt", !!receipt);

    await alice.redactEvent(roomId, messageId, undefined, { reason: "changed my mind" });
    const redacted = await until(() =>
        timelineEvents(bob, roomId).find((e) => e.getId() === messageId && e.isRedacted()),
    );
    step("bob sees the message redacted", !!redacted);

    const picture = Buffer.from("not really a picture, but bytes all the same");
    const { content_uri: mxc } = await alice.uploadContent(picture, {
        type: "text/plain",
        name: "notes.txt",
    });
    step("alice uploads a file", typeof mxc === "string" && mxc.startsWith("mxc://"));
    const { event_id: fileId } = await alice.sendEvent(roomId, "m.room.message", {
        msgtype: "m.file",
        body: "notes.txt",
        url: mxc,
    });
    const fileEvent = await until(() =>
        timelineEvents(bob, roomId).find((e) => e.getId() === fileId),
    );
    step("bob receives the file message", fileEvent?.getContent().url === mxc);
    const url = bob.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true);
    const download = await fetch(url, {
        headers: { Authorization: `Bearer ${bob.getAccessToken()}` },
    });
    const bytes = Buffer.from(await download.arrayBuffer());
    step(
        "bob downloads the file through the authenticated media API",
        download.status === 200 && bytes.equals(picture),
        `${download.status} ${url}`,
    );

    alice.stopClient();
    bob.stopClient();
    await encryptedExchange(suffix);
    finish();
}

/// Finds a timeline event the client decrypted to exactly `body`.
function decrypted(client, roomId, eventId, body) {
    return timelineEvents(client, roomId).find(
        (e) =>
            e.getId() === eventId &&
            e.getWireType() === "m.room.encrypted" &&
            !e.isDecryptionFailure() &&
            e.getContent().body === body,
    );
}

/// Two clients with the SDK's Rust crypto talk in an encrypted room; each reads only what the
/// other encrypted, through keys the server stored, handed out and relayed.
async function encryptedExchange(suffix) {
    const carolSession = await register(`jscarol${suffix}`);
    const daveSession = await register(`jsdave${suffix}`);
    step("register carol and dave", !!carolSession.access_token && !!daveSession.access_token);
    const { client: carol, ready: carolReady } = await start(carolSession, { encryption: true });
    const { client: dave, ready: daveReady } = await start(daveSession, { encryption: true });
    step("both clients start with Rust crypto", carolReady && daveReady);
    const { room_id: roomId } = await carol.createRoom({
        name: "js-sdk encrypted",
        invite: [dave.getUserId()],
        initial_state: [
            { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
    });
    step("carol creates an encrypted room", !!roomId);
    const invited = await until(() => dave.getRoom(roomId)?.getMyMembership() === "invite");
    step("dave's client shows the invite", !!invited);
    await dave.joinRoom(roomId);
    const joined = await until(
        () => carol.getRoom(roomId)?.getMember(dave.getUserId())?.membership === "join",
    );
    step("carol's client shows dave joined", !!joined);
    step("the SDK treats the room as encrypted", await carol.getCrypto().isEncryptionEnabledInRoom(roomId));
    const devices = await carol.getCrypto().getUserDeviceInfo([dave.getUserId()], true);
    step(
        "carol's crypto finds dave's device",
        devices.get(dave.getUserId())?.has(dave.getDeviceId()),
        JSON.stringify([...(devices.get(dave.getUserId())?.keys() ?? [])]),
    );

    const secret = `only dave can read this ${suffix}`;
    const { event_id: secretId } = await carol.sendTextMessage(roomId, secret);
    const raw = await dave.fetchRoomEvent(roomId, secretId);
    step(
        "the server holds only ciphertext",
        raw.type === "m.room.encrypted" && !JSON.stringify(raw).includes(secret),
        JSON.stringify(raw),
    );
    const read = await until(() => decrypted(dave, roomId, secretId, secret), 30000);
    step("dave decrypts carol's message", !!read);

    const reply = `and carol can read this ${suffix}`;
    const { event_id: replyId } = await dave.sendTextMessage(roomId, reply);
    const answered = await until(() => decrypted(carol, roomId, replyId, reply), 30000);
    step("carol decrypts dave's reply", !!answered);
    carol.stopClient();
    dave.stopClient();
}

const deadline = setTimeout(() => {
    console.log("FAIL the session did not finish within 120 s");
    failed += 1;
    finish();
}, 120000);
deadline.unref();

main().catch((error) => {
    console.log(`FAIL unexpected error: ${error?.stack ?? error}`);
    failed += 1;
    finish();
});
