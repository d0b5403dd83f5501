// cli.test.mjs — every subcommand of the minijet CLI (build/minijet) against a live server:
// minijet or nats-server 2.9.10 (MINIJET_TEST_SERVER), started fresh per test by server.mjs.
// The CLI is a C program; node only spawns it and checks its output, exit status and, where a
// command changes state, the state as nats.js sees it.
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/cli.test.mjs
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, StringCodec } from "nats";
import { startServer, stopAllServers, repoRoot, confPath, sleep, WAIT_MS } from "./server.mjs";

const sc = StringCodec();
const BIN = path.join(repoRoot(), "build", "minijet");

after(async () => {
  await stopAllServers();
});

function run(srv, args, opts = {}) {
  const full = srv ? ["--server", srv.url, ...args] : args;
  return new Promise((resolve) => {
    execFile(BIN, full, { timeout: 20000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }));
  });
}
async function ok(srv, args) {
  const r = await run(srv, args);
  assert.equal(r.code, 0, `minijet ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** Start the CLI in the background; resolves its output once it exits and its pipes are
 * drained ("close", not "exit": "exit" can come before the last stdout data, and a loaded
 * machine once gave an empty stdout for a watcher that had printed its entry). */
function background(srv, args) {
  const p = spawn(BIN, ["--server", srv.url, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (err += d));
  const done = new Promise((resolve) => p.on("close", (code) => resolve({ code, stdout: out, stderr: err })));
  const ready = new Promise((resolve) => p.stderr.on("data", () => resolve()));
  return { p, done, ready, out: () => out };
}

function cliTest(name, fn, timeout = 30000) {
  test(name, { timeout }, async () => {
    const srv = await startServer();
    let nc;
    try {
      nc = await connect({ servers: srv.hostport, reconnect: false, timeout: WAIT_MS });
      await fn({ srv, nc });
    } finally {
      if (nc && !nc.isClosed()) await nc.close().catch(() => {});
      const alive = srv.alive();
      const why = alive ? "" : srv.describeExit();
      await srv.close();
      if (!alive) throw new Error(`the server died: ${why}`);
    }
  });
}

test("cli: --help everywhere, usage errors exit 2, connection errors exit 1", async () => {
  const top = await run(null, ["--help"]);
  assert.equal(top.code, 0);
  for (const c of ["pub", "sub", "req", "reply", "stream", "consumer", "kv", "obj", "server ping"]) assert.match(top.stdout, new RegExp(`  ${c}`));
  for (const c of [["pub"], ["kv", "put"], ["obj", "get"], ["stream", "add"], ["consumer", "next"], ["server", "ping"]]) {
    const r = await run(null, [...c, "--help"]);
    assert.equal(r.code, 0, c.join(" "));
    assert.match(r.stdout, new RegExp(`usage: minijet ${c.join(" ")}`));
  }
  assert.equal((await run(null, [])).code, 2);
  const bad = await run(null, ["frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command/);
  const down = await run(null, ["--server", "nats://127.0.0.1:1", "server", "ping"]);
  assert.equal(down.code, 1);
  assert.equal(down.stderr.trim().split("\n").length, 1);
  assert.match(down.stderr, /^minijet: error: cannot connect/);
});

cliTest("cli: server ping, pub and sub", async ({ srv, nc }) => {
  assert.match((await ok(srv, ["server", "ping"])).stdout, /PONG in/);
  const js = JSON.parse((await ok(srv, ["--json", "server", "ping"])).stdout);
  assert.ok(js.version.length > 0);
  const sub = background(srv, ["sub", "greet.*", "--count", "2"]);
  await sub.ready;
  await ok(srv, ["pub", "greet.a", "hello", "--header", "X-Test: 1"]);
  nc.publish("greet.b", sc.encode("from nats.js"));
  const r = await sub.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Received on "greet\.a"\nX-Test: 1\nhello\n/);
  assert.match(r.stdout, /Received on "greet\.b"\nfrom nats\.js/);
  const got = [];
  const s = nc.subscribe("count.me", { max: 3, callback: (_e, m) => got.push(sc.decode(m.data)) });
  await nc.flush();
  assert.match((await ok(srv, ["pub", "count.me", "x", "--count", "3"])).stdout, /Published 3 messages/);
  await sleep(100);
  assert.equal(got.length, 3);
  s.unsubscribe();
});

cliTest("cli: req and reply (both directions with nats.js)", async ({ srv, nc }) => {
  nc.subscribe("svc.echo", { callback: (_e, m) => m.respond(sc.encode(`echo:${sc.decode(m.data)}`)) });
  await nc.flush();
  assert.match((await ok(srv, ["req", "svc.echo", "ping"])).stdout, /echo:ping/);
  const none = await run(srv, ["req", "nobody.home", "x", "--timeout", "1s"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no responders/);
  const rep = background(srv, ["reply", "svc.cli", "pong", "--count", "1"]);
  await rep.ready;
  const m = await nc.request("svc.cli", sc.encode("ping"), { timeout: WAIT_MS });
  assert.equal(sc.decode(m.data), "pong");
  assert.equal((await rep.done).code, 0);
});

cliTest("cli: stream add|ls|info|get|purge|rm", async ({ srv, nc }) => {
  const add = JSON.parse((await ok(srv, ["--json", "stream", "add", "ORDERS", "--subjects", "orders.>", "--max-msgs-per-subject", "5", "--storage", "memory"])).stdout);
  assert.equal(add.config.name, "ORDERS");
  assert.equal(add.config.storage, "memory");
  assert.equal(add.config.max_msgs_per_subject, 5);
  const jsc = nc.jetstream();
  await jsc.publish("orders.new", sc.encode("o1"));
  await jsc.publish("orders.paid", sc.encode("o2"));
  assert.match((await ok(srv, ["stream", "ls"])).stdout, /ORDERS\s+orders\.>\s+2/);
  assert.match((await ok(srv, ["stream", "info", "ORDERS"])).stdout, /messages:\s+2/);
  assert.match((await ok(srv, ["stream", "get", "ORDERS", "2"])).stdout, /orders\.paid\no2/);
  assert.match((await ok(srv, ["stream", "get", "ORDERS", "--last-for", "orders.new"])).stdout, /o1/);
  assert.match((await ok(srv, ["stream", "purge", "ORDERS", "--subject", "orders.new"])).stdout, /Purged 1 messages/);
  const dup = await run(srv, ["stream", "add", "OTHER", "--subjects", "orders.x"]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /subjects overlap/);
  await ok(srv, ["stream", "rm", "ORDERS"]);
  const gone = await run(srv, ["stream", "info", "ORDERS"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^minijet: error: stream not found\n$/);
});

cliTest("cli: consumer add|ls|info|next|rm", async ({ srv, nc }) => {
  await ok(srv, ["stream", "add", "JOBS", "--subjects", "jobs.*"]);
  const jsc = nc.jetstream();
  for (let i = 1; i <= 3; i++) await jsc.publish(`jobs.${i}`, sc.encode(`job${i}`));
  await ok(srv, ["consumer", "add", "JOBS", "worker", "--filter", "jobs.*", "--ack", "explicit"]);
  assert.match((await ok(srv, ["consumer", "ls", "JOBS"])).stdout, /worker\s+pull\s+explicit\s+3/);
  const next = (await ok(srv, ["consumer", "next", "JOBS", "worker", "--count", "2"])).stdout;
  assert.match(next, /jobs\.1"[^\n]*\njob1\n/);
  assert.match(next, /jobs\.2"[^\n]*\njob2\n/);
  await sleep(100);
  const info = JSON.parse((await ok(srv, ["--json", "consumer", "info", "JOBS", "worker"])).stdout);
  assert.equal(info.num_pending, 1);
  assert.equal(info.num_ack_pending, 0, "the CLI acks what it printed");
  assert.equal(info.ack_floor.stream_seq, 2);
  const empty = await run(srv, ["consumer", "next", "JOBS", "worker", "--count", "1", "--timeout", "1s", "--no-ack"]);
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /job3/);
  await ok(srv, ["consumer", "rm", "JOBS", "worker"]);
  assert.equal((await run(srv, ["consumer", "info", "JOBS", "worker"])).code, 1);
});

cliTest("cli: kv add|put|get|create|update|del|purge|keys|history|watch|info|rm", async ({ srv }) => {
  assert.match((await ok(srv, ["kv", "add", "cfg", "--history", "3", "--ttl", "1h"])).stdout, /history 3, ttl 3600000000000/);
  assert.equal((await ok(srv, ["kv", "put", "cfg", "db.host", "10.0.0.1"])).stdout, "10.0.0.1\n");
  await ok(srv, ["kv", "put", "cfg", "db.host", "10.0.0.2"]);
  assert.equal((await ok(srv, ["kv", "get", "cfg", "db.host"])).stdout, "10.0.0.2\n");
  const e = JSON.parse((await ok(srv, ["--json", "kv", "get", "cfg", "db.host"])).stdout);
  assert.equal(e.revision, 2);
  assert.equal(e.operation, "PUT");
  assert.equal((await ok(srv, ["kv", "get", "cfg", "db.host", "--revision", "1"])).stdout, "10.0.0.1\n");
  const stale = await run(srv, ["kv", "update", "cfg", "db.host", "x", "--revision", "1"]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /wrong last sequence: 2/);
  await ok(srv, ["kv", "update", "cfg", "db.host", "10.0.0.3", "--revision", "2"]);
  assert.equal((await run(srv, ["kv", "create", "cfg", "db.host", "y"])).code, 1);
  await ok(srv, ["kv", "create", "cfg", "db.port", "5432"]);
  assert.equal((await ok(srv, ["kv", "keys", "cfg"])).stdout, "db.host\ndb.port\n");
  await ok(srv, ["kv", "del", "cfg", "db.port"]);
  const del = await run(srv, ["kv", "get", "cfg", "db.port"]);
  assert.equal(del.code, 1);
  assert.match(del.stderr, /key not found: db\.port \(deleted/);
  const hist = (await ok(srv, ["kv", "history", "cfg", "db.host"])).stdout.trim().split("\n");
  assert.equal(hist.length, 3);
  assert.match(hist[2], /PUT cfg\.db\.host \(revision 3\): 10\.0\.0\.3/);
  await ok(srv, ["kv", "purge", "cfg", "db.host"]);
  assert.match((await ok(srv, ["kv", "history", "cfg", "db.host"])).stdout, /^\S+ PURGE cfg\.db\.host/);
  const watch = (await ok(srv, ["kv", "watch", "cfg", "--timeout", "500ms"])).stdout;
  assert.match(watch, /PURGE cfg\.db\.host/);
  assert.match(watch, /DEL cfg\.db\.port/);
  const w = background(srv, ["--json", "kv", "watch", "cfg", "db.*", "--updates-only", "--count", "1"]);
  await sleep(300); // the watcher's consumer exists once it has connected and asked
  await ok(srv, ["kv", "put", "cfg", "db.user", "admin"]);
  const wr = await w.done;
  assert.equal(wr.code, 0, wr.stderr);
  assert.equal(JSON.parse(wr.stdout).key, "db.user");
  assert.match((await ok(srv, ["kv", "info", "cfg"])).stdout, /Bucket cfg:/);
  const badKey = await run(srv, ["kv", "put", "cfg", "session:1", "x"]);
  assert.equal(badKey.code, 1);
  assert.match(badKey.stderr, /invalid key: session:1/);
  const badBucket = await run(srv, ["kv", "add", "no.dots"]);
  assert.equal(badBucket.code, 1);
  assert.match(badBucket.stderr, /invalid bucket name/);
  await ok(srv, ["kv", "rm", "cfg"]);
  assert.match((await run(srv, ["kv", "get", "cfg", "db.host"])).stderr, /bucket not found: cfg/);
});

cliTest("cli: obj add|put|get|ls|info|rm", async ({ srv }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-clitest-"));
  try {
    const file = path.join(dir, "report.txt");
    fs.writeFileSync(file, "quarterly numbers\n".repeat(20000)); // 360 KB: 3 chunks
    assert.match((await ok(srv, ["obj", "add", "files", "--description", "test files"])).stdout, /ready/);
    const put = (await ok(srv, ["obj", "put", "files", file, "--description", "Q3"])).stdout;
    assert.match(put, /Object report\.txt in bucket files/);
    assert.match(put, /360000 bytes in 3 chunks/);
    const info = JSON.parse((await ok(srv, ["--json", "obj", "info", "files", "report.txt"])).stdout);
    assert.equal(info.size, 360000);
    assert.equal(info.description, "Q3");
    assert.match(info.digest, /^SHA-256=[A-Za-z0-9_-]{43}=$/);
    const out = path.join(dir, "copy.txt");
    await ok(srv, ["obj", "get", "files", "report.txt", "--output", out]);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(file)));
    assert.equal((await ok(srv, ["obj", "get", "files", "report.txt"])).stdout.length, 360000);
    await ok(srv, ["obj", "put", "files", file, "--name", "copy/two.txt"]);
    const ls = (await ok(srv, ["obj", "ls", "files"])).stdout.trim().split("\n");
    assert.equal(ls.length, 3);
    assert.match(ls[1], /^copy\/two\.txt\s+360000/);
    await ok(srv, ["obj", "rm", "files", "report.txt"]);
    const gone = await run(srv, ["obj", "info", "files", "report.txt"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /object not found: report\.txt/);
    assert.equal((await ok(srv, ["obj", "ls", "files"])).stdout.trim().split("\n").length, 2);
    await ok(srv, ["obj", "add", "tiny", "--max-bytes", "200000"]);
    const full = await run(srv, ["obj", "put", "tiny", file]);
    assert.equal(full.code, 1);
    assert.match(full.stderr, /^minijet: error: storing a chunk of report\.txt: maximum bytes exceeded\n$/);
    assert.match((await ok(srv, ["stream", "info", "OBJ_tiny"])).stdout, /messages:\s+0 /, "partial chunks purged");
    const missing = await run(srv, ["obj", "put", "files", path.join(dir, "nope")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Every JSON the CLI sends or prints is built with json-glib: an argument that looks like JSON
// stays a string (or is refused as a number), it never becomes JSON syntax.
cliTest("cli: a hostile argument cannot inject JSON", async ({ srv, nc }) => {
  await ok(srv, ["stream", "add", "ORDERS", "--subjects", "orders.*"]);
  const jsc = nc.jetstream();
  await jsc.publish("orders.a", sc.encode("first"));
  await jsc.publish("orders.b", sc.encode("second"));
  // once {"seq":%s} made this {"seq":0,"last_by_subj":"orders.b"}: orders.b's last message
  const seq = await run(srv, ["stream", "get", "ORDERS", '0,"last_by_subj":"orders.b"']);
  assert.equal(seq.code, 2, seq.stdout);
  assert.match(seq.stderr, /^minijet: error: stream get: SEQ must be a sequence number/);
  assert.doesNotMatch(seq.stdout, /second/);
  const count = await run(srv, ["stream", "purge", "ORDERS", "--keep", '0,"filter":"orders.a"']);
  assert.equal(count.code, 2);
  assert.match(count.stderr, /--keep wants an integer/);
  // a string option is a JSON string: the server sees one odd storage type, not max_msgs 1
  const storage = await run(srv, ["stream", "add", "EVIL", "--subjects", "evil.x", "--storage", 'memory","max_msgs":1,"x":"']);
  assert.equal(storage.code, 1);
  const jsm = await nc.jetstreamManager();
  await assert.rejects(jsm.streams.info("EVIL"));
  const name = await run(srv, ["stream", "info", "ORDERS.>"]);
  assert.equal(name.code, 2);
  assert.match(name.stderr, /invalid name/);
  // a value with quotes and a key/value-looking tail comes back byte for byte, as valid JSON
  await ok(srv, ["kv", "add", "cfg"]);
  const hostile = 'v","operation":"DEL","x":"\u0001';
  await ok(srv, ["kv", "put", "cfg", "k", hostile]);
  const e = JSON.parse((await ok(srv, ["--json", "kv", "get", "cfg", "k"])).stdout);
  assert.equal(e.value, hostile);
  assert.equal(e.operation, "PUT");
  const m = JSON.parse((await ok(srv, ["--json", "stream", "get", "ORDERS", "1"])).stdout);
  assert.equal(m.message.subject, "orders.a");
  assert.deepEqual(Object.keys(JSON.parse((await ok(srv, ["--json", "pub", "orders.a", '"}{'])).stdout)).sort(), ["count", "subject"]);
});

test("cli: logs in with --user/--password, --token or credentials in the URL", { timeout: 30000 }, async () => {
  const srv = await startServer(["-c", confPath("auth-users")]);
  try {
    const url = (cred) => `nats://${cred}@127.0.0.1:${srv.port}`;
    const anon = await run(srv, ["pub", "x", "hi"]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /Authorization Violation/);
    await ok(null, ["--server", url("plain:pw-plain"), "pub", "x", "hi"]);
    await ok(srv, ["--user", "admin", "--password", "admin-s3cret", "server", "ping"]);
    const wrong = await run(null, ["--server", url("plain:nope"), "pub", "x", "hi"]);
    assert.equal(wrong.code, 1);
    const denied = await run(srv, ["--user", "limited", "--password", "pw-limited", "pub", "orders.secret", "x"]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Permissions Violation for Publish to "orders.secret"/);
    // a JetStream request the permissions deny fails at once with the server's words,
    // instead of waiting for an answer that will never come
    const js = ["--user", "jsuser", "--password", "pw-jsuser"];
    await ok(srv, [...js, "stream", "add", "JOBS", "--subjects", "jobs.>"]);
    const t0 = Date.now();
    const rm = await run(srv, [...js, "stream", "rm", "JOBS"]);
    const took = Date.now() - t0;
    assert.equal(rm.code, 1, rm.stderr);
    assert.match(rm.stderr, /Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.JOBS"/);
    assert.ok(took < 1500, `took ${took} ms`);
    await ok(srv, [...js, "stream", "info", "JOBS"]); // still there
  } finally {
    await srv.close();
  }
  const tok = await startServer(["-c", confPath("auth-token")]);
  try {
    await ok(null, ["--server", `nats://tok-s3cret@127.0.0.1:${tok.port}`, "pub", "x", "hi"]);
    await ok(tok, ["--token", "tok-s3cret", "pub", "x", "hi"]);
    assert.equal((await run(tok, ["--token", "nope", "pub", "x", "hi"])).code, 1);
  } finally {
    await tok.close();
  }
});
