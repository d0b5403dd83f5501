// monitor.test.mjs — the HTTP monitoring endpoints (-m PORT): /varz /connz /subsz /jsz /healthz.
//
// Each test starts a fresh server with `-m <free port>` (minijet or nats-server, see server.mjs),
// makes known activity with nats.js, and fetches the endpoints with node's http module. The
// assertions hold for nats-server 2.9.10 too: run.sh runs this file against both. The last test
// also starts nats-server itself (when it is on PATH) beside minijet and checks that every field
// minijet prints exists in nats-server's answer with the same JSON type.
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/monitor.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict, node:http, node:net and server.mjs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, StringCodec, AckPolicy } from "nats";
import { startServer, stopAllServers, freePort, serverKind, sleep, WAIT_MS } from "./server.mjs";

const TEST_TIMEOUT_MS = 20000;
const sc = StringCodec();
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

after(async () => {
  await stopAllServers();
});

/** GET http://127.0.0.1:port/target -> {status, headers, body} (bounded; retried while refused). */
async function get(port, target, method = "GET") {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: target, method, agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
          res.on("error", reject);
        });
        req.setTimeout(WAIT_MS, () => req.destroy(new Error(`timed out: ${method} ${target}`)));
        req.on("error", reject);
        req.end();
      });
    } catch (e) {
      if (e.code !== "ECONNREFUSED" || Date.now() > deadline) throw e;
      await sleep(20);
    }
  }
}

/** GET expecting 200 JSON; the parsed body. */
async function getJSON(port, target) {
  const r = await get(port, target);
  assert.equal(r.status, 200, `${target}: ${r.body}`);
  assert.match(r.headers["content-type"], /^application\/json/);
  return JSON.parse(r.body);
}

/** Raw bytes to the port; resolves to everything answered once the server closes. */
function raw(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let out = "";
    sock.setTimeout(WAIT_MS, () => sock.destroy(new Error("no close from the server")));
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (d) => (out += d.toString("latin1")));
    sock.on("end", () => resolve(out));
    sock.on("close", () => resolve(out));
    sock.on("error", (e) => (out ? resolve(out) : reject(e)));
  });
}

/** A test with its own server on -m <free port>, nats.js connections closed afterwards. */
function monitorTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
    const mport = await freePort();
    const srv = await startServer(["-m", String(mport)]);
    const conns = [];
    const open = async (opts = {}) => {
      const nc = await connect({ servers: srv.hostport, reconnect: false, timeout: WAIT_MS, ...opts });
      conns.push(nc);
      return nc;
    };
    try {
      await fn({ srv, mport, open });
    } finally {
      for (const nc of conns) if (!nc.isClosed()) await nc.close().catch(() => {});
      const alive = srv.alive();
      const why = alive ? "" : srv.describeExit();
      await srv.close();
      assert.ok(alive, `the server is no longer running: ${why}`);
    }
  });
}

/** Two clients: "mon-pub" publishes 3 x "hello" on mon.x, "mon-sub" receives them. */
async function activity(open) {
  const sub = await open({ name: "mon-sub" });
  const pub = await open({ name: "mon-pub" });
  const got = [];
  sub.subscribe("mon.x", { callback: (err, m) => !err && got.push(sc.decode(m.data)) });
  await sub.flush();
  for (let i = 0; i < 3; i++) pub.publish("mon.x", sc.encode("hello"));
  await pub.flush();
  const deadline = Date.now() + WAIT_MS;
  while (got.length < 3 && Date.now() < deadline) await sleep(5);
  assert.equal(got.length, 3);
  return { sub, pub };
}

monitorTest("healthz answers ok", async ({ mport }) => {
  const h = await getJSON(mport, "/healthz");
  assert.deepEqual(h, { status: "ok" });
});

/** /varz once server.mjs's readiness probe (a TCP connect and close) is counted and gone. */
async function settledVarz(mport) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await getJSON(mport, "/varz");
    if ((v.total_connections >= 1 && v.connections === 0) || Date.now() > deadline) return v;
    await sleep(10);
  }
}

monitorTest("varz: identity, limits and counters after known activity", async ({ srv, mport, open }) => {
  const before = await settledVarz(mport);
  await activity(open);
  const v = await getJSON(mport, "/varz");
  assert.equal(typeof v.server_id, "string");
  assert.match(v.server_id, /^N[A-Z2-7]{55}$/);
  assert.equal(typeof v.server_name, "string");
  assert.equal(v.version, "2.9.10");
  assert.equal(v.proto, 1);
  assert.equal(v.port, srv.port);
  assert.equal(v.http_port, mport);
  assert.equal(v.max_payload, 1048576);
  assert.equal(v.max_control_line, 4096);
  assert.equal(v.max_connections, 65536);
  assert.equal(v.max_pending, 64 * 1024 * 1024);
  assert.equal(v.ping_interval, 120e9);
  assert.equal(v.ping_max, 2);
  assert.match(v.start, RFC3339);
  assert.match(v.now, RFC3339);
  assert.ok(Date.parse(v.now) >= Date.parse(v.start));
  assert.match(v.uptime, /^(\d+[ydhm])*\d+s$/);
  assert.equal(v.connections, 2);
  assert.equal(v.total_connections - before.total_connections, 2);
  assert.equal(v.in_msgs - before.in_msgs, 3);
  assert.equal(v.in_bytes - before.in_bytes, 15);
  assert.equal(v.out_msgs - before.out_msgs, 3);
  assert.equal(v.out_bytes - before.out_bytes, 15);
  assert.equal(v.slow_consumers, 0);
  assert.equal(v.subscriptions - before.subscriptions, 1);
  assert.equal(typeof v.jetstream.config, "object");
  assert.equal(typeof v.jetstream.stats.api.total, "number");
  assert.equal(v.http_req_stats["/varz"], before.http_req_stats["/varz"] + 1);
});

monitorTest("connz: connections in cid order with their own counters, subs and paging", async ({ mport, open }) => {
  await activity(open);
  // pending_bytes is what the server has queued and not yet written: under load nats-server can
  // show a few bytes (a PONG) for a moment. Wait until both connections have drained.
  let c;
  const deadline = Date.now() + WAIT_MS;
  do {
    c = await getJSON(mport, "/connz?subs=1");
    if (c.connections.every((ci) => ci.pending_bytes === 0)) break;
    await sleep(10);
  } while (Date.now() < deadline);
  assert.equal(c.num_connections, 2);
  assert.equal(c.total, 2);
  assert.equal(c.offset, 0);
  assert.equal(typeof c.limit, "number");
  assert.match(c.now, RFC3339);
  const [a, b] = c.connections;
  assert.ok(a.cid < b.cid);
  assert.equal(a.name, "mon-sub");
  assert.equal(b.name, "mon-pub");
  for (const ci of [a, b]) {
    assert.equal(ci.ip, "127.0.0.1");
    assert.equal(typeof ci.port, "number");
    assert.match(ci.start, RFC3339);
    assert.match(ci.last_activity, RFC3339);
    assert.equal(typeof ci.uptime, "string");
    assert.equal(typeof ci.idle, "string");
    assert.equal(ci.pending_bytes, 0);
    assert.equal(ci.lang, "nats.js");
    assert.equal(typeof ci.version, "string");
  }
  assert.equal(a.subscriptions, 1);
  assert.deepEqual(a.subscriptions_list, ["mon.x"]);
  assert.equal(a.out_msgs, 3);
  assert.equal(a.out_bytes, 15);
  assert.equal(a.in_msgs, 0);
  assert.equal(b.in_msgs, 3);
  assert.equal(b.in_bytes, 15);
  assert.equal(b.out_msgs, 0);
  assert.equal(b.subscriptions, 0);
  assert.equal(b.subscriptions_list, undefined);

  const plain = await getJSON(mport, "/connz");
  assert.equal(plain.connections[0].subscriptions_list, undefined);
  const page = await getJSON(mport, "/connz?offset=1&limit=1");
  assert.equal(page.num_connections, 1);
  assert.equal(page.total, 2);
  assert.equal(page.offset, 1);
  assert.equal(page.limit, 1);
  assert.equal(page.connections[0].cid, b.cid);
});

monitorTest("subsz: the subject trie's counters", async ({ mport, open }) => {
  const before = await getJSON(mport, "/subsz");
  await activity(open);
  const s = await getJSON(mport, "/subsz");
  for (const k of ["num_subscriptions", "num_cache", "num_inserts", "num_removes", "num_matches",
    "cache_hit_rate", "max_fanout", "avg_fanout"]) {
    assert.equal(typeof s[k], "number", k);
  }
  assert.equal(s.num_subscriptions - before.num_subscriptions, 1);
  assert.equal(s.num_inserts - before.num_inserts, 1);
  // nats-server's clients keep their own match cache: the trie sees one match per subject
  assert.ok(s.num_matches - before.num_matches >= 1);
  assert.ok(s.max_fanout >= 1);
});

monitorTest("jsz: streams, consumers, messages and the per-stream detail", async ({ mport, open }) => {
  const nc = await open();
  const jsm = await nc.jetstreamManager({ timeout: WAIT_MS });
  await jsm.streams.add({ name: "MON", subjects: ["mon.js.>"] });
  const js = nc.jetstream({ timeout: WAIT_MS });
  await js.publish("mon.js.a", sc.encode("one"));
  await js.publish("mon.js.b", sc.encode("two"));
  await jsm.consumers.add("MON", { durable_name: "C1", ack_policy: AckPolicy.Explicit });
  const j = await getJSON(mport, "/jsz");
  assert.match(j.server_id, /^N/);
  assert.match(j.now, RFC3339);
  assert.equal(j.streams, 1);
  assert.equal(j.consumers, 1);
  assert.equal(j.messages, 2);
  assert.ok(j.bytes > 0);
  assert.equal(j.storage, j.bytes); // a file stream
  assert.equal(j.memory, 0);
  assert.equal(typeof j.api.total, "number");
  assert.ok(j.api.total >= 3);
  assert.equal(typeof j.api.errors, "number");
  assert.equal(typeof j.config.max_memory, "number");
  assert.equal(typeof j.config.store_dir, "string");
  assert.equal(j.account_details, undefined);
  const d = await getJSON(mport, "/jsz?streams=1&consumers=1");
  const acc = d.account_details[0];
  assert.equal(acc.name, "$G");
  const sd = acc.stream_detail[0];
  assert.equal(sd.name, "MON");
  assert.match(sd.created, RFC3339);
  assert.equal(sd.state.messages, 2);
  assert.equal(sd.state.last_seq, 2);
  assert.equal(sd.consumer_detail[0].name, "C1");
  assert.equal(sd.consumer_detail[0].num_pending, 2);
});

monitorTest("unknown paths are 404, garbage is 400 and closed", async ({ mport }) => {
  const nf = await get(mport, "/nope");
  assert.equal(nf.status, 404);
  const bad = await raw(mport, "hello world\r\n\r\n");
  assert.match(bad, /^HTTP\/1\.1 400 /);
  const big = await raw(mport, "GET /varz HTTP/1.1\r\n" + "X-Pad: " + "x".repeat(1 << 20) + "\r\n\r\n");
  assert.match(big, /^HTTP\/1\.1 (400|431) /); // nats-server (Go) says 431 for too-large headers
  if (serverKind === "minijet") {
    // Go's mux serves any method; minijet refuses all but GET
    const post = await get(mport, "/varz", "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET");
  }
});

// --- minijet beside nats-server: same names, same JSON types --------------------------------

const natsServerBin = process.env.NATS_SERVER_BIN || "nats-server";
const haveNatsServer = spawnSync(natsServerBin, ["--version"]).status === 0;

/** Start nats-server directly (server.mjs serves one kind per run). */
async function startNatsServerBeside() {
  const port = await freePort();
  const mport = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-mon-ns-"));
  const proc = spawn(natsServerBin, ["-a", "127.0.0.1", "-p", String(port), "-m", String(mport), "-js", "-sd", dir],
    { stdio: "ignore", detached: true });
  const stop = async () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      /* gone */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // ready when /healthz says so (503 "failed to be ready for connections" until then)
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const h = await get(mport, "/healthz").catch(() => ({ status: 0 }));
    if (h.status === 200) return { port, mport, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server on ${port} not healthy within ${WAIT_MS} ms`);
    }
    await sleep(20);
  }
}

const jsonType = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** Every key of `ours` (recursively; arrays by their first element) must be in `theirs` with
 * the same type. Returns the differences as strings. */
function shapeDiff(ours, theirs, where = "") {
  const out = [];
  for (const [k, v] of Object.entries(ours)) {
    const at = `${where}.${k}`;
    if (!(k in theirs)) {
      out.push(`${at}: not in nats-server's answer`);
      continue;
    }
    const t = theirs[k];
    if (jsonType(v) !== jsonType(t)) out.push(`${at}: ${jsonType(v)} here, ${jsonType(t)} there`);
    else if (jsonType(v) === "object") out.push(...shapeDiff(v, t, at));
    else if (jsonType(v) === "array" && v.length && t.length && jsonType(v[0]) === "object")
      out.push(...shapeDiff(v[0], t[0], `${at}[0]`));
  }
  return out;
}

test("minijet's fields exist in nats-server 2.9.10's answers, with the same types",
  { timeout: TEST_TIMEOUT_MS, skip: serverKind !== "minijet" || !haveNatsServer ? "needs minijet + nats-server" : false },
  async () => {
    const mport = await freePort();
    const mj = await startServer(["-m", String(mport)]);
    const ns = await startNatsServerBeside();
    const conns = [];
    try {
      for (const [port, name] of [[mj.port, "mj"], [ns.port, "ns"]]) {
        const nc = await connect({ servers: `127.0.0.1:${port}`, name, reconnect: false, timeout: WAIT_MS });
        conns.push(nc);
        nc.subscribe("shape.x", { callback: () => {} });
        nc.publish("shape.x", sc.encode("hi"));
        const jsm = await nc.jetstreamManager({ timeout: WAIT_MS });
        await jsm.streams.add({ name: "SHAPE", subjects: ["shape.js.>"] });
        await nc.jetstream({ timeout: WAIT_MS }).publish("shape.js.a", sc.encode("one"));
        await jsm.consumers.add("SHAPE", { durable_name: "C", ack_policy: AckPolicy.Explicit });
        await nc.flush();
      }
      const problems = [];
      for (const target of ["/varz", "/connz?subs=1", "/subsz", "/jsz?streams=1&consumers=1", "/healthz"]) {
        const ours = await getJSON(mport, target);
        const theirs = await getJSON(ns.mport, target);
        problems.push(...shapeDiff(ours, theirs, target));
      }
      assert.deepEqual(problems, []);
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
      await ns.stop();
      await mj.close();
    }
  });
