// core.test.mjs — core NATS messaging through the real nats.js client (npm `nats` 2.29.3).
//
// Every test starts a fresh server (minijet or nats-server, see server.mjs), drives it with nats.js
// and checks only what the protocol promises, so the suite passes against nats-server 2.9.10
// unchanged. Every wait is bounded. Run one file at a time:
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/core.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { after } from "node:test";
import assert from "node:assert/strict";
import { headers, StringCodec, JSONCodec, ErrorCode, Events } from "nats";
import { stopAllServers, serverTest, within, sleep, WAIT_MS } from "./server.mjs";

const QUIET_MS = 100; // how long we listen to be sure nothing (more) arrives
const sc = StringCodec();
const jc = JSONCodec();

after(async () => {
  await stopAllServers();
});

/** Flush (PING/PONG) with a bound. */
const flush = (nc) => within(nc.flush(), WAIT_MS, "flush");

/** Subscribe with a callback that collects messages; waitFor(n) resolves once n arrived. */
function collector(nc, subject, opts = {}) {
  const msgs = [];
  const errors = [];
  let waiters = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, m) => {
      if (err) errors.push(err);
      else msgs.push(m);
      waiters = waiters.filter((w) => !w.check());
    },
  });
  return {
    sub,
    msgs,
    errors,
    waitFor(n, ms = WAIT_MS) {
      return within(
        new Promise((resolve) => {
          const w = { check: () => (msgs.length >= n ? (resolve(msgs), true) : false) };
          if (!w.check()) waiters.push(w);
        }),
        ms,
        `${n} messages on ${subject} (got ${msgs.length})`,
      );
    },
    data() {
      return msgs.map((m) => sc.decode(m.data));
    },
  };
}

function pattern(n, seed) {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

serverTest("connect: INFO fields, flush, rtt, close", async ({ srv, open }) => {
  const nc = await open({ name: "interop-js" });
  assert.equal(nc.getServer(), srv.hostport);
  assert.ok(nc.info.server_id && nc.info.server_id.length > 0, "server_id");
  assert.ok(nc.info.version.startsWith("2.9"), `version ${nc.info.version}`);
  assert.equal(nc.info.proto, 1);
  assert.equal(nc.info.headers, true);
  assert.equal(nc.info.max_payload, 1048576);
  assert.ok(nc.info.client_id > 0, "client_id");
  await flush(nc);
  const rtt = await within(nc.rtt(), WAIT_MS, "rtt");
  assert.ok(rtt >= 0 && rtt < 1000, `rtt ${rtt}`);
  const nc2 = await open();
  assert.notEqual(nc2.info.client_id, nc.info.client_id, "two connections share a client_id");
  await within(nc.close(), WAIT_MS, "close");
  const err = await within(nc.closed(), WAIT_MS, "closed()");
  assert.equal(err, undefined, `closed with error ${err}`);
});

serverTest("pub/sub: subject, payload, reply, empty payload, no stray deliveries", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const c = collector(sub, "greet.joe");
  await flush(sub);
  pub.publish("greet.joe", sc.encode("hello"));
  pub.publish("greet.joe", sc.encode("with reply"), { reply: "my.reply" });
  pub.publish("greet.joe");
  pub.publish("greet.jane", sc.encode("no"));
  pub.publish("greet", sc.encode("no"));
  pub.publish("greet.joe.x", sc.encode("no"));
  await flush(pub);
  await c.waitFor(3);
  await flush(sub);
  await sleep(QUIET_MS);
  assert.equal(c.msgs.length, 3, `got ${c.msgs.length} messages`);
  assert.equal(c.msgs[0].subject, "greet.joe");
  assert.equal(sc.decode(c.msgs[0].data), "hello");
  assert.ok(!c.msgs[0].reply, "no reply expected");
  assert.equal(c.msgs[1].reply, "my.reply");
  assert.equal(sc.decode(c.msgs[1].data), "with reply");
  assert.equal(c.msgs[2].data.length, 0);
  assert.equal(c.sub.getReceived(), 3);
});

serverTest("wildcards: * and >", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const patterns = {
    "w.*": ["w.a", "w.b"],
    "w.>": ["w.a", "w.b", "w.a.b", "w.a.c", "w.a.b.c", "w.x.y.z.q"],
    "w.*.c": ["w.a.c"],
    "w.a.b": ["w.a.b"],
    "*.a.*": ["w.a.b", "w.a.c", "v.a.z"],
    "w.*.*.>": ["w.a.b.c", "w.x.y.z.q"],
  };
  const cols = Object.fromEntries(Object.keys(patterns).map((p) => [p, collector(sub, p)]));
  await flush(sub);
  for (const s of ["w.a", "w", "w.b", "w.a.b", "w.a.c", "w.a.b.c", "v.a.z", "v.b.z", "w.x.y.z.q", "ww.a"]) {
    pub.publish(s, sc.encode(s));
  }
  await flush(pub);
  for (const [p, want] of Object.entries(patterns)) await cols[p].waitFor(want.length);
  await flush(sub);
  await sleep(QUIET_MS);
  for (const [p, want] of Object.entries(patterns)) {
    assert.deepEqual(
      cols[p].msgs.map((m) => m.subject),
      want,
      `subscription ${p}`,
    );
  }
});

serverTest("queue groups: each message to exactly one member, every member gets some", async ({ open }) => {
  const N = 1000;
  const pub = await open();
  const members = [];
  const memberConns = [];
  for (let i = 0; i < 3; i++) {
    const nc = await open();
    memberConns.push(nc);
    members.push(collector(nc, "jobs.new", { queue: "workers" }));
    await flush(nc);
  }
  const plainConn = await open();
  const plain = collector(plainConn, "jobs.new");
  await flush(plainConn);
  for (let i = 0; i < N; i++) pub.publish("jobs.new", sc.encode(String(i)));
  await flush(pub);
  await plain.waitFor(N);
  await within(
    (async () => {
      while (members.reduce((a, m) => a + m.msgs.length, 0) < N) await sleep(5);
    })(),
    WAIT_MS,
    "queue members to receive all messages",
  );
  for (const nc of memberConns) await flush(nc);
  await sleep(QUIET_MS);
  const seen = new Map();
  for (const m of members) for (const d of m.data()) seen.set(d, (seen.get(d) || 0) + 1);
  const total = members.reduce((a, m) => a + m.msgs.length, 0);
  assert.equal(total, N, `members received ${total} in total`);
  for (let i = 0; i < N; i++) assert.equal(seen.get(String(i)), 1, `message ${i} delivered ${seen.get(String(i)) || 0} times`);
  const split = members.map((m) => m.msgs.length);
  for (const n of split) assert.ok(n > 0, `a member received nothing: split ${split.join("/")}`);
  assert.deepEqual(plain.data(), Array.from({ length: N }, (_, i) => String(i)), "plain subscriber order");
});

serverTest("subscribe with {max: 3}: three messages, then the interest is gone", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const c = collector(sub, "limited", { max: 3 });
  await flush(sub);
  for (let i = 0; i < 5; i++) pub.publish("limited", sc.encode(String(i)));
  await flush(pub);
  await c.waitFor(3);
  await flush(sub);
  await sleep(QUIET_MS);
  assert.deepEqual(c.data(), ["0", "1", "2"]);
  assert.equal(c.sub.isClosed(), true, "subscription closed after max");
  await assert.rejects(within(pub.request("limited", sc.encode("anyone?"), { timeout: WAIT_MS }), WAIT_MS + 1000, "request"), (err) => {
    assert.equal(err.code, ErrorCode.NoResponders, `expected 503, got ${err.code} ${err.message}`);
    return true;
  });
});

serverTest("unsubscribe: interest removed", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const gone = collector(sub, "unsub.me");
  const other = collector(sub, "unsub.*");
  await flush(sub);
  gone.sub.unsubscribe();
  await flush(sub);
  pub.publish("unsub.me", sc.encode("after"));
  await flush(pub);
  await other.waitFor(1);
  await flush(sub);
  await sleep(QUIET_MS);
  assert.equal(gone.msgs.length, 0);
  other.sub.unsubscribe();
  await flush(sub);
  await assert.rejects(pub.request("unsub.me", sc.encode("?"), { timeout: WAIT_MS }), (err) => err.code === ErrorCode.NoResponders);
});

serverTest("request/reply with a responder (also on the requester's own connection)", async ({ open }) => {
  const rc = await open();
  const qc = await open();
  rc.subscribe("svc.echo", {
    callback: (err, m) => {
      if (!err) m.respond(sc.encode(`re:${sc.decode(m.data)}`));
    },
  });
  await flush(rc);
  for (let i = 0; i < 100; i++) {
    const r = await qc.request("svc.echo", sc.encode(`ping-${i}`), { timeout: WAIT_MS });
    assert.equal(sc.decode(r.data), `re:ping-${i}`);
  }
  // Concurrent requests, answers matched to their requests.
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) => qc.request("svc.echo", sc.encode(`c${i}`), { timeout: WAIT_MS })),
  );
  many.forEach((r, i) => assert.equal(sc.decode(r.data), `re:c${i}`));
  qc.subscribe("svc.self", { callback: (err, m) => m.respond(sc.encode("me")) });
  const r = await qc.request("svc.self", sc.encode("x"), { timeout: WAIT_MS });
  assert.equal(sc.decode(r.data), "me");
});

serverTest("no responders: the request fails fast with code 503", async ({ open }) => {
  const nc = await open();
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await assert.rejects(nc.request("nobody.home", sc.encode("hello?"), { timeout: WAIT_MS }), (err) => {
      assert.equal(err.code, "503", `got ${err.code}: ${err.message}`);
      return true;
    });
    assert.ok(Date.now() - t0 < WAIT_MS / 2, `503 took ${Date.now() - t0} ms`);
  }
  await flush(nc);
});

serverTest("headers: set/append/get/values round trip, headers-only message", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const c = collector(sub, "hdrs");
  await flush(sub);
  const h = headers();
  h.set("X-Single", "one value");
  h.append("X-Multi", "first");
  h.append("X-Multi", "second");
  h.append("X-Multi", "third: with colon");
  h.set("X-Replaced", "old");
  h.set("X-Replaced", "new");
  pub.publish("hdrs", sc.encode("body"), { headers: h, reply: "hdrs.reply" });
  const h2 = headers();
  h2.set("Only", "headers");
  pub.publish("hdrs", undefined, { headers: h2 });
  await flush(pub);
  await c.waitFor(2);
  const [m, m2] = c.msgs;
  assert.equal(sc.decode(m.data), "body");
  assert.equal(m.reply, "hdrs.reply");
  assert.ok(m.headers, "headers lost");
  assert.equal(m.headers.get("X-Single"), "one value");
  assert.deepEqual(m.headers.values("X-Multi"), ["first", "second", "third: with colon"]);
  assert.deepEqual(m.headers.values("X-Replaced"), ["new"]);
  assert.equal(m.headers.has("X-Absent"), false);
  assert.deepEqual([...m.headers.keys()].sort(), ["X-Multi", "X-Replaced", "X-Single"]);
  assert.equal(m2.data.length, 0);
  assert.equal(m2.headers.get("Only"), "headers");
  // Headers on a request and on its reply.
  sub.subscribe("hdr.svc", {
    callback: (err, rq) => {
      const rh = headers();
      rh.set("Echo", rq.headers ? rq.headers.get("Ask") : "none");
      rq.respond(sc.encode("ok"), { headers: rh });
    },
  });
  await flush(sub);
  const qh = headers();
  qh.set("Ask", "please");
  const r = await pub.request("hdr.svc", sc.encode("q"), { timeout: WAIT_MS, headers: qh });
  assert.equal(r.headers.get("Echo"), "please");
});

serverTest("max payload: 1048576 advertised, bigger publishes throw, exactly max passes", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  assert.equal(pub.info.max_payload, 1048576);
  const c = collector(sub, "big");
  await flush(sub);
  assert.throws(
    () => pub.publish("big", new Uint8Array(1048577)),
    (err) => {
      assert.equal(err.code, ErrorCode.MaxPayloadExceeded, `got ${err.code}: ${err.message}`);
      return true;
    },
  );
  assert.equal(pub.isClosed(), false);
  const data = pattern(1048576, 7);
  pub.publish("big", data);
  await flush(pub);
  await c.waitFor(1);
  assert.equal(c.msgs[0].data.length, data.length);
  assert.ok(Buffer.from(c.msgs[0].data).equals(Buffer.from(data)), "max_payload message altered");
});

serverTest("large payload (1 MiB - 1) round trip byte-exact", async ({ open }) => {
  const sub = await open();
  const pub = await open();
  const c = collector(sub, "large");
  await flush(sub);
  const sizes = [1048575, 65535, 65536, 65537, 300000, 1048575];
  const sent = sizes.map((n, i) => pattern(n, i + 1));
  for (const d of sent) pub.publish("large", d);
  await flush(pub);
  await c.waitFor(sizes.length, 10000);
  sent.forEach((d, i) => {
    assert.equal(c.msgs[i].data.length, d.length, `message ${i} size`);
    assert.ok(Buffer.from(c.msgs[i].data).equals(Buffer.from(d)), `message ${i} (${d.length} bytes) altered`);
  });
});

serverTest("noEcho: a connection does not get its own messages, still gets others'", async ({ open }) => {
  const quiet = await open({ noEcho: true });
  const loud = await open();
  const q = collector(quiet, "echo.test");
  const l = collector(loud, "echo.test");
  await flush(quiet);
  await flush(loud);
  quiet.publish("echo.test", sc.encode("from-quiet"));
  await flush(quiet);
  loud.publish("echo.test", sc.encode("from-loud"));
  await flush(loud);
  await l.waitFor(2);
  await q.waitFor(1);
  await flush(quiet);
  await sleep(QUIET_MS);
  assert.deepEqual(q.data(), ["from-loud"]);
  assert.deepEqual(l.data(), ["from-quiet", "from-loud"]);
});

serverTest("reconnect after a server restart: status sees reconnect, subs resume", async ({ srv, open }) => {
  const nc = await open({ reconnect: true, reconnectTimeWait: 50, reconnectJitter: 0, maxReconnectAttempts: -1 });
  const events = [];
  let onReconnect;
  const reconnected = new Promise((r) => (onReconnect = r));
  (async () => {
    for await (const s of nc.status()) {
      events.push(s.type);
      if (s.type === Events.Reconnect) onReconnect();
    }
  })();
  const c = collector(nc, "rc.subject");
  nc.publish("rc.subject", sc.encode("before"));
  await flush(nc);
  await c.waitFor(1);
  await srv.restart();
  await within(reconnected, 10000, `reconnect status (events so far: ${events.join(",")})`);
  assert.ok(events.includes(Events.Disconnect), `events: ${events.join(",")}`);
  nc.publish("rc.subject", sc.encode("after"));
  await within(nc.flush(), WAIT_MS, "flush after reconnect");
  await c.waitFor(2);
  const other = await open();
  other.publish("rc.subject", sc.encode("from-other"));
  await flush(other);
  await c.waitFor(3);
  assert.deepEqual(c.data(), ["before", "after", "from-other"]);
});

serverTest("drain: queued messages are processed, then the connection closes", async ({ open }) => {
  const nc = await open();
  const pub = await open();
  let processed = 0;
  nc.subscribe("drain.me", {
    callback: () => {
      processed++;
    },
  });
  await flush(nc);
  for (let i = 0; i < 500; i++) pub.publish("drain.me", sc.encode(String(i)));
  await flush(pub);
  await flush(nc);
  await within(nc.drain(), WAIT_MS, "drain");
  assert.equal(nc.isClosed(), true);
  assert.equal(processed, 500);
  // Subscription drain on a live connection.
  const c = collector(pub, "drain.sub");
  await flush(pub);
  pub.publish("drain.sub", sc.encode("x"));
  await within(c.sub.drain(), WAIT_MS, "sub drain");
  assert.equal(c.sub.isClosed(), true);
  await assert.rejects(pub.request("drain.sub", sc.encode("?"), { timeout: WAIT_MS }), (err) => err.code === "503");
});

serverTest("codecs: JSONCodec and StringCodec round trip", async ({ open }) => {
  const nc = await open();
  const j = collector(nc, "codec.json");
  const s = collector(nc, "codec.str");
  await flush(nc);
  const obj = { a: 1, b: [true, null, "x"], c: { nested: "é✓🚀" }, d: -1.5 };
  nc.publish("codec.json", jc.encode(obj));
  const str = "héllo wörld ✓ 🚀 \r\n with CRLF inside\r\n";
  nc.publish("codec.str", sc.encode(str));
  await flush(nc);
  await j.waitFor(1);
  await s.waitFor(1);
  assert.deepEqual(jc.decode(j.msgs[0].data), obj);
  assert.equal(sc.decode(s.msgs[0].data), str);
  assert.deepEqual(j.msgs[0].json(), obj);
  assert.equal(s.msgs[0].string(), str);
});

serverTest("ordering: 10,000 messages from one publisher arrive in order", async ({ open }) => {
  const N = 10000;
  const sub = await open();
  const pub = await open();
  const c = collector(sub, "ordered.>");
  await flush(sub);
  for (let i = 0; i < N; i++) pub.publish(i % 2 ? "ordered.odd" : "ordered.even", sc.encode(String(i)));
  await flush(pub);
  await c.waitFor(N, 10000);
  const got = c.data();
  for (let i = 0; i < N; i++) if (got[i] !== String(i)) assert.fail(`position ${i} holds message ${got[i]}`);
});

serverTest("many subscriptions on one connection", async ({ open }) => {
  const N = 5000;
  const sub = await open();
  const pub = await open();
  const hits = new Array(N).fill(0);
  let wrong = 0;
  for (let i = 0; i < N; i++) {
    sub.subscribe(`many.${i}`, {
      callback: (err, m) => {
        hits[i]++;
        if (m.subject !== `many.${i}`) wrong++;
      },
    });
  }
  let fan = 0;
  for (let i = 0; i < 500; i++) sub.subscribe("fan.out", { callback: () => fan++ });
  await within(sub.flush(), 10000, "flush after subscribing");
  for (let i = 0; i < N; i++) pub.publish(`many.${i}`, sc.encode("x"));
  pub.publish("fan.out");
  await flush(pub);
  await within(
    (async () => {
      while (hits.reduce((a, b) => a + b, 0) < N || fan < 500) await sleep(5);
    })(),
    10000,
    "all deliveries",
  );
  await flush(sub);
  await sleep(QUIET_MS);
  assert.equal(hits.filter((h) => h !== 1).length, 0, "every subscription got exactly one message");
  assert.equal(wrong, 0);
  assert.equal(fan, 500);
});
