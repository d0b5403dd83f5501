// kv.test.mjs — KV buckets and the object store through the real nats.js client (npm `nats`
// 2.29.3): js.views.kv() and js.views.os(), the seed document's snippets (corrected), and
// cross-client checks with the minijet CLI (build/minijet) writing and nats.js reading and the
// other way round. The server stores streams; all KV/OS behaviour is client convention, so
// every assertion here must hold against nats-server 2.9.10 unchanged (spec §4, §5).
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/kv.test.mjs
//
// Node 18 and 20: node:test, node:assert/strict, node:crypto, node:child_process, node:fs.
import { after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { headers, StringCodec, nanos } from "nats";
import { stopAllServers, repoRoot, serverTest, within, sleep, WAIT_MS } from "./server.mjs";

const TEST_TIMEOUT_MS = 30000;
const sc = StringCodec();

after(async () => {
  await stopAllServers();
});

/** A test with its own fresh server and one connection (nc, js). */
const kvTest = (name, fn, timeout = TEST_TIMEOUT_MS) => serverTest(name, fn, { timeout, connect: true });

/** Collect up to n entries from an async iterator (bounded by WAIT_MS). */
async function take(iter, n, what) {
  const out = [];
  if (n === 0) return out;
  await within(
    (async () => {
      for await (const e of iter) {
        out.push(e);
        if (out.length >= n) break;
      }
    })(),
    WAIT_MS,
    `${what}: ${n} entries (got ${out.length})`,
  );
  return out;
}

async function expectReject(p, re) {
  let err = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a rejection matching ${re}`);
  assert.match(String(err.message), re);
  return err;
}

/** Run build/minijet with --server; resolves {code, stdout, stderr}. */
function cli(srv, args, opts = {}) {
  const bin = path.join(repoRoot(), "build", "minijet");
  return new Promise((resolve) => {
    execFile(bin, ["--server", srv.url, ...args], { timeout: 20000, encoding: opts.encoding || "utf8", maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}
async function cliOk(srv, args, opts) {
  const r = await cli(srv, args, opts);
  assert.equal(r.code, 0, `minijet ${args.join(" ")} failed: ${r.stderr}`);
  return r;
}

const sha256b64url = (buf) => crypto.createHash("sha256").update(buf).digest("base64").replace(/\+/g, "-").replace(/\//g, "_");

// ---------------------------------------------------------------------------------------- KV

kvTest("kv: bucket creation sends the stream config nats.js uses", async ({ nc, js }) => {
  await js.views.kv("cfg", { history: 5, ttl: 60000 });
  const si = await (await nc.jetstreamManager()).streams.info("KV_cfg");
  assert.deepEqual(si.config.subjects, ["$KV.cfg.>"]);
  assert.equal(si.config.max_msgs_per_subject, 5);
  assert.equal(si.config.discard, "new");
  assert.equal(si.config.allow_rollup_hdrs, true);
  assert.equal(si.config.allow_direct, true);
  assert.equal(si.config.max_age, nanos(60000));
});

kvTest("kv: put/get, revisions, missing key", async ({ js }) => {
  const kv = await js.views.kv("b1");
  const r1 = await kv.put("a", sc.encode("one"));
  const r2 = await kv.put("a", "two"); // a string payload is fine too
  assert.ok(r2 > r1);
  const e = await kv.get("a");
  assert.equal(e.string(), "two");
  assert.equal(e.revision, r2);
  assert.equal(e.operation, "PUT");
  assert.equal(e.key, "a");
  assert.equal(await kv.get("nope"), null);
  const old = await kv.get("a", { revision: r1 });
  assert.equal(old, null, "history 1 keeps only the newest revision");
});

kvTest("kv: create fails on a live key (10071), succeeds on a deleted one", async ({ js }) => {
  const kv = await js.views.kv("b2");
  await kv.create("k", sc.encode("v1"));
  const err = await expectReject(kv.create("k", sc.encode("v2")), /wrong last sequence/);
  assert.equal(err.api_error?.err_code, 10071);
  await kv.delete("k");
  const rev = await kv.create("k", sc.encode("v3"));
  assert.equal((await kv.get("k")).revision, rev);
});

kvTest("kv: update is compare-and-set", async ({ js }) => {
  const kv = await js.views.kv("b3");
  const r1 = await kv.put("k", sc.encode("a"));
  const r2 = await kv.update("k", sc.encode("b"), r1);
  await expectReject(kv.update("k", sc.encode("c"), r1), /wrong last sequence/);
  assert.equal((await kv.get("k")).string(), "b");
  assert.equal((await kv.get("k")).revision, r2);
});

kvTest("kv: delete leaves a DEL marker, purge a PURGE marker and no history", async ({ js }) => {
  const kv = await js.views.kv("b4", { history: 10 });
  await kv.put("d", sc.encode("1"));
  await kv.put("d", sc.encode("2"));
  await kv.delete("d");
  const e = await kv.get("d");
  assert.equal(e.operation, "DEL");
  assert.equal(e.length, 0);
  let h = await take(await kv.history({ key: "d" }), 3, "history");
  assert.deepEqual(h.map((x) => x.operation), ["PUT", "PUT", "DEL"]);
  await kv.put("p", sc.encode("1"));
  await kv.put("p", sc.encode("2"));
  await kv.purge("p");
  h = await take(await kv.history({ key: "p" }), 1, "history after purge");
  assert.deepEqual(h.map((x) => x.operation), ["PURGE"]);
  assert.equal((await kv.status()).values, 4); // d: 2 PUT + DEL, p: PURGE
});

kvTest("kv: keys skips deleted keys; history keeps at most `history` revisions", async ({ js }) => {
  const kv = await js.views.kv("b5", { history: 3 });
  for (const k of ["x", "y.z", "w/1", "v=2", "gone"]) await kv.put(k, sc.encode(k));
  await kv.delete("gone");
  const keys = [];
  for await (const k of await kv.keys()) keys.push(k);
  assert.deepEqual(keys.sort(), ["v=2", "w/1", "x", "y.z"]);
  for (let i = 0; i < 5; i++) await kv.put("x", sc.encode(`x${i}`));
  const h = await take(await kv.history({ key: "x" }), 3, "history");
  assert.deepEqual(h.map((e) => e.string()), ["x2", "x3", "x4"]);
});

kvTest("kv: watch sees current values, then puts, deletes and purges", async ({ js }) => {
  const kv = await js.views.kv("b6");
  await kv.put("s.1", sc.encode("a"));
  let initialized = false;
  const w = await kv.watch({ key: "s.>", initializedFn: () => (initialized = true) });
  const got = [];
  const done = (async () => {
    for await (const e of w) {
      got.push(`${e.operation}:${e.key}:${e.string()}`);
      if (got.length === 4) break;
    }
  })();
  await sleep(100);
  await kv.put("s.2", sc.encode("b"));
  await kv.put("other", sc.encode("not watched"));
  await kv.delete("s.1");
  await kv.purge("s.2");
  await within(done, WAIT_MS, `watch entries (got ${got.join(",")})`);
  assert.ok(initialized);
  assert.deepEqual(got, ["PUT:s.1:a", "PUT:s.2:b", "DEL:s.1:", "PURGE:s.2:"]);
});

kvTest("kv: watch with ignoreDeletes and updates only", async ({ js }) => {
  const kv = await js.views.kv("b7");
  await kv.put("old", sc.encode("x"));
  const w = await kv.watch({ ignoreDeletes: true, include: "updates" });
  const got = [];
  let primed = false;
  const done = (async () => {
    for await (const e of w) {
      if (e.key === "probe") { primed = true; continue; }
      got.push(`${e.operation}:${e.key}`);
      if (got.length === 2) break;
    }
  })();
  // The watch is live once it sees an update made after it started (a fixed sleep lost n1 on
  // nats-server under load): put a probe until it arrives, then the keys the test is about.
  const deadline = Date.now() + WAIT_MS;
  while (!primed && Date.now() < deadline) {
    await kv.put("probe", sc.encode("p"));
    for (let i = 0; i < 20 && !primed; i++) await sleep(10);
  }
  assert.ok(primed, "the watch never saw an update made after it started");
  await kv.put("n1", sc.encode("1"));
  await kv.delete("n1");
  await kv.put("n2", sc.encode("2"));
  await within(done, WAIT_MS, `watch (got ${got.join(",")})`);
  assert.deepEqual(got, ["PUT:n1", "PUT:n2"]);
});

kvTest("kv: purgeDeletes (STREAM.PURGE with filter and keep) and a headers-only watch", async ({ js }) => {
  const kv = await js.views.kv("b10", { history: 10 });
  for (let i = 0; i < 3; i++) await kv.put("k", sc.encode(`v${i}`));
  await kv.delete("k");
  await kv.put("live", sc.encode("stays"));
  assert.equal((await kv.status()).values, 5);
  await kv.purgeDeletes(); // a recent marker is purged with keep 1: only the marker stays
  assert.equal((await kv.status()).values, 2);
  const h = await take(await kv.history({ key: "k" }), 1, "history after purgeDeletes");
  assert.deepEqual(h.map((e) => e.operation), ["DEL"]);
  const w = await kv.watch({ key: "live", headers_only: true });
  const [e] = await take(w, 1, "headers-only watch");
  assert.equal(e.key, "live");
  assert.equal(e.value.length, 0, "headers_only strips the value");
  assert.equal(e.length, 5, "length comes from the Nats-Msg-Size header");
  w.stop();
});

kvTest("kv: status and destroy", async ({ nc, js }) => {
  const kv = await js.views.kv("b8", { history: 4 });
  await kv.put("a", sc.encode("1"));
  const st = await kv.status();
  assert.equal(st.bucket, "b8");
  assert.equal(st.values, 1);
  assert.equal(st.history, 4);
  assert.equal(await kv.destroy(), true);
  const names = await (await nc.jetstreamManager()).streams.names().next();
  assert.ok(!names.includes("KV_b8"));
});

kvTest("kv: TTL (max_age) expires values", async ({ js }) => {
  const kv = await js.views.kv("ttl", { ttl: 1000 });
  await kv.put("t", sc.encode("short-lived"));
  assert.equal((await kv.get("t")).string(), "short-lived");
  const deadline = Date.now() + 6000;
  let e = await kv.get("t");
  while (e !== null && Date.now() < deadline) {
    await sleep(200);
    e = await kv.get("t");
  }
  assert.equal(e, null, "value still there 6 s after a 1 s ttl");
}, 15000);

kvTest("kv: invalid keys and bucket names are refused by the client", async ({ js }) => {
  const kv = await js.views.kv("b9");
  await expectReject(kv.put("session:user123", sc.encode("x")), /invalid key/);
  await expectReject(kv.put(".lead", sc.encode("x")), /invalid key/);
  await expectReject(kv.put("trail.", sc.encode("x")), /invalid key/);
  await expectReject(js.views.kv("bad.name"), /invalid bucket name/);
});

kvTest("kv: a bucket over its byte limit refuses puts", async ({ js }) => {
  const kv = await js.views.kv("small", { max_bytes: 1024 });
  await kv.put("a", new Uint8Array(200));
  let refused = null;
  for (let i = 0; i < 20 && !refused; i++) {
    try {
      await kv.put(`k${i}`, new Uint8Array(200));
    } catch (e) {
      refused = e;
    }
  }
  assert.ok(refused, "no put was refused");
  assert.match(refused.message, /maximum bytes exceeded/);
});

kvTest("kv: a watch or put on a missing bucket fails", async ({ srv, js }) => {
  const kv = await js.views.kv("missing", { bindOnly: true });
  await expectReject(kv.watch(), /stream not found/);
  await expectReject(kv.put("a", sc.encode("x")), /503/); // no stream stores $KV.missing.a
  const r = await cli(srv, ["kv", "watch", "missing"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bucket not found/);
});

// The seed's "kv-store.ts", corrected: `purge_interval` is not a KV option (the TTL is `ttl`,
// in milliseconds); ':' is not allowed in keys ("session:user123" -> "session.user123");
// operations are upper case ("PUT"/"DEL"/"PURGE"); the watch never ends by itself (stop it).
kvTest("kv: the seed's session snippet, corrected", async ({ js }) => {
  const kv = await js.views.kv("sessions", { ttl: 24 * 60 * 60 * 1000 });
  await kv.put("session.user123", JSON.stringify({ userId: "user123", token: "jwt-token", expires: Date.now() + 3600000 }));
  const entry = await kv.get("session.user123");
  assert.ok(entry);
  const session = JSON.parse(new TextDecoder().decode(entry.value));
  assert.equal(session.userId, "user123");
  const w = await kv.watch({ ignoreDeletes: false });
  const seen = [];
  const done = (async () => {
    for await (const op of w) {
      if (op.operation === "PUT") seen.push(`updated ${op.key}`);
      else if (op.operation === "DEL") seen.push(`deleted ${op.key}`);
      if (seen.length === 2) w.stop();
    }
  })();
  await sleep(100);
  await kv.delete("session.user123");
  await within(done, WAIT_MS, `seed watch (saw ${seen.join(", ")})`);
  assert.deepEqual(seen, ["updated session.user123", "deleted session.user123"]);
  const st = await kv.status();
  assert.equal(st.ttl, 24 * 60 * 60 * 1000);
});

// --------------------------------------------------------------------------- object store

kvTest("os: put/get/info/list/delete with description and headers", async ({ js }) => {
  const store = await js.views.os("o1");
  const h = headers();
  h.set("content-type", "text/plain");
  const info = await store.putBlob({ name: "notes/a.txt", description: "a note", headers: h }, sc.encode("hello object"));
  assert.equal(info.size, 12);
  assert.equal(info.chunks, 1);
  assert.ok(info.digest.startsWith("SHA-256="));
  assert.equal(info.digest, `SHA-256=${sha256b64url(Buffer.from("hello object"))}`);
  assert.equal(sc.decode(await store.getBlob("notes/a.txt")), "hello object");
  const i2 = await store.info("notes/a.txt");
  assert.equal(i2.description, "a note");
  assert.equal(i2.headers.get("content-type"), "text/plain");
  await store.putBlob({ name: "b" }, new Uint8Array(0));
  assert.deepEqual((await store.list()).map((x) => x.name).sort(), ["b", "notes/a.txt"]);
  await store.delete("notes/a.txt");
  assert.equal(await store.get("notes/a.txt"), null);
  assert.deepEqual((await store.list()).map((x) => x.name), ["b"]);
  assert.equal((await store.getBlob("b")).length, 0);
});

kvTest("os: a 10 MiB object in 80 chunks, digest checked", async ({ nc, js }) => {
  const store = await js.views.os("big");
  const data = crypto.randomBytes(10 * 1024 * 1024);
  const info = await within(store.putBlob({ name: "blob.bin" }, data), 20000, "put 10 MiB");
  assert.equal(info.size, data.length);
  assert.equal(info.chunks, 80);
  assert.equal(info.digest, `SHA-256=${sha256b64url(data)}`);
  const res = await store.get("blob.bin");
  const chunks = [];
  for await (const c of res.data) chunks.push(c);
  assert.ok(!(await res.error), "nats.js reported an error reading the object");
  assert.ok(Buffer.concat(chunks).equals(data));
  const si = await (await nc.jetstreamManager()).streams.info("OBJ_big");
  assert.equal(si.state.messages, 81); // 80 chunks + 1 meta
}, 60000);

kvTest("os: replacing an object purges the old chunks", async ({ nc, js }) => {
  const store = await js.views.os("o2");
  await store.putBlob({ name: "f", options: { max_chunk_size: 4 } }, sc.encode("0123456789"));
  await store.putBlob({ name: "f" }, sc.encode("new"));
  assert.equal(sc.decode(await store.getBlob("f")), "new");
  const si = await (await nc.jetstreamManager()).streams.info("OBJ_o2");
  assert.equal(si.state.messages, 2);
});

kvTest("os: watch reports puts and deletes", async ({ js }) => {
  const store = await js.views.os("o3");
  await store.putBlob({ name: "before" }, sc.encode("x"));
  const w = await store.watch({ includeHistory: true });
  const got = [];
  const done = (async () => {
    for await (const i of w) {
      if (i === null) continue; // the "initialized" marker
      got.push(`${i.name}:${i.deleted}`);
      if (got.length === 3) break;
    }
  })();
  await sleep(100);
  await store.putBlob({ name: "after" }, sc.encode("y"));
  await store.delete("before");
  await within(done, WAIT_MS, `os watch (got ${got.join(",")})`);
  assert.deepEqual(got, ["before:false", "after:false", "before:true"]);
});

kvTest("os: seal and status", async ({ js }) => {
  const store = await js.views.os("o4", { description: "sealed store" });
  await store.putBlob({ name: "x" }, sc.encode("x"));
  let st = await store.status();
  assert.equal(st.bucket, "o4");
  assert.equal(st.sealed, false);
  await store.seal();
  st = await store.status();
  assert.equal(st.sealed, true);
  await expectReject(store.putBlob({ name: "y" }, sc.encode("y")), /sealed|invalid operation/);
  assert.equal(sc.decode(await store.getBlob("x")), "x");
  assert.equal(await store.destroy(), true);
});

// The seed's "object-store.ts", corrected: the os `ttl` is in NANOseconds (the seed's 30 days
// in ms would expire objects after 2.6 s); `options` holds only link/max_chunk_size, so the
// content type goes into `headers` and user data into `metadata`; put() takes a
// ReadableStream (a Buffer needs putBlob); `obj.data` is a stream property, not a function
// (getBlob returns the bytes); list() resolves to an array.
kvTest("os: the seed's document snippet, corrected", async ({ js }) => {
  const store = await js.views.os("documents", { ttl: nanos(30 * 24 * 60 * 60 * 1000) });
  const fileData = crypto.randomBytes(300 * 1024); // stands in for ./contract.pdf
  const h = headers();
  h.set("content-type", "application/pdf");
  await store.putBlob({ name: "contract-2026-03.pdf", headers: h, metadata: { "user-id": "user123" } }, fileData);
  const buffer = await store.getBlob("contract-2026-03.pdf");
  assert.equal(buffer.length, fileData.length);
  assert.ok(Buffer.from(buffer).equals(fileData));
  const listing = await store.list();
  assert.deepEqual(listing.map((i) => [i.name, i.size]), [["contract-2026-03.pdf", fileData.length]]);
  const info = await store.info("contract-2026-03.pdf");
  assert.equal(info.headers.get("content-type"), "application/pdf");
  assert.equal(info.metadata["user-id"], "user123");
  const st = await store.status();
  assert.equal(st.ttl, nanos(30 * 24 * 60 * 60 * 1000));
});

// ------------------------------------------------------------------ cross-client (CLI <-> nats.js)

kvTest("cross: minijet CLI writes a bucket, nats.js reads it", async ({ srv, js }) => {
  await cliOk(srv, ["kv", "add", "cross", "--history", "5"]);
  await cliOk(srv, ["kv", "put", "cross", "greeting", "hello"]);
  await cliOk(srv, ["kv", "put", "cross", "greeting", "hello again"]);
  await cliOk(srv, ["kv", "put", "cross", "gone", "x"]);
  await cliOk(srv, ["kv", "del", "cross", "gone"]);
  const kv = await js.views.kv("cross");
  assert.equal((await kv.get("greeting")).string(), "hello again");
  assert.equal((await kv.get("gone")).operation, "DEL");
  const keys = [];
  for await (const k of await kv.keys()) keys.push(k);
  assert.deepEqual(keys, ["greeting"]);
  const h = await take(await kv.history({ key: "greeting" }), 2, "history");
  assert.deepEqual(h.map((e) => e.string()), ["hello", "hello again"]);
  assert.equal((await kv.status()).history, 5);
});

kvTest("cross: nats.js writes a bucket, the minijet CLI reads it", async ({ srv, js }) => {
  const kv = await js.views.kv("cross2", { history: 3 });
  await kv.put("a.b", sc.encode("v1"));
  await kv.put("a.b", sc.encode("v2"));
  await kv.put("c", sc.encode("c"));
  await kv.purge("c");
  assert.equal((await cliOk(srv, ["kv", "get", "cross2", "a.b"])).stdout, "v2\n");
  assert.equal((await cliOk(srv, ["kv", "keys", "cross2"])).stdout, "a.b\n");
  const hist = (await cliOk(srv, ["--json", "kv", "history", "cross2", "a.b"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(hist.map((e) => e.value), ["v1", "v2"]);
  const r = await cli(srv, ["kv", "get", "cross2", "c"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /key not found/);
  const create = await cli(srv, ["kv", "create", "cross2", "a.b", "v3"]);
  assert.equal(create.code, 1);
  assert.match(create.stderr, /wrong last sequence|key exists/);
  await cliOk(srv, ["kv", "create", "cross2", "c", "back"]); // on top of the PURGE marker
  assert.equal((await kv.get("c")).string(), "back");
});

kvTest("cross: objects written by the CLI read back in nats.js and the other way", async ({ srv, js }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-kvtest-"));
  try {
    const data = crypto.randomBytes(1024 * 1024 + 17);
    const file = path.join(dir, "up.bin");
    fs.writeFileSync(file, data);
    await cliOk(srv, ["obj", "add", "xo"]);
    const put = JSON.parse((await cliOk(srv, ["--json", "obj", "put", "xo", file, "--name", "dir/up.bin"])).stdout);
    assert.equal(put.digest, `SHA-256=${sha256b64url(data)}`);
    const store = await js.views.os("xo");
    const back = await store.getBlob("dir/up.bin");
    assert.ok(Buffer.from(back).equals(data));
    assert.equal((await store.info("dir/up.bin")).chunks, 9);

    const js2 = crypto.randomBytes(300000);
    await store.putBlob({ name: "from-js" }, js2);
    const out = path.join(dir, "down.bin");
    await cliOk(srv, ["obj", "get", "xo", "from-js", "--output", out]);
    assert.ok(fs.readFileSync(out).equals(js2));
    const ls = (await cliOk(srv, ["obj", "ls", "xo"])).stdout;
    assert.match(ls, /dir\/up\.bin/);
    assert.match(ls, /from-js/);
    await cliOk(srv, ["obj", "rm", "xo", "from-js"]);
    assert.equal(await store.get("from-js"), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

kvTest("cross: the CLI refuses an object whose chunks are gone (corrupt, not returned)", async ({ srv, nc, js }) => {
  const store = await js.views.os("broken");
  const info = await store.putBlob({ name: "f", options: { max_chunk_size: 1024 } }, crypto.randomBytes(4096));
  const jsm = await nc.jetstreamManager();
  const chunkSubj = `$O.broken.C.${info.nuid}`;
  // Remove one chunk in the middle: the object's meta still says 4 chunks.
  const m = await jsm.streams.getMessage("OBJ_broken", { last_by_subj: chunkSubj });
  await jsm.streams.deleteMessage("OBJ_broken", m.seq - 1);
  const r = await cli(srv, ["obj", "get", "broken", "f"], { encoding: "buffer" });
  assert.equal(r.code, 1);
  assert.equal(r.stdout.length, 0, "no data may be written for a corrupt object");
  assert.match(r.stderr.toString(), /corrupt/);
});
