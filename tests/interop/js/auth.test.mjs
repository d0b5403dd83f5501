// auth.test.mjs — authentication and permissions through the real nats.js client (issue 17).
//
// Every test starts a fresh server with one of the config files in tests/interop/conf/ — the
// same file for minijet and for nats-server 2.9.10 — and checks what a client sees: which
// credentials connect, which publishes and subscriptions are refused (and with which error),
// what a subscriber receives, and that a responder may answer requests and nothing else.
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/auth.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict, node:net and server.mjs.
import { after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { StringCodec, ErrorCode, Events, createInbox } from "nats";
import { stopAllServers, confPath, serverTest, within, sleep, WAIT_MS } from "./server.mjs";

const QUIET_MS = 150; // how long we listen to be sure nothing (more) arrives
const sc = StringCodec();

after(async () => {
  await stopAllServers();
});

const flush = (nc) => within(nc.flush(), WAIT_MS, "flush");

/** A test with its own server started with `args` (serverTest, server.mjs). */
const authTest = (name, args, fn) => serverTest(name, fn, { args });

/** connect must fail with an Authorization Violation. */
async function refused(open, opts) {
  await assert.rejects(open(opts), (err) => {
    assert.equal(err.code, ErrorCode.AuthorizationViolation, `${err.code}: ${err.message}`);
    return true;
  });
}

/** Collect the permission errors the server reports on this connection. */
function permissionErrors(nc) {
  const seen = [];
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === Events.Error && s.data === ErrorCode.PermissionsViolation) seen.push(s.permissionContext);
    }
  })().catch(() => {});
  return seen;
}

async function until(cond, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

/** A subscription that records what it receives. */
function collect(nc, subject, opts = {}) {
  const got = [];
  const sub = nc.subscribe(subject, { ...opts, callback: (err, m) => (err ? got.push(err) : got.push(m)) });
  return { sub, got, data: () => got.filter((m) => m.subject).map((m) => `${m.subject}:${sc.decode(m.data)}`) };
}

const USERS = ["-c", confPath("auth-users")];
const TOKEN = ["-c", confPath("auth-token")];
const NOAUTH = ["-c", confPath("auth-noauth")];

// --------------------------------------------------------------------- who may connect

authTest("plain password: right one connects, INFO says auth_required", USERS, async ({ open }) => {
  const nc = await open({ user: "plain", pass: "pw-plain" });
  assert.equal(nc.info.auth_required, true);
  const c = collect(nc, "x");
  nc.publish("x", sc.encode("1"));
  await flush(nc);
  await until(() => c.got.length === 1, "own message");
});

authTest("wrong password, unknown user, no credentials: Authorization Violation", USERS, async ({ open }) => {
  await refused(open, { user: "plain", pass: "pw-wrong" });
  await refused(open, { user: "nobody", pass: "pw-plain" });
  await refused(open, {});
  await refused(open, { token: "pw-plain" });
});

authTest("bcrypt $2a$ and $2b$ passwords", USERS, async ({ open }) => {
  await open({ user: "admin", pass: "admin-s3cret" });
  await open({ user: "bcryptb", pass: "admin-s3cret" });
  await refused(open, { user: "admin", pass: "admin-s3cre" });
  // the hash itself is not a password
  await refused(open, { user: "admin", pass: "$2a$06$zwSjvwRTCkik4mSf2TJpQ.HnV0GGnkZwsWQQuNBpkreUOnjtVorpy" });
});

authTest("bcrypt token: right connects, wrong or missing is refused", TOKEN, async ({ open }) => {
  const nc = await open({ token: "tok-s3cret" });
  assert.equal(nc.info.auth_required, true);
  await refused(open, { token: "tok-s3cret!" });
  await refused(open, {});
  await refused(open, { user: "tok-s3cret", pass: "tok-s3cret" });
});

authTest("a client that never sends CONNECT gets 'Authentication Timeout'", TOKEN, async ({ srv }) => {
  const sock = net.connect({ host: "127.0.0.1", port: srv.port });
  let text = "";
  const t0 = Date.now();
  await within(
    new Promise((resolve, reject) => {
      sock.on("data", (d) => (text += d.toString()));
      sock.on("close", resolve);
      sock.on("error", reject);
    }),
    WAIT_MS,
    "server closes the silent connection",
  );
  const ms = Date.now() - t0;
  assert.match(text, /^INFO \{.*"auth_required":true.*\} \r\n-ERR 'Authentication Timeout'\r\n$/s);
  assert.ok(ms >= 400 && ms < 3000, `closed after ${ms} ms (timeout: 0.5)`);
});

authTest("--user/--pass flags", ["--user", "u1", "--pass", "p1"], async ({ open }) => {
  await open({ user: "u1", pass: "p1" });
  await refused(open, { user: "u1", pass: "p2" });
  await refused(open, {});
});

authTest("--auth flag (token)", ["--auth", "t1"], async ({ open }) => {
  await open({ token: "t1" });
  await refused(open, { token: "t2" });
});

authTest("no_auth_user: no credentials = that user, with its permissions", NOAUTH, async ({ open }) => {
  const guest = await open({});
  // nats-server leaves auth_required out of INFO when a no_auth_user exists
  assert.notEqual(guest.info.auth_required, true);
  const admin = await open({ user: "admin", pass: "pw-admin" });
  await refused(open, { user: "admin", pass: "wrong" });
  const errs = permissionErrors(guest);
  const seen = collect(admin, ">");
  await flush(admin);
  guest.publish("public.a", sc.encode("1"));
  guest.publish("private.a", sc.encode("2"));
  await flush(guest);
  await until(() => errs.length === 1, "publish violation");
  assert.deepEqual(errs[0], { operation: "publish", subject: "private.a", queue: undefined });
  await flush(admin);
  await sleep(QUIET_MS);
  assert.deepEqual(seen.data(), ["public.a:1"]);
});

// --------------------------------------------------------------------- publish

authTest("publish allow/deny: denied subjects are refused and never delivered", USERS, async ({ open }) => {
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  const limited = await open({ user: "limited", pass: "pw-limited" });
  const seen = collect(admin, ">");
  await flush(admin);
  const errs = permissionErrors(limited);
  limited.publish("orders.secret", sc.encode("no"));
  limited.publish("other.thing", sc.encode("no"));
  limited.publish("orders.new", sc.encode("yes"));
  await flush(limited);
  await until(() => errs.length === 2, "two publish violations");
  assert.deepEqual(
    errs.map((e) => `${e.operation} ${e.subject}`),
    ["publish orders.secret", "publish other.thing"],
  );
  await flush(admin);
  await sleep(QUIET_MS);
  assert.deepEqual(seen.data(), ["orders.new:yes"]);
  assert.equal(limited.isClosed(), false, "a permission violation does not close the connection");
});

// --------------------------------------------------------------------- subscribe

authTest("subscribe allow/deny: a denied SUB is refused with its subject", USERS, async ({ open }) => {
  const limited = await open({ user: "limited", pass: "pw-limited" });
  const hidden = collect(limited, "orders.hidden");
  const other = collect(limited, "elsewhere");
  const ok = collect(limited, "orders.new");
  await flush(limited);
  await until(() => hidden.got.length === 1 && other.got.length === 1, "two subscription errors");
  for (const [c, subj] of [[hidden, "orders.hidden"], [other, "elsewhere"]]) {
    assert.equal(c.got[0].code, ErrorCode.PermissionsViolation);
    // the -ERR text as sent, single quotes included
    assert.equal(c.got[0].message, `'Permissions Violation for Subscription to "${subj}"'`);
  }
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  admin.publish("orders.new", sc.encode("1"));
  await flush(admin);
  await until(() => ok.got.length === 1, "allowed subscription receives");
  assert.deepEqual(ok.data(), ["orders.new:1"]);
});

authTest("a wildcard SUB wider than a deny rule does not receive the denied subject", USERS, async ({ open }) => {
  const limited = await open({ user: "limited", pass: "pw-limited" });
  const all = collect(limited, "orders.>");
  await flush(limited);
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  for (const s of ["orders.hidden", "orders.a", "orders.hidden.deeper", "orders.b"]) admin.publish(s, sc.encode("x"));
  await flush(admin);
  await until(() => all.got.length >= 3, "three deliveries");
  await sleep(QUIET_MS);
  assert.deepEqual(all.data(), ["orders.a:x", "orders.hidden.deeper:x", "orders.b:x"]);
});

// --------------------------------------------------------------------- request / reply

authTest("allow_responses: a responder answers requests but may publish nothing else", USERS, async ({ open }) => {
  const responder = await open({ user: "responder", pass: "pw-responder" });
  const errs = permissionErrors(responder);
  responder.subscribe("svc.echo", { callback: (_err, m) => m.respond(m.data) });
  await flush(responder);
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  const reply = await within(admin.request("svc.echo", sc.encode("ping"), { timeout: WAIT_MS }), WAIT_MS + 500, "request");
  assert.equal(sc.decode(reply.data), "ping");
  const seen = collect(admin, "news");
  await flush(admin);
  responder.publish("news", sc.encode("spam"));
  await flush(responder);
  await until(() => errs.length === 1, "publish violation");
  assert.equal(errs[0].subject, "news");
  await flush(admin);
  await sleep(QUIET_MS);
  assert.equal(seen.got.length, 0);
});

/** Send one request to svc.many with our own inbox; the responder answers `n` times. */
async function responsesThrough(open, user, pass, n) {
  const responder = await open({ user, pass });
  const errs = permissionErrors(responder);
  responder.subscribe("svc.many", {
    callback: (_err, m) => {
      for (let i = 1; i <= n; i++) responder.publish(m.reply, sc.encode(String(i)));
    },
  });
  await flush(responder);
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  const inbox = createInbox();
  const answers = collect(admin, inbox);
  await flush(admin);
  admin.publish("svc.many", sc.encode("go"), { reply: inbox });
  await flush(admin);
  await until(() => answers.got.length >= 1, "a response");
  await flush(responder);
  await flush(admin);
  await sleep(QUIET_MS);
  // a publish to a reply subject nobody sent a request to is refused as well
  responder.publish(`${inbox}.forged`, sc.encode("x"));
  await flush(responder);
  return { answers: answers.got.map((m) => sc.decode(m.data)), errs };
}

authTest("allow_responses: true allows one response per request", USERS, async ({ open }) => {
  const { answers, errs } = await responsesThrough(open, "responder", "pw-responder", 3);
  assert.deepEqual(answers, ["1"]);
  await until(() => errs.length === 3, "two refused responses and the forged one");
});

authTest("allow_responses { max: 2 } allows two", USERS, async ({ open }) => {
  const { answers, errs } = await responsesThrough(open, "responder2", "pw-responder2", 3);
  assert.deepEqual(answers, ["1", "2"]);
  await until(() => errs.length === 2, "one refused response and the forged one");
});

// --------------------------------------------------------------------- JetStream API

authTest("JetStream API subjects obey permissions", USERS, async ({ open }) => {
  const admin = await open({ user: "admin", pass: "admin-s3cret" });
  const ajsm = await admin.jetstreamManager();
  await ajsm.streams.add({ name: "JOBS", subjects: ["jobs.>"] });
  const nc = await open({ user: "jsuser", pass: "pw-jsuser" });
  const jsm = await within(nc.jetstreamManager(), WAIT_MS, "jetstreamManager");
  const js = nc.jetstream();
  const ack = await within(js.publish("jobs.1", sc.encode("a")), WAIT_MS, "publish");
  assert.equal(ack.seq, 1);
  const info = await jsm.streams.info("JOBS");
  assert.equal(info.state.messages, 1);
  await assert.rejects(
    within(jsm.streams.delete("JOBS"), WAIT_MS, "delete"),
    (err) => err.code === ErrorCode.PermissionsViolation || /Permissions Violation/.test(err.message),
  );
  const after = await ajsm.streams.info("JOBS");
  assert.equal(after.state.messages, 1, "the stream is still there");
});
