// cluster-consumers.test.mjs — the seed's failover checklist with real processes: three
// servers joined by routes, an R3 stream with durable consumers (pull and push), nats.js
// publishing with `servers: [all three]`; kill -9 of the stream's leader. Then publishing
// resumes, every acknowledged message is readable exactly once by its sequence number, the
// consumers resume where they were (no acknowledged message comes back, every unacknowledged
// one does), a pull request in flight on the dead leader ends on the client and the next one
// is served by the new leader, and the restarted node catches up (`current: true`). Plus a
// KV bucket with `replicas: 3` surviving the kill of its leader.
//
// The same script runs against three nats-server 2.9.10 processes
// (MINIJET_TEST_SERVER=nats-server): there the consumer leader may sit elsewhere than the
// stream leader and a failover takes 4-9 s, so every wait is a bounded poll, never a sleep
// that has to be long enough.
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, AckPolicy } from "nats";
import fs from "node:fs";
import path from "node:path";
import { serverKind, startCluster, stopAllServers, monitorJson, ownReplica, sleep, until } from "./server.mjs";

const sc = StringCodec();
const isMinijet = serverKind === "minijet";
const WAIT_MS = isMinijet ? 20000 : 40000; // a failover, a catch-up: nats-server needs 4-9 s

const conns = []; // closed in after(): a failed test must not leave one reconnecting forever
async function open(opts) {
  const nc = await connect(opts);
  conns.push(nc);
  return nc;
}

after(async () => {
  await Promise.all(conns.map((nc) => nc.close().catch(() => {})));
  await stopAllServers();
});

/** Publish `subject` with msg id `id`, retried with the same id until acknowledged. */
async function publishOnce(js, subject, id, acked) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const pa = await js.publish(subject, sc.encode(id), { msgID: id, timeout: 1000 });
      acked.set(id, pa.seq);
      return pa.seq;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`publish ${id}: ${err.message}`);
      await sleep(20); // 503 (no leader yet) or a timeout: the same id again
    }
  }
}

/** An acknowledgement the server confirms (nats.js ackAck, retried across a failover). */
async function ackSync(nc, reply) {
  await until(() => nc.request(reply, sc.encode("+ACK"), { timeout: 1000 }), WAIT_MS, `ack ${reply}`);
}

/** Stream sequence of a delivery, from its $JS.ACK reply subject. */
function streamSeq(reply) {
  const t = reply.split(".");
  return Number(t[t.length - 4]);
}

async function allCurrent(jsm, info, what) {
  return until(async () => {
    const i = await info();
    const reps = (i.cluster && i.cluster.replicas) || [];
    if (reps.length !== 2 || !reps.every((r) => r.current)) throw new Error(`not current: ${JSON.stringify(i.cluster)}`);
    return i;
  }, WAIT_MS, what);
}

test("kill -9 of an R3 stream's leader: durable pull and push consumers resume where they were", { timeout: 180000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const byName = new Map(c.servers.map((s) => [s.name, s]));
  const nc = await open({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  await until(() => jsm.streams.add({ name: "CHK", subjects: ["chk.>"], num_replicas: 3, storage: "file" }),
    WAIT_MS, "R3 create");
  const js = nc.jetstream({ timeout: 1000 });
  const acked = new Map();
  let next = 0;
  const publishSome = async (n) => {
    for (let k = 0; k < n; k++, next++) await publishOnce(js, "chk.work", `m${next}`, acked);
  };

  // the durables: a pull consumer, a push consumer (explicit acks, short ack wait so an
  // unacknowledged delivery comes back within the test), and an idle pull consumer whose
  // filter matches nothing yet, for the pull request in flight at the kill
  const pullCfg = { durable_name: "work", ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000, filter_subject: "chk.work" };
  const ci = await until(() => jsm.consumers.add("CHK", pullCfg), WAIT_MS, "pull durable");
  assert.ok(ci.cluster && ci.cluster.leader, "consumer info has a cluster block with a leader");
  assert.equal((ci.cluster.replicas || []).length, 2, `an R3 stream's durable has two replicas: ${JSON.stringify(ci.cluster)}`);
  const pushSubject = "deliver.push";
  const pushed = []; // stream seqs delivered to the push consumer, in arrival order
  const pushSub = nc.subscribe(pushSubject, {
    callback: (err, m) => {
      if (err) return;
      pushed.push(streamSeq(m.reply));
      ackSync(nc, m.reply).catch(() => {});
    },
  });
  await nc.flush();
  await until(() => jsm.consumers.add("CHK", { durable_name: "pusher", deliver_subject: pushSubject,
    ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000, filter_subject: "chk.work" }), WAIT_MS, "push durable");
  await until(() => jsm.consumers.add("CHK", { durable_name: "idle", ack_policy: AckPolicy.Explicit,
    filter_subject: "chk.later" }), WAIT_MS, "idle durable");

  await publishSome(200);
  // pull 100, acknowledged (confirmed by the server); then 10 more, never acknowledged
  const delivered = []; // [seq, redelivered]
  // a fetch may end before its batch is full, or throw after some messages: each attempt adds
  // what it got to `into` as it arrives, so a retry asks only for the rest (a retry that
  // started again from nothing saw 107-116 after 101-106 went out unacknowledged; one whose
  // thrown attempt was not counted pulled 172-181 as "the next 10", on nats-server). The
  // fetch is read to its end before acknowledging: an ack awaited inside the loop could
  // outlast the fetch's expiry, and what came after went to an inbox nobody read.
  const pull = async (batch, ack, into = []) => {
    const got = [];
    try {
      for await (const m of js.fetch("CHK", "work", { batch, expires: 1000 })) {
        got.push(m);
        into.push(m.seq);
        delivered.push([m.seq, m.redelivered]);
      }
    } finally {
      if (ack) for (const m of got) await ackSync(nc, m.reply);
    }
    return into;
  };
  const first = [];
  await until(async () => {
    await pull(100 - first.length, true, first);
    if (first.length < 100) throw new Error(`pulled ${first.length}`);
  }, WAIT_MS, "first 100");
  const unacked = [];
  await until(async () => {
    await pull(10 - unacked.length, false, unacked);
    if (unacked.length < 10) throw new Error(`pulled ${unacked.length} of 10`);
  }, WAIT_MS, "10 unacked");
  assert.deepEqual(unacked, Array.from({ length: 10 }, (_, i) => 101 + i));
  await until(async () => { if (pushed.length < 200) throw new Error(`pushed ${pushed.length}`); }, WAIT_MS, "push 200");
  const before = await jsm.consumers.info("CHK", "work");
  assert.equal(before.ack_floor.stream_seq, 100);
  assert.equal(before.num_ack_pending, 10);
  // the push consumer's acks are confirmed once its ack floor reaches 200
  await until(async () => {
    const p = await jsm.consumers.info("CHK", "pusher");
    if (p.ack_floor.stream_seq !== 200) throw new Error(`push ack floor ${p.ack_floor.stream_seq}`);
  }, WAIT_MS, "push acks");

  // a pull request waits on the idle consumer; then the stream's leader dies
  const pullMark = delivered.length, pushMark = pushed.length;
  const si = await jsm.streams.info("CHK");
  const victim = byName.get(si.cluster.leader);
  const inflight = (async () => {
    const t0 = Date.now();
    const seqs = [];
    try {
      for await (const m of js.fetch("CHK", "idle", { batch: 1, expires: 3000 })) seqs.push(m.seq);
    } catch {
      // a 409 Leadership Change or a lost connection ends it: fine
    }
    return { seqs, ms: Date.now() - t0 };
  })();
  await sleep(100); // let the request reach the server (it is the one thing in flight)
  await victim.kill();
  const t0 = Date.now();
  await publishSome(1); // publishing resumes
  console.log(`# ${serverKind}: killed ${victim.name}, next PubAck after ${Date.now() - t0} ms`);
  await publishSome(99);
  const fl = await inflight;
  assert.deepEqual(fl.seqs, [], "the idle consumer had nothing to deliver");
  console.log(`# pull request in flight at the kill ended after ${fl.ms} ms`);

  // the next pull request is served by the new leader
  const laterSeq = await publishOnce(js, "chk.later", "later", acked);
  next++;
  const idleGot = await until(async () => {
    const seqs = [];
    for await (const m of js.fetch("CHK", "idle", { batch: 1, expires: 1000 })) {
      seqs.push(m.seq);
      await ackSync(nc, m.reply);
    }
    if (seqs.length === 0) throw new Error("nothing pulled");
    return seqs;
  }, WAIT_MS, "pull after failover");
  assert.deepEqual(idleGot, [laterSeq]);

  // the pull consumer resumes: 101-110 come back (redelivered), then 201-300; never 1-100
  const seen = new Set();
  const wanted = [...Array.from({ length: 10 }, (_, i) => 101 + i), ...Array.from({ length: 100 }, (_, i) => 201 + i)];
  await until(async () => {
    for (const s of await pull(50, true)) seen.add(s);
    const missing = wanted.filter((s) => !seen.has(s));
    if (missing.length > 0) throw new Error(`missing ${missing.slice(0, 5)}...`);
  }, WAIT_MS, "pull consumer resumes");
  const after1 = delivered.slice(pullMark);
  for (const [s] of after1) assert.ok(s > 100 && s <= 300, `acknowledged seq ${s} delivered again`);
  for (let s = 101; s <= 110; s++) {
    assert.ok(after1.some(([x, red]) => x === s && red), `unacknowledged ${s} redelivered as such`);
  }
  // the push consumer resumes too: everything up to 301's work messages, nothing acked again
  await until(async () => {
    const have = new Set(pushed);
    for (let s = 201; s <= 300; s++) if (!have.has(s)) throw new Error(`push missing ${s}`);
  }, WAIT_MS, "push resumes");
  const again = pushed.slice(pushMark).filter((s) => s <= 200);
  assert.deepEqual(again, [], "acknowledged push deliveries came back");

  // every acknowledged message exactly once, at its sequence number
  const info = await until(() => jsm.streams.info("CHK"), WAIT_MS, "stream info");
  assert.equal(info.state.messages, next);
  const ids = new Set();
  for (let seq = 1; seq <= info.state.last_seq; seq++) {
    const m = await until(() => jsm.streams.getMessage("CHK", { seq }), WAIT_MS, `get ${seq}`);
    const id = sc.decode(m.data);
    assert.ok(!ids.has(id), `${id} stored twice`);
    ids.add(id);
    assert.equal(acked.get(id), seq);
  }
  assert.equal(ids.size, acked.size);

  // the killed node comes back and catches up: the stream's and the consumers' replicas
  await victim.spawn();
  const t1 = Date.now();
  await allCurrent(jsm, () => jsm.streams.info("CHK"), "stream replicas current");
  console.log(`# restarted ${victim.name}: stream current after ${Date.now() - t1} ms`);
  for (const name of ["work", "pusher", "idle"]) {
    const x = await allCurrent(jsm, () => jsm.consumers.info("CHK", name), `consumer ${name} replicas current`);
    assert.ok(x.cluster.leader);
  }
  const names = [];
  for await (const n of jsm.consumers.list("CHK")) names.push(n.name);
  assert.deepEqual(names.sort(), ["idle", "pusher", "work"]);
  pushSub.unsubscribe();
  await nc.close();
  await c.close();
});

test("consumer leader stepdown moves the consumer; its state goes along", { timeout: 120000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const nc = await open({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  await until(() => jsm.streams.add({ name: "SD", subjects: ["sd.>"], num_replicas: 3 }), WAIT_MS, "R3 create");
  const js = nc.jetstream({ timeout: 1000 });
  const acked = new Map();
  for (let i = 0; i < 20; i++) await publishOnce(js, "sd.x", `s${i}`, acked);
  await until(() => jsm.consumers.add("SD", { durable_name: "d", ack_policy: AckPolicy.Explicit }), WAIT_MS, "durable");
  let n = 0;
  await until(async () => {
    const got = []; // read to the end, then acknowledged (see pull() above)
    try {
      for await (const m of js.fetch("SD", "d", { batch: 5 - n, expires: 1000 })) got.push(m);
    } finally {
      for (const m of got) {
        await ackSync(nc, m.reply);
        n++;
      }
    }
    if (n < 5) throw new Error(`pulled ${n}`);
  }, WAIT_MS, "pull 5");
  const ci = await jsm.consumers.info("SD", "d");
  const r = await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.SD.d", undefined, { timeout: 5000 });
  const body = JSON.parse(sc.decode(r.data));
  assert.equal(body.type, "io.nats.jetstream.api.v1.consumer_leader_stepdown_response");
  assert.equal(body.success, true);
  const ci2 = await until(async () => {
    const x = await jsm.consumers.info("SD", "d");
    if (!x.cluster.leader || x.cluster.leader === ci.cluster.leader) throw new Error(`leader ${x.cluster.leader}`);
    return x;
  }, WAIT_MS, "new consumer leader");
  assert.equal(ci2.ack_floor.stream_seq, 5);
  assert.equal(ci2.delivered.stream_seq, 5);
  // a missing consumer: 404 10014
  const r2 = await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.SD.nope", undefined, { timeout: 5000 });
  const e = JSON.parse(sc.decode(r2.data)).error;
  assert.equal(e.code, 404);
  assert.equal(e.err_code, 10014);
  // STREAM.PEER.REMOVE: no peer named is 400 10003, a server that is not a member 400 10040
  for (const [body, code] of [["{}", 10003], ['{"peer":"no-such-server"}', 10040]]) {
    const rp = await nc.request("$JS.API.STREAM.PEER.REMOVE.SD", sc.encode(body), { timeout: 5000 });
    const pe = JSON.parse(sc.decode(rp.data));
    assert.equal(pe.type, "io.nats.jetstream.api.v1.stream_remove_peer_response");
    assert.equal(pe.error.code, 400, body);
    assert.equal(pe.error.err_code, code, body);
  }
  // the next message after the stepdown is the 6th
  const seqs = await until(async () => {
    const got = [];
    for await (const m of js.fetch("SD", "d", { batch: 1, expires: 1000 })) got.push(m.seq);
    if (got.length === 0) throw new Error("nothing");
    return got;
  }, WAIT_MS, "pull after stepdown");
  assert.deepEqual(seqs, [6]);
  console.log(`# consumer leader ${ci.cluster.leader} -> ${ci2.cluster.leader}`);
  // a deleted durable stays deleted when leadership moves again
  assert.equal(await jsm.consumers.delete("SD", "d"), true);
  // (nats-server's stream leader may differ from its consumer leader: compare with the stream's)
  const before = (await until(() => jsm.streams.info("SD"), WAIT_MS, "stream info")).cluster.leader;
  const r3 = await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.SD", undefined, { timeout: 5000 });
  assert.equal(JSON.parse(sc.decode(r3.data)).success, true);
  await until(async () => {
    const si = await jsm.streams.info("SD");
    if (!si.cluster.leader || si.cluster.leader === before) throw new Error(`leader ${si.cluster.leader}`);
  }, WAIT_MS, "stream leader moved");
  const gone = await until(async () => {
    try {
      await jsm.consumers.info("SD", "d");
    } catch (err) {
      return err;
    }
    throw new Error("still there");
  }, WAIT_MS, "consumer gone");
  assert.match(gone.message, /consumer not found/);
  await nc.close();
  await c.close();
});

test("a KV bucket with replicas: 3 survives the kill of its leader", { timeout: 120000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const byName = new Map(c.servers.map((s) => [s.name, s]));
  const nc = await open({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  const kv = await until(() => nc.jetstream({ timeout: 1000 }).views.kv("cfg", { replicas: 3, history: 5 }), WAIT_MS, "bucket");
  for (let i = 0; i < 20; i++) await until(() => kv.put(`k${i}`, sc.encode(`v${i}`)), WAIT_MS, `put k${i}`);
  await until(() => kv.put("k0", sc.encode("v0b")), WAIT_MS, "put k0 again");
  const si = await jsm.streams.info("KV_cfg");
  assert.equal(si.config.num_replicas, 3);
  const victim = byName.get(si.cluster.leader);
  await victim.kill();
  const t0 = Date.now();
  await until(() => kv.put("after", sc.encode("x")), WAIT_MS, "put after the kill");
  console.log(`# ${serverKind}: KV leader ${victim.name} killed, next put after ${Date.now() - t0} ms`);
  for (let i = 1; i < 20; i++) {
    const e = await until(() => kv.get(`k${i}`), WAIT_MS, `get k${i}`);
    assert.equal(sc.decode(e.value), `v${i}`);
  }
  const e0 = await until(() => kv.get("k0"), WAIT_MS, "get k0");
  assert.equal(sc.decode(e0.value), "v0b");
  await victim.spawn();
  await allCurrent(jsm, () => jsm.streams.info("KV_cfg"), "KV replicas current");
  // history reads through an R1 ordered consumer, which nats-server may place on a peer it
  // still believes alive (spec 4.4): retried until one answers
  const hist = await until(async () => {
    const h = [];
    for await (const e of await kv.history({ key: "k0" })) h.push(sc.decode(e.value));
    return h;
  }, WAIT_MS, "history");
  assert.deepEqual(hist, ["v0", "v0b"]);
  await nc.close();
  await c.close();
});

// The catalogue is the meta leader's, and it lists every stream wherever it lives: NAMES,
// LIST and account INFO asked through any server show all of them (R1 streams placed on
// other servers included), and /jsz and /varz show the meta group as nats-server does.
test("names, list and account info from every server show every stream; /jsz and /varz show the meta group", { timeout: 120000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const nc = await open({ servers: c.urls, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  const all = [];
  for (let i = 0; i < 6; i++) {
    await until(() => jsm.streams.add({ name: `ONE${i}`, subjects: [`one${i}.>`], num_replicas: 1 }), WAIT_MS, `R1 ${i}`);
    all.push(`ONE${i}`);
  }
  await until(() => jsm.streams.add({ name: "THREE", subjects: ["three.>"], num_replicas: 3 }), WAIT_MS, "R3");
  all.push("THREE");
  await until(() => jsm.consumers.add("THREE", { durable_name: "d", ack_policy: AckPolicy.Explicit }), WAIT_MS, "durable");
  const js = nc.jetstream({ timeout: 2000 });
  for (let i = 0; i < 6; i++) await publishOnce(js, `one${i}.x`, `p${i}`, new Map());
  // (nats-server counts account usage from asynchronous updates: every check is a bounded poll)
  for (const srv of c.servers) {
    const one = await open({ servers: srv.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
    const m = await one.jetstreamManager({ timeout: 5000 });
    await until(async () => {
      const names = [];
      for await (const n of m.streams.names()) names.push(n);
      assert.deepEqual(names.sort(), all, `names through ${srv.name}`);
      const listed = [];
      for await (const si of m.streams.list()) listed.push(si);
      assert.deepEqual(listed.map((si) => si.config.name).sort(), all, `list through ${srv.name}`);
      for (const si of listed) {
        assert.ok(si.cluster && si.cluster.leader, `${si.config.name} listed with its leader`);
        assert.equal(si.state.messages, si.config.name === "THREE" ? 0 : 1, `${si.config.name}'s state`);
      }
      const filtered = [];
      for await (const n of m.streams.names("one3.x")) filtered.push(n);
      assert.deepEqual(filtered, ["ONE3"]);
      const ai = await m.getAccountInfo();
      assert.equal(ai.streams, all.length, `account info through ${srv.name}`);
      assert.equal(ai.consumers, 1, `consumers in account info through ${srv.name}`);
      assert.ok(ai.storage > 0, `storage in account info through ${srv.name}`);
    }, WAIT_MS, `catalogue through ${srv.name}`);
    await one.close();
  }
  // the meta group on the monitor port: one leader everyone agrees on; its replicas on the leader
  await until(async () => {
    const jszs = await Promise.all(c.servers.map((s) => monitorJson(s, "/jsz")));
    const leaders = new Set(jszs.map((j) => j.meta_cluster && j.meta_cluster.leader));
    assert.ok(leaders.size === 1 && !leaders.has(undefined), `meta leaders ${[...leaders]}`);
    for (const [i, j] of jszs.entries()) {
      const mc = j.meta_cluster;
      assert.equal(mc.name, "tc");
      assert.equal(mc.cluster_size, 3);
      assert.equal(typeof mc.peer, "string");
      if (mc.leader === c.servers[i].name) {
        assert.deepEqual(mc.replicas.map((r) => r.name).sort(), c.servers.filter((s, k) => k !== i).map((s) => s.name));
        for (const r of mc.replicas) assert.equal(typeof r.current, "boolean");
      } else {
        assert.equal(mc.replicas, undefined, "only the meta leader lists the replicas");
      }
      assert.ok(j.ha_assets >= 2, `${c.servers[i].name}: ha_assets ${j.ha_assets} (the meta group and THREE's)`);
      assert.ok(j.consumers >= 1, `${c.servers[i].name} hosts THREE's consumer (consumers ${j.consumers})`);
      const v = await monitorJson(c.servers[i], "/varz");
      assert.equal(v.jetstream.meta.leader, mc.leader);
      assert.equal(v.jetstream.meta.cluster_size, 3);
    }
  }, WAIT_MS, "/jsz and /varz");
  await nc.close();
  await c.close();
});

// Catch-up (issue: "a restarted node is current again within 1 s for 10,000 messages
// behind"; nats-server: 0.35-0.81 s for 5-7k behind, spec 5.4). A follower is killed, 10,000
// messages are published without it, and the time from its restart (listening again) to
// `current: true` with no lag in the leader's stream info is printed. 10,000 entries are more
// than minijet's LIMIT_CLUSTER_SNAPSHOT_ENTRIES (8,192): the leader compacts its Raft log past
// what the follower holds, so the follower receives the leader's snapshot and fetches the
// messages it lacks from a peer (book 11.11); on minijet the test checks that this is what
// happened (its log says so) and that the leader's raft.log stayed under the threshold. The
// bound asserted is loose (3 s: a shared 2-core machine under a full test run); the number
// printed is the measurement.
test("a follower restarted 10,000 messages behind is current again", { timeout: 180000 }, async () => {
  const N = 10000;
  const c = await startCluster({ jetstream: true });
  const nc = await open({ servers: c.urls, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  await until(() => jsm.streams.add({ name: "CU", subjects: ["cu.>"], num_replicas: 3 }), WAIT_MS, "R3 create");
  const si = await until(async () => {
    const x = await jsm.streams.info("CU");
    if (!x.cluster.leader) throw new Error("no leader");
    return x;
  }, WAIT_MS, "leader");
  const leader = c.servers.find((s) => s.name === si.cluster.leader);
  const victim = c.servers.find((s) => s !== leader);
  // publish through the leader's own server: the victim's death cannot take a connection down
  const pc = await open({ servers: leader.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
  const js = pc.jetstream({ timeout: 20000 });
  await js.publish("cu.x", sc.encode("warm"));
  await victim.kill();
  const payload = new Uint8Array(100);
  for (let i = 0; i < N; i += 500) {
    const ps = [];
    for (let k = 0; k < 500; k++) ps.push(js.publish("cu.x", payload));
    await Promise.all(ps);
  }
  // nc may have been on the victim: its info request waits for the reconnect, so retry it
  const behind = await until(() => jsm.streams.info("CU"), WAIT_MS, "info after the kill");
  assert.equal(behind.state.messages, N + 1);
  const lagging = behind.cluster.replicas.find((r) => r.name === victim.name);
  assert.equal(lagging.current, false, "the dead follower is not current");
  await victim.spawn();
  const t0 = Date.now();
  await until(async () => {
    const x = await jsm.streams.info("CU");
    const r = (x.cluster.replicas || []).find((y) => y.name === victim.name);
    if (!r || !r.current || r.lag) throw new Error(JSON.stringify(r));
  }, WAIT_MS, "restarted follower current");
  const ms = Date.now() - t0;
  // the follower's own replica, read from it directly (its /jsz) right after "current"
  const own = await ownReplica(victim, "CU");
  const ownState = own ? [own.messages, own.last_seq] : null;
  console.log(`# ${serverKind}: ${victim.name} current ${ms} ms after its restart, ${N} messages behind;` +
    ` its own replica then: ${JSON.stringify(ownState)}`);
  if (isMinijet) {
    assert.ok(ms <= 3000, `catch-up took ${ms} ms`);
    // "current" is the follower's own report (its applied index in its append responses):
    // its store has every message by then, whoever fed its catch-up
    assert.deepEqual(ownState, [N + 1, N + 1], "current: the follower has every message");
    const log = fs.readFileSync(victim.logPath, "utf8");
    const caught = log.match(/stream CU: caught up through seq \d+ \(from peers\) in [\d.]+ s/);
    assert.match(log, /installing the leader's snapshot/, "the follower got the leader's snapshot");
    assert.ok(caught, "the follower fetched the missing messages from a peer");
    console.log(`# minijet: ${victim.name} ${caught[0]}`);
    const group = fs.readdirSync(path.join(leader.storeDir, "cluster")).find((d) => d.startsWith("S-"));
    const dir = path.join(leader.storeDir, "cluster", group);
    assert.ok(fs.existsSync(path.join(dir, "raft.snap")), "the leader compacted its log");
    const logBytes = fs.statSync(path.join(dir, "raft.log")).size;
    const perEntry = 24 + 1 + 8 + 8 + 2 + 4 + 4 + 4 + 100 + 2 + 64; // record header + a publish entry (reply <= 64)
    console.log(`# minijet: leader's raft.log ${logBytes} bytes after ${N + 1} publishes`);
    assert.ok(logBytes < 8192 * perEntry, `raft.log holds ${logBytes} bytes: not compacted`);
  }
  await pc.close();
  await nc.close();
  await c.close();
});
