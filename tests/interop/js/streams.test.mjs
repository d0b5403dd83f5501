// streams.test.mjs — JetStream streams through the real nats.js client (npm `nats` 2.29.3):
// jsm.streams.add/info/update/delete/purge/list/names/find/getMessage/deleteMessage,
// jsm.direct.getMessage, js.publish with msgID and expect, the seed document's streams, and a
// restart of the server on the same store.
//
// It checks only what nats-server 2.9.10 does too, so it passes against both servers:
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/streams.test.mjs
//   MINIJET_TEST_SERVER=minijet     node --test --test-reporter=tap tests/interop/js/streams.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, StringCodec, nanos } from "nats";
import { serverKind, startServer, stopAllServers } from "./server.mjs";

const TEST_TIMEOUT_MS = 20000;
const sc = StringCodec();

after(async () => {
  await stopAllServers();
});

/** A fresh server and a connection with its JetStream handles. */
async function setup() {
  const srv = await startServer();
  const nc = await connect({ servers: srv.url, timeout: 5000 });
  const jsm = await nc.jetstreamManager({ timeout: 5000 });
  const js = nc.jetstream({ timeout: 5000 });
  return { srv, nc, jsm, js, async done() { await nc.close(); await srv.close(); } };
}

/** The api_error of a rejected JetStream call. */
async function apiError(p) {
  try {
    await p;
  } catch (err) {
    assert.ok(err.api_error, `expected a JetStream API error, got: ${err.message}`);
    return err.api_error;
  }
  assert.fail("expected the call to fail");
}

const DAY_NS = 24 * 60 * 60 * 1_000_000_000;

test("seed: orders-stream with max_age, file storage, discard old", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    const si = await t.jsm.streams.add({
      name: "orders-stream",
      subjects: ["orders.created", "orders.updated", "orders.cancelled"],
      max_age: DAY_NS,
      storage: "file",
      discard: "old",
    });
    assert.equal(si.config.name, "orders-stream");
    assert.deepEqual(si.config.subjects, ["orders.created", "orders.updated", "orders.cancelled"]);
    assert.equal(si.config.max_age, DAY_NS);
    assert.equal(si.config.storage, "file");
    assert.equal(si.config.discard, "old");
    assert.equal(si.config.retention, "limits");
    assert.equal(si.config.duplicate_window, 120_000_000_000);
    assert.equal(si.config.num_replicas, 1);
    assert.equal(si.state.messages, 0);
    assert.equal(si.state.first_seq, 0);

    const order = { orderId: "o-1", total: 42 };
    const pa = await t.js.publish("orders.created", sc.encode(JSON.stringify(order)));
    assert.equal(pa.stream, "orders-stream");
    assert.equal(pa.seq, 1);
    assert.equal(pa.duplicate, false);
    await t.js.publish("orders.updated", sc.encode("u"));
    await t.js.publish("orders.cancelled", sc.encode("c"));

    const info = await t.jsm.streams.info("orders-stream");
    assert.equal(info.state.messages, 3);
    assert.equal(info.state.first_seq, 1);
    assert.equal(info.state.last_seq, 3);
    assert.equal(info.state.num_subjects, 3);
    assert.ok(Date.parse(info.state.last_ts) > 0);

    const m = await t.jsm.streams.getMessage("orders-stream", { seq: 1 });
    assert.equal(m.subject, "orders.created");
    assert.deepEqual(JSON.parse(sc.decode(m.data)), order);

    // The seed's second stream captures orders.> too: the two overlap, so it is refused...
    const overlap = await apiError(
      t.jsm.streams.add({ name: "ecommerce-stream", subjects: ["orders.>", "invoices.>", "shipments.>"] }),
    );
    assert.equal(overlap.err_code, 10065);
    assert.equal(overlap.description, "subjects overlap with an existing stream");

    // ...until orders-stream is gone.
    assert.equal(await t.jsm.streams.delete("orders-stream"), true);
    const eco = await t.jsm.streams.add({
      name: "ecommerce-stream",
      subjects: ["orders.>", "invoices.>", "shipments.>"],
    });
    assert.deepEqual(eco.config.subjects, ["orders.>", "invoices.>", "shipments.>"]);
    for (const subj of ["orders.created", "invoices.created", "shipments.sent.eu"]) {
      const ack = await t.js.publish(subj, sc.encode(subj));
      assert.equal(ack.stream, "ecommerce-stream");
    }
    assert.equal(await t.jsm.streams.find("invoices.paid"), "ecommerce-stream");
    const last = await t.jsm.streams.getMessage("ecommerce-stream", { last_by_subj: "shipments.>" });
    assert.equal(last.subject, "shipments.sent.eu");
    assert.equal(last.seq, 3);
  } finally {
    await t.done();
  }
});

test("add is idempotent; a different config is refused; info of a missing stream", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "IDEM", subjects: ["idem.*"] });
    const again = await t.jsm.streams.add({ name: "IDEM", subjects: ["idem.*"] });
    assert.equal(again.config.name, "IDEM");
    const diff = await apiError(t.jsm.streams.add({ name: "IDEM", subjects: ["idem.*"], max_msgs: 5 }));
    assert.equal(diff.err_code, 10058);
    const missing = await apiError(t.jsm.streams.info("NOPE"));
    assert.equal(missing.err_code, 10059);
    assert.equal(missing.description, "stream not found");
    const bad = await apiError(t.jsm.streams.add({ name: "BAD", subjects: ["a.*", "a.>"] }));
    assert.equal(bad.err_code, 10052);
    const api = await apiError(t.jsm.streams.add({ name: "API", subjects: ["$JS.API.x"] }));
    assert.equal(api.err_code, 10052);
    const dw = await apiError(t.jsm.streams.add({ name: "DW", max_age: nanos(1000), duplicate_window: nanos(2000) }));
    assert.equal(dw.err_code, 10052);
    const acct = await t.jsm.getAccountInfo();
    assert.equal(acct.streams, 1);
  } finally {
    await t.done();
  }
});

test("update, names, list", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "B", subjects: ["b.>"] });
    await t.jsm.streams.add({ name: "A", subjects: ["a.>"] });
    for (let i = 0; i < 5; i++) await t.js.publish("a.x", sc.encode(`m${i}`));
    const up = await t.jsm.streams.update("A", { max_msgs: 3, description: "trimmed" });
    assert.equal(up.config.max_msgs, 3);
    assert.equal(up.config.description, "trimmed");
    assert.equal(up.state.messages, 3);
    const storage = await apiError(t.jsm.streams.update("A", { storage: "memory" }));
    assert.equal(storage.err_code, 10052);

    const names = [];
    for await (const n of t.jsm.streams.names()) names.push(n);
    assert.deepEqual(names.sort(), ["A", "B"]);
    const filtered = [];
    for await (const n of t.jsm.streams.names("b.q")) filtered.push(n);
    assert.deepEqual(filtered, ["B"]);
    const infos = [];
    for await (const si of t.jsm.streams.list()) infos.push(si);
    assert.deepEqual(infos.map((si) => si.config.name).sort(), ["A", "B"]);
    assert.equal(infos.find((si) => si.config.name === "A").state.messages, 3);

    assert.equal(await t.jsm.streams.delete("B"), true);
    const gone = await apiError(t.jsm.streams.delete("B"));
    assert.equal(gone.err_code, 10059);
  } finally {
    await t.done();
  }
});

test("purge variants, getMessage, deleteMessage", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "P", subjects: ["p.*"] });
    const subjects = ["p.a", "p.b", "p.a", "p.c", "p.a", "p.b"];
    for (const s of subjects) await t.js.publish(s, sc.encode(s));
    const h = headers();
    h.set("Trace", "yes");
    await t.js.publish("p.h", sc.encode("with header"), { headers: h });

    const withHdr = await t.jsm.streams.getMessage("P", { last_by_subj: "p.h" });
    assert.equal(withHdr.seq, 7);
    assert.equal(withHdr.header.get("Trace"), "yes");
    const missing = await apiError(t.jsm.streams.getMessage("P", { seq: 99 }));
    assert.equal(missing.err_code, 10037);

    assert.equal(await t.jsm.streams.deleteMessage("P", 2, false), true);
    const again = await apiError(t.jsm.streams.deleteMessage("P", 2));
    assert.equal(again.err_code, 10043); // a gap inside the stream
    assert.equal(again.description, "sequence 2 not found");
    const eof = await apiError(t.jsm.streams.deleteMessage("P", 99));
    assert.equal(eof.err_code, 10057);
    assert.equal(eof.description, "stream store EOF");
    assert.equal(await t.jsm.streams.deleteMessage("P", 3), true);

    const keep = await t.jsm.streams.purge("P", { filter: "p.a", keep: 1 });
    assert.equal(keep.success, true);
    assert.equal(keep.purged, 1); // p.a had seqs 1 and 5 left; 5 stays
    const seq = await t.jsm.streams.purge("P", { seq: 5 });
    assert.equal(seq.purged, 1); // p.c at 4
    const all = await t.jsm.streams.purge("P");
    assert.equal(all.purged, 3); // 5, 6, 7
    const si = await t.jsm.streams.info("P");
    assert.equal(si.state.messages, 0);
    assert.equal(si.state.first_seq, 8);
    assert.equal(si.state.last_seq, 7);
  } finally {
    await t.done();
  }
});

test("js.publish: msgID dedup and every expect", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "E", subjects: ["e.*"] });
    const a = await t.js.publish("e.a", sc.encode("1"), { msgID: "id-1" });
    assert.deepEqual([a.seq, a.duplicate], [1, false]);
    const dup = await t.js.publish("e.a", sc.encode("1"), { msgID: "id-1" });
    assert.deepEqual([dup.stream, dup.seq, dup.duplicate], ["E", 1, true]);

    const ok = await t.js.publish("e.b", sc.encode("2"), {
      msgID: "id-2",
      expect: { streamName: "E", lastSequence: 1, lastMsgID: "id-1", lastSubjectSequence: 0 },
    });
    assert.equal(ok.seq, 2);

    const wrongStream = await apiError(t.js.publish("e.a", sc.encode("x"), { expect: { streamName: "X" } }));
    assert.equal(wrongStream.err_code, 10060);
    const wrongSeq = await apiError(t.js.publish("e.a", sc.encode("x"), { expect: { lastSequence: 1 } }));
    assert.equal(wrongSeq.err_code, 10071);
    assert.equal(wrongSeq.description, "wrong last sequence: 2");
    const wrongSubj = await apiError(t.js.publish("e.b", sc.encode("x"), { expect: { lastSubjectSequence: 1 } }));
    assert.equal(wrongSubj.err_code, 10071);
    assert.equal(wrongSubj.description, "wrong last sequence: 2");
    const wrongId = await apiError(t.js.publish("e.a", sc.encode("x"), { expect: { lastMsgID: "id-1" } }));
    assert.equal(wrongId.err_code, 10070);
    assert.equal(wrongId.description, "wrong last msg ID: id-2");

    // nothing stored by the refused ones
    const si = await t.jsm.streams.info("E");
    assert.equal(si.state.last_seq, 2);

    // no stream on the subject: no responders
    await assert.rejects(t.js.publish("nowhere", sc.encode("x")), (err) => err.code === "503");
  } finally {
    await t.done();
  }
});

test("limits: discard new, max_msg_size, rollup, sealed", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "L", subjects: ["l"], max_msgs: 2, discard: "new", max_msg_size: 64 });
    await t.js.publish("l", sc.encode("1"));
    await t.js.publish("l", sc.encode("2"));
    const full = await apiError(t.js.publish("l", sc.encode("3")));
    assert.equal(full.err_code, 10077);
    assert.equal(full.description, "maximum messages exceeded");
    await t.jsm.streams.update("L", { max_msgs: 10, discard: "new", max_msg_size: 64 });
    const big = await apiError(t.js.publish("l", new Uint8Array(100)));
    assert.equal(big.err_code, 10054);

    await t.jsm.streams.add({ name: "R", subjects: ["r.*"], allow_rollup_hdrs: true });
    for (let i = 0; i < 3; i++) await t.js.publish("r.k", sc.encode(`v${i}`));
    await t.js.publish("r.other", sc.encode("o"));
    const h = headers();
    h.set("Nats-Rollup", "sub");
    await t.js.publish("r.k", sc.encode("latest"), { headers: h });
    const si = await t.jsm.streams.info("R", { subjects_filter: ">" });
    assert.equal(si.state.messages, 2);
    assert.equal(si.state.subjects["r.k"], 1);

    const noRollup = await apiError(t.js.publish("l", sc.encode("x"), { headers: h }));
    assert.equal(noRollup.err_code, 10111);

    const sealed = await t.jsm.streams.update("R", { allow_rollup_hdrs: true, sealed: true });
    assert.equal(sealed.config.sealed, true);
    assert.equal(sealed.config.deny_delete, true);
    assert.equal(sealed.config.deny_purge, true);
    assert.equal(sealed.config.allow_rollup_hdrs, false);
    const closed = await apiError(t.js.publish("r.k", sc.encode("no")));
    assert.equal(closed.err_code, 10109);
    const nopurge = await apiError(t.jsm.streams.purge("R"));
    assert.equal(nopurge.err_code, 10109);
  } finally {
    await t.done();
  }
});

test("direct get: by seq and last by subject", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "DG", subjects: ["dg.>"], allow_direct: true, max_msgs_per_subject: 1 });
    await t.js.publish("dg.k1", sc.encode("first"));
    await t.js.publish("dg.k2", sc.encode("second"));
    await t.js.publish("dg.k1", sc.encode("third"));
    const bySeq = await t.jsm.direct.getMessage("DG", { seq: 2 });
    assert.equal(bySeq.subject, "dg.k2");
    assert.equal(sc.decode(bySeq.data), "second");
    const last = await t.jsm.direct.getMessage("DG", { last_by_subj: "dg.k1" });
    assert.equal(last.seq, 3);
    assert.equal(sc.decode(last.data), "third");
    const si = await t.jsm.streams.info("DG");
    assert.equal(si.state.messages, 2); // max_msgs_per_subject: 1 evicted seq 1
  } finally {
    await t.done();
  }
});

test("restart: streams, messages and dedup survive", { timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = await startServer();
  try {
    let nc = await connect({ servers: srv.url, timeout: 5000 });
    let jsm = await nc.jetstreamManager({ timeout: 5000 });
    let js = nc.jetstream({ timeout: 5000 });
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"], description: "durable" });
    for (let i = 1; i <= 20; i++) await js.publish(`keep.${i % 4}`, sc.encode(`msg ${i}`), { msgID: `k${i}` });
    await jsm.streams.deleteMessage("KEEP", 5);
    const before = await jsm.streams.info("KEEP", { subjects_filter: ">" });
    await nc.close();

    await srv.restart();
    nc = await connect({ servers: srv.url, timeout: 5000 });
    jsm = await nc.jetstreamManager({ timeout: 5000 });
    js = nc.jetstream({ timeout: 5000 });
    const after = await jsm.streams.info("KEEP", { subjects_filter: ">" });
    assert.deepEqual(after.config, before.config);
    assert.deepEqual(after.state, before.state);
    assert.equal(after.created, before.created);
    const m = await jsm.streams.getMessage("KEEP", { seq: 20 });
    assert.equal(sc.decode(m.data), "msg 20");
    const dup = await js.publish("keep.0", sc.encode("msg 20"), { msgID: "k20" });
    assert.deepEqual([dup.seq, dup.duplicate], [20, true]);
    const next = await js.publish("keep.0", sc.encode("msg 21"));
    assert.equal(next.seq, 21);
    await nc.close();
  } finally {
    await srv.close();
  }
});

// Hostile JSON (issue 17): a body nested 100000 deep used to overflow minijet's stack;
// integers outside Go's types used to wrap; both servers answer 10025 "invalid JSON", create
// nothing and keep serving. A NUL in a name is refused by both (nats-server: the name does
// not match the subject, 10056; minijet: invalid JSON, it cannot keep a NUL in a C string).
test("hostile JSON: deep nesting, out-of-range integers, NUL in a name", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    const raw = async (subject, body) => JSON.parse(sc.decode((await t.nc.request(subject, sc.encode(body), { timeout: 5000 })).data));
    const deep = "[".repeat(100000) + "]".repeat(100000);
    for (const body of [
      deep,
      '{"name":"X","max_bytes":9223372036854775808}',
      '{"name":"X","max_msgs":18446744073709551615}',
      '{"name":"X","max_msg_size":2147483648}',
    ]) {
      const r = await raw("$JS.API.STREAM.CREATE.X", body);
      assert.equal(r.error?.err_code, 10025, `${body.slice(0, 50)} -> ${JSON.stringify(r)}`);
      assert.equal(r.error.description, "invalid JSON");
    }
    const nul = await raw("$JS.API.STREAM.CREATE.X", '{"name":"X\\u0000y"}');
    assert.ok(nul.error, JSON.stringify(nul));
    assert.deepEqual(await t.jsm.streams.names().next(), []);
    const ok = await t.jsm.streams.add({ name: "X", subjects: ["x"] });
    assert.equal(ok.config.name, "X");
  } finally {
    await t.done();
  }
});

// Long subjects (issue 17): nats-server has no subject limit below the 4096-byte control
// line; minijet used to refuse > 128 tokens or > 1024 bytes, so this publish waited for a
// PubAck until it timed out. Core publish/subscribe and a JetStream publish, on both servers.
test("long subjects: 1500 tokens and 4000 bytes, core and JetStream", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    const deep = "long." + Array(1499).fill("t").join(".");
    const wide = "long." + "w".repeat(3995);
    assert.equal(deep.split(".").length, 1500);
    assert.equal(wide.length, 4000);
    const sub = t.nc.subscribe("long.>", { max: 2 });
    const got = (async () => {
      const seen = [];
      for await (const m of sub) seen.push([m.subject, sc.decode(m.data)]);
      return seen;
    })();
    t.nc.publish(deep, sc.encode("deep"));
    t.nc.publish(wide, sc.encode("wide"));
    assert.deepEqual(await got, [[deep, "deep"], [wide, "wide"]]);
    await t.jsm.streams.add({ name: "LONG", subjects: ["long.>"] });
    const a1 = await t.js.publish(deep, sc.encode("d"));
    const a2 = await t.js.publish(wide, sc.encode("w"));
    assert.deepEqual([a1.seq, a2.seq], [1, 2]);
    const m = await t.jsm.streams.getMessage("LONG", { last_by_subj: wide });
    assert.equal(m.subject, wide);
    assert.equal(m.seq, 2);
  } finally {
    await t.done();
  }
});

test("update rules: sealing zeroes max_age; max_consumers is fixed; work queue pull needs acks", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    // max_age and the dedup window, when set, are at least 100 ms
    let e = await apiError(t.jsm.streams.add({ name: "AGE", subjects: ["age"], max_age: nanos(50) }));
    assert.deepEqual([e.err_code, e.description], [10052, "max age needs to be >= 100ms"]);
    e = await apiError(t.jsm.streams.add({ name: "AGE", subjects: ["age"], duplicate_window: nanos(50) }));
    assert.deepEqual([e.err_code, e.description], [10052, "duplicates window needs to be >= 100ms"]);
    // an object store's bucket has a ttl (max_age, in ns as nats.js passes it); os.seal()
    // updates its stream sealed, and nats-server 2.9.10 then clears max_age along with the
    // other seal adjustments
    const os = await t.js.views.os("sealme", { ttl: DAY_NS });
    assert.equal((await os.status()).ttl, DAY_NS);
    await os.putBlob({ name: "a" }, sc.encode("x"));
    const st = await os.seal();
    assert.equal(st.sealed, true);
    const cfg = (await t.jsm.streams.info("OBJ_sealme")).config;
    assert.equal(cfg.max_age, 0);
    assert.equal(cfg.discard, "new");
    assert.equal(cfg.deny_delete, true);
    assert.equal(cfg.deny_purge, true);
    assert.equal(cfg.allow_rollup_hdrs, false);

    await t.jsm.streams.add({ name: "MC", subjects: ["mc.>"] });
    e = await apiError(t.jsm.streams.update("MC", { subjects: ["mc.>"], max_consumers: 5 }));
    assert.equal(e.err_code, 10052);
    assert.equal(e.description, "stream configuration update can not change MaxConsumers");

    await t.jsm.streams.add({ name: "WQP", subjects: ["wqp.>"], retention: "workqueue" });
    const e2 = await apiError(t.jsm.consumers.add("WQP", { durable_name: "n", ack_policy: "none" }));
    assert.equal(e2.err_code, 10084);
    assert.equal(e2.description, "consumer in pull mode requires ack policy");
  } finally {
    await t.done();
  }
});

test("action advisories: a stream created, updated, deleted; its consumers created and deleted", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    const sub = t.nc.subscribe("$JS.EVENT.ADVISORY.>");
    await t.nc.flush();
    await t.jsm.streams.add({ name: "ADV", subjects: ["adv.>"] });
    await t.jsm.streams.update("ADV", { subjects: ["adv.>"], max_msgs: 10 });
    await t.jsm.consumers.add("ADV", { durable_name: "d", ack_policy: "explicit" });
    await t.jsm.consumers.add("ADV", { durable_name: "e", ack_policy: "explicit" });
    await t.jsm.consumers.delete("ADV", "e");
    await t.jsm.streams.delete("ADV");
    const got = [];
    const timer = setTimeout(() => sub.unsubscribe(), 5000); // bounded: ends the loop below
    for await (const m of sub) { // nats-server's API audit advisories ($JS.EVENT.ADVISORY.API) aside
      if (m.subject !== "$JS.EVENT.ADVISORY.API") {
        const a = JSON.parse(sc.decode(m.data));
        assert.ok(a.id && a.timestamp, m.subject);
        got.push([m.subject, a.type, a.stream, a.consumer, a.action]);
      }
      if (got.length === 7) break;
    }
    clearTimeout(timer);
    const S = "io.nats.jetstream.advisory.v1.stream_action", C = "io.nats.jetstream.advisory.v1.consumer_action";
    assert.deepEqual(got, [
      ["$JS.EVENT.ADVISORY.STREAM.CREATED.ADV", S, "ADV", undefined, "create"],
      ["$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV", S, "ADV", undefined, "modify"],
      ["$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.d", C, "ADV", "d", "create"],
      ["$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.e", C, "ADV", "e", "create"],
      ["$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.e", C, "ADV", "e", "delete"],
      ["$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.d", C, "ADV", "d", "delete"],
      ["$JS.EVENT.ADVISORY.STREAM.DELETED.ADV", S, "ADV", undefined, "delete"],
    ]);
  } finally {
    await t.done();
  }
});

test("account info ($JS.API.INFO): streams and consumers counted, ephemerals too; api errors", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "F", subjects: ["f.>"] });
    await t.jsm.streams.add({ name: "M", subjects: ["m.>"], storage: "memory" });
    await t.js.publish("f.a", sc.encode("x"));
    await t.js.publish("m.a", sc.encode("y"));
    await t.jsm.consumers.add("F", { durable_name: "d", ack_policy: "explicit" });
    await t.jsm.consumers.add("M", { ack_policy: "explicit", inactive_threshold: nanos(60000) });
    let ai = await t.jsm.getAccountInfo();
    assert.equal(ai.streams, 2);
    assert.equal(ai.consumers, 2);
    assert.ok(ai.memory > 0 && ai.storage > 0, JSON.stringify(ai));
    const errors = ai.api.errors;
    await apiError(t.jsm.streams.info("NOPE"));
    await t.jsm.consumers.delete("F", "d");
    ai = await t.jsm.getAccountInfo();
    assert.equal(ai.consumers, 1);
    assert.equal(ai.api.errors, errors + 1);
  } finally {
    await t.done();
  }
});

// Stream config checks a differential probe found missing: nats-server 2.9.10 caps
// num_replicas at 5 before it asks whether it is clustered, and its API refuses a stream owned
// by a template. Same code and text from both servers.
test("config: num_replicas above 5, template_owner on create and update", { timeout: TEST_TIMEOUT_MS }, async () => {
  const t = await setup();
  try {
    let e = await apiError(t.jsm.streams.add({ name: "R6", subjects: ["r6"], num_replicas: 6 }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, "maximum replicas is 5"]);
    e = await apiError(t.jsm.streams.add({ name: "R2", subjects: ["r2"], num_replicas: 2 }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10074, "replicas > 1 not supported in non-clustered mode"]);
    e = await apiError(t.jsm.streams.add({ name: "T", subjects: ["t"], template_owner: "TPL" }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10049, "stream not owned by template"]);
    await t.jsm.streams.add({ name: "U", subjects: ["u"], template_owner: "" }); // empty: not owned
    e = await apiError(t.jsm.streams.update("U", { subjects: ["u"], template_owner: "TPL" }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, "stream configuration update can not be owned by a template"]);
    e = await apiError(t.jsm.streams.update("U", { subjects: ["u"], num_replicas: 6 }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, "maximum replicas is 5"]);
    assert.deepEqual(await t.jsm.streams.names().next(), ["U"]);
  } finally {
    await t.done();
  }
});

// minijet has no mirror, sources or republish: it refuses them rather than create a stream
// that silently copies nothing (book 5). nats-server implements them, so this is minijet only.
test("config: mirror, sources and republish are refused (minijet)", {
  timeout: TEST_TIMEOUT_MS,
  skip: serverKind === "nats-server" ? "nats-server implements mirror, sources and republish" : false,
}, async () => {
  const t = await setup();
  try {
    await t.jsm.streams.add({ name: "ORIGIN", subjects: ["origin.>"] });
    const ms = "mirror and sources are not supported by minijet";
    for (const cfg of [
      { name: "M", mirror: { name: "ORIGIN" } },
      { name: "S", subjects: ["s"], sources: [{ name: "ORIGIN" }] },
    ]) {
      const e = await apiError(t.jsm.streams.add(cfg));
      assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, ms], cfg.name);
    }
    let e = await apiError(t.jsm.streams.add({ name: "P", subjects: ["p"], republish: { src: ">", dest: "out.>" } }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, "republish is not supported by minijet"]);
    e = await apiError(t.jsm.streams.update("ORIGIN", { subjects: ["origin.>"], sources: [{ name: "X" }] }));
    assert.deepEqual([e.code, e.err_code, e.description], [500, 10052, ms]);
    // An empty sources list asks for nothing (as in Go) and is accepted.
    await t.jsm.streams.add({ name: "E", subjects: ["e"], sources: [] });
    assert.deepEqual((await t.jsm.streams.names().next()).sort(), ["E", "ORIGIN"]);
  } finally {
    await t.done();
  }
});
