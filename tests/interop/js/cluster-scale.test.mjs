// cluster-scale.test.mjs — changing a stream's num_replicas with $JS.API.STREAM.UPDATE, with
// real processes. On three servers an R1 stream with a durable pull consumer grows to R3,
// shrinks to R1, then grows again through R2: each update is answered with the new config,
// the stream's info soon lists the new peer set all current, a shrink keeps the leader, and
// every acknowledged message is readable by its sequence from a server that joined (the
// leader is stepped down onto one). The consumer goes on where it was: what it acknowledged
// is not delivered again, the next fetch brings the next message. R5 on three servers gets
// nats-server's 10005 and changes nothing. minijet moves the group's Raft voters one at a
// time and a removed server deletes its replica once its removal committed (book 11.12).
//
// On five servers an R3 stream grows to R5 and shrinks back to R3 while one publisher goes on
// publishing (a msg id on each, retried until acknowledged): each update is answered with the
// new config, the info lists all five current, then every server's own store (its /jsz)
// holds every message acknowledged by then; after the shrink the leader is kept, the two
// removed servers no longer hold the stream, the three that stay hold everything, and at the
// end each acknowledged id is readable at the sequence its PubAck named. nats-server 2.9.10
// shows the same to the client (in the runs here both also kept the three first peers).
//
// The same script runs against three (and five) nats-server 2.9.10 processes
// (MINIJET_TEST_SERVER=nats-server), where an election takes 4-9 s: every wait is a bounded
// poll. Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, AckPolicy } from "nats";
import { serverKind, startCluster, stopAllServers, until, within, publishOnce, peersOf, ownReplica } from "./server.mjs";

const sc = StringCodec();
const isMinijet = serverKind === "minijet";
const WAIT_MS = isMinijet ? 20000 : 40000;

const conns = [];
after(async () => {
  await Promise.all(conns.map((nc) => nc.close().catch(() => {})));
  await stopAllServers();
});


async function update(nc, cfg) {
  const r = await nc.request(`$JS.API.STREAM.UPDATE.${cfg.name}`, sc.encode(JSON.stringify(cfg)), { timeout: 10000 });
  return JSON.parse(sc.decode(r.data));
}

/** Until the info shows a leader and want-1 current replicas; the info. */
async function scaled(jsm, name, want) {
  return until(async () => {
    const i = await jsm.streams.info(name);
    const reps = i.cluster.replicas || [];
    if (!i.cluster.leader || reps.length !== want - 1 || !reps.every((r) => r.current))
      throw new Error(`cluster ${JSON.stringify(i.cluster)}`);
    return i;
  }, WAIT_MS, `R${want}: a leader and ${want - 1} current replicas`);
}

/** The next `n` deliveries of the durable, acknowledged (the server confirms each). */
async function pullAcked(nc, js, name, durable, n) {
  const seqs = [];
  await until(async () => {
    const got = [];
    try {
      for await (const m of js.fetch(name, durable, { batch: n - seqs.length, expires: 1000 })) got.push(m);
    } finally {
      for (const m of got) {
        await until(() => nc.request(m.reply, sc.encode("+ACK"), { timeout: 1000 }), WAIT_MS, `ack ${m.seq}`);
        seqs.push(m.seq);
      }
    }
    if (seqs.length < n) throw new Error(`pulled ${seqs.length} of ${n}`);
  }, WAIT_MS, `${n} from ${durable}`);
  return seqs;
}

/** Pull and acknowledge one at a time until `last` came; the sequences, in order. */
async function pullThrough(nc, js, name, durable, last) {
  const seqs = [];
  await until(async () => {
    seqs.push(...(await pullAcked(nc, js, name, durable, 1)));
    if (!seqs.includes(last)) throw new Error(`pulled ${seqs}`);
  }, WAIT_MS, `${durable} through ${last}`);
  return seqs;
}

/** minijet: exactly `want`. nats-server 2.9.10 redelivered acknowledged messages after a
 * shrink (measured: after 1 -> 3 -> 1 its consumer pulled 4 and 5 again, acked with the
 * server's confirmation before the shrink): at least once, ending with want's last. */
function assertNext(got, want, what) {
  if (isMinijet) return assert.deepEqual(got, want, what);
  assert.equal(got[got.length - 1], want[want.length - 1], `${what}: ${got}`);
  if (got.length !== want.length) console.log(`# nats-server ${what}: delivered ${got}, want ${want}`);
}

/** Every acknowledged message by its sequence, as the stream's leader serves it. */
async function readAll(jsm, name, acked) {
  for (const [seq, payload] of acked) {
    const m = await until(() => jsm.streams.getMessage(name, { seq }), WAIT_MS, `get ${seq}`);
    assert.equal(sc.decode(m.data), payload, `seq ${seq}`);
  }
  const i = await jsm.streams.info(name);
  assert.equal(i.state.messages, acked.size);
  assert.equal(i.state.last_seq, acked.size);
}

/** Step the stream's leader down until one of `onto` leads; the new leader. A stepdown
 * only when there is a leader, then wait for the next one (nats-server: an election). */
async function leadFrom(nc, jsm, name, onto) {
  const wait = isMinijet ? WAIT_MS : 90000;
  return until(async () => {
    const l = (await jsm.streams.info(name)).cluster.leader;
    if (onto.includes(l)) return l;
    if (l) {
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${name}`, sc.encode(""), { timeout: 5000 }).catch(() => {});
      await until(async () => {
        const now = (await jsm.streams.info(name)).cluster.leader;
        if (!now || now === l) throw new Error(`leader ${now}`);
      }, 20000, "the next leader").catch(() => {});
    }
    throw new Error(`leader ${l}, want one of ${onto}`);
  }, wait, `a leader among ${onto}`);
}

test("num_replicas 1 -> 3 -> 1 -> 2 -> 3 on three servers: every acked message on the new replicas, the consumer goes on", { timeout: 300000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const nc = await connect({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  conns.push(nc);
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  const js = nc.jetstream({ timeout: 2000 });
  const name = "SCL";
  const si = await until(() => jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 1, storage: "file" }), WAIT_MS, "R1 create");
  const cfg = si.config;
  assert.deepEqual(peersOf(si).length, 1);
  await until(() => jsm.consumers.add(name, { durable_name: "D", ack_policy: AckPolicy.Explicit }), WAIT_MS, "durable");
  const acked = new Map(); // seq -> payload
  let k = 0;
  const publishSome = async (n) => {
    for (let i = 0; i < n; i++, k++) acked.set(await publishOnce(js, `${name}.a`, `${name}-${k}`, WAIT_MS), `${name}-${k}`);
  };
  await publishSome(10);
  assert.deepEqual(await pullAcked(nc, js, name, "D", 3), [1, 2, 3]);
  const first = peersOf(await jsm.streams.info(name));

  // 1 -> 3: the two others join and catch up
  const up = await update(nc, { ...cfg, num_replicas: 3 });
  assert.equal(up.type, "io.nats.jetstream.api.v1.stream_update_response");
  assert.equal(up.error, undefined, JSON.stringify(up.error));
  assert.equal(up.config.num_replicas, 3);
  await scaled(jsm, name, 3);
  await publishSome(10);
  const joined = c.servers.map((s) => s.name).filter((n) => !first.includes(n));
  const l3 = await leadFrom(nc, jsm, name, joined);
  await readAll(jsm, name, acked);
  assert.deepEqual(await pullAcked(nc, js, name, "D", 2), [4, 5]);
  console.log(`# 1 -> 3: ${first} + ${joined}; ${acked.size} read from ${l3}`);

  // more than the servers: nats-server's error, nothing changes
  const r5 = await update(nc, { ...cfg, num_replicas: 5 });
  assert.equal(r5.error.err_code, 10005, JSON.stringify(r5));
  assert.equal(r5.error.description, "no suitable peers for placement");
  const r6 = await update(nc, { ...cfg, num_replicas: 6 });
  assert.equal(r6.error.err_code, 10052, JSON.stringify(r6));
  assert.equal((await scaled(jsm, name, 3)).config.num_replicas, 3);

  // 3 -> 1: the leader stays, the others leave
  const leader = (await jsm.streams.info(name)).cluster.leader;
  const down = await update(nc, { ...cfg, num_replicas: 1 });
  assert.equal(down.error, undefined, JSON.stringify(down.error));
  assert.equal(down.config.num_replicas, 1);
  const one = await scaled(jsm, name, 1);
  assert.equal(one.cluster.leader, leader);
  await publishSome(5);
  await readAll(jsm, name, acked);
  assertNext(await pullThrough(nc, js, name, "D", 7), [6, 7], "after 3 -> 1");

  // 1 -> 2 -> 3: the ones that left come back from nothing
  const two = await update(nc, { ...cfg, num_replicas: 2 });
  assert.equal(two.config.num_replicas, 2, JSON.stringify(two));
  await scaled(jsm, name, 2);
  const three = await update(nc, { ...cfg, num_replicas: 3 });
  assert.equal(three.config.num_replicas, 3, JSON.stringify(three));
  await scaled(jsm, name, 3);
  await publishSome(5);
  const l4 = await leadFrom(nc, jsm, name, c.servers.map((s) => s.name).filter((n) => n !== leader));
  await readAll(jsm, name, acked);
  const rest = await pullThrough(nc, js, name, "D", acked.size);
  assertNext(rest, Array.from({ length: acked.size - 7 }, (_, i) => 8 + i), "after 1 -> 2 -> 3");
  // minijet: the floor is there the moment the last ack was confirmed. nats-server 2.9.10
  // once answered an ack floor of 3 (of 30) right after, on a loaded machine (a consumer
  // leader with the state from before the shrink; the same lag as its redeliveries above):
  // there the floor must get there, within WAIT_MS.
  const ci = isMinijet ? await jsm.consumers.info(name, "D") : await until(async () => {
    const i = await jsm.consumers.info(name, "D");
    if (i.ack_floor.stream_seq !== acked.size) throw new Error(`ack floor ${i.ack_floor.stream_seq} of ${acked.size}`);
    return i;
  }, WAIT_MS, "nats-server's ack floor");
  assert.equal(ci.ack_floor.stream_seq, acked.size);
  assert.equal(ci.num_pending, 0);
  console.log(`# 3 -> 1 kept ${leader}; back to 3, ${acked.size} read from ${l4}`);
  await nc.close();
  await c.close();
});

/** A publisher that goes on until stop(): one publish at a time with a msg id, retried with
 * the same id until acknowledged (publishOnce). acked: seq -> id; a sequence acknowledged for
 * two ids fails the test. more(n): resolves once n more are acknowledged (rejects if the
 * publisher failed or WAIT_MS passed). */
function publisher(js, subject, prefix) {
  const acked = new Map();
  let stopping = false;
  let waiters = [];
  const run = (async () => {
    for (let k = 0; !stopping; k++) {
      const id = `${prefix}-${k}`;
      const seq = await publishOnce(js, subject, id, WAIT_MS);
      assert.ok(!acked.has(seq), `seq ${seq} acknowledged for ${acked.get(seq)} and ${id}`);
      acked.set(seq, id);
      waiters = waiters.filter((w) => (acked.size >= w.n ? (w.resolve(), false) : true));
    }
  })();
  run.catch(() => {}); // a failure is reported by more() or stop(), whichever comes first
  return {
    acked,
    more: (n) => within(Promise.race([new Promise((resolve) => waiters.push({ n: acked.size + n, resolve })), run]),
      WAIT_MS, `${n} more acknowledged publishes`),
    async stop() {
      stopping = true;
      await run;
    },
  };
}

/** Until every server in `on` holds `name` in its own store with every sequence from 1 to at
 * least `through` (no gap: messages = last_seq), and every server in `off` holds none. */
async function replicasHold(c, name, on, off, through) {
  return until(async () => {
    const states = await Promise.all(c.servers.map((s) => ownReplica(s, name)));
    const got = c.servers.map((s, i) => [s.name, states[i] && [states[i].messages, states[i].first_seq, states[i].last_seq]]);
    for (const [n, st] of got) {
      if (off.includes(n) && st) throw new Error(`${n} still holds ${name}: ${JSON.stringify(got)}`);
      if (on.includes(n) && (!st || st[1] !== 1 || st[0] !== st[2] || st[2] < through))
        throw new Error(`${n} does not hold 1..${through}: ${JSON.stringify(got)}`);
    }
    return got;
  }, WAIT_MS, `${name} on ${on}, not on ${off}`);
}

test("num_replicas 3 -> 5 -> 3 on five servers while a publisher goes on: every replica holds every acked message, the removed ones drop theirs", { timeout: 120000 }, async () => {
  const c = await startCluster({ size: 5, jetstream: true });
  const nc = await connect({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  conns.push(nc);
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  const js = nc.jetstream({ timeout: 2000 });
  const name = "SC5";
  const all = c.servers.map((s) => s.name);
  const si = await until(() => jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 3, storage: "file" }), WAIT_MS, "R3 create");
  const cfg = si.config;
  const three = peersOf(await scaled(jsm, name, 3));
  const pub = publisher(js, `${name}.a`, name);
  await pub.more(20);

  // 3 -> 5: the two others join, catch up and take what is published meanwhile
  const up = await update(nc, { ...cfg, num_replicas: 5 });
  assert.equal(up.error, undefined, JSON.stringify(up.error));
  assert.equal(up.config.num_replicas, 5);
  const five = await scaled(jsm, name, 5);
  assert.deepEqual([...peersOf(five)].sort(), all);
  await pub.more(20);
  const mark5 = Math.max(...pub.acked.keys());
  await replicasHold(c, name, all, [], mark5);

  // 5 -> 3: the leader stays, two leave and delete their replicas
  const leader = (await jsm.streams.info(name)).cluster.leader;
  const down = await update(nc, { ...cfg, num_replicas: 3 });
  assert.equal(down.error, undefined, JSON.stringify(down.error));
  assert.equal(down.config.num_replicas, 3);
  const back = await scaled(jsm, name, 3);
  const kept = peersOf(back);
  assert.ok(kept.includes(leader), `${leader} kept: ${kept}`);
  await pub.more(20);
  const mark3 = Math.max(...pub.acked.keys());
  const gone = all.filter((n) => !kept.includes(n));
  await replicasHold(c, name, kept, gone, mark3);

  // nothing acknowledged was lost: every replica and the leader hold exactly what was acked
  await pub.stop();
  const n = pub.acked.size;
  assert.deepEqual([...pub.acked.keys()].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  const final = await replicasHold(c, name, kept, gone, n);
  for (const [s, st] of final) if (kept.includes(s)) assert.deepEqual(st, [n, 1, n], s);
  await readAll(jsm, name, pub.acked);
  console.log(`# ${serverKind}: R3 on ${three} -> R5 (all current, ${mark5} on each) -> R3 on ${kept}` +
    ` (leader ${leader} kept, ${gone} dropped theirs); ${n} acked, all read back`);
  await nc.close();
  await c.close();
});

// A fresh five-server cluster serves JetStream promptly (jscluster.c, FORMING THE META GROUP,
// THE FIRST ELECTION, NO META LEADER YET; book 11.3). Once $JS.API.INFO answers, the next
// STREAM.CREATE must not meet a 10008 from a server that has not heard the new meta leader yet
// (the first answer wins): on minijet the R3 create succeeds at the first attempt. nats-server
// 2.9.10 once answered a fresh meta leader's first R3 create with 10005 (the domain test's
// note), so there it may be asked again; its times are printed beside minijet's.
test("a fresh five-server cluster: $JS.API.INFO answers promptly, then an R3 create succeeds at once", { timeout: 60000 }, async () => {
  const t0 = Date.now();
  const c = await startCluster({ size: 5, jetstream: true });
  const meshed = Date.now() - t0;
  const nc = await connect({ servers: c.urls, timeout: 5000 });
  conns.push(nc);
  await until(async () => {
    const m = await nc.request("$JS.API.INFO", new Uint8Array(0), { timeout: 250 });
    const j = JSON.parse(sc.decode(m.data));
    if (j.error) throw new Error(JSON.stringify(j.error));
  }, WAIT_MS, "$JS.API.INFO answered without an error");
  const info = Date.now() - t0;
  const create = () => nc.request("$JS.API.STREAM.CREATE.FRESH",
    sc.encode(JSON.stringify({ name: "FRESH", subjects: ["fresh.>"], num_replicas: 3, storage: "file" })), { timeout: 5000 })
    .then((m) => JSON.parse(sc.decode(m.data)));
  let r = await create();
  if (!isMinijet && r.error && r.error.err_code === 10005) r = await until(async () => {
    const again = await create();
    if (again.error && again.error.err_code === 10005) throw new Error(JSON.stringify(again.error));
    return again;
  }, WAIT_MS, "R3 create past nats-server's 10005");
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(r.config.num_replicas, 3);
  const created = Date.now() - t0;
  console.log(`# ${serverKind}: five servers meshed after ${meshed} ms, INFO after ${info} ms, R3 created after ${created} ms`);
  if (isMinijet) assert.ok(info - meshed < 3000, `INFO ${info - meshed} ms after the mesh`);
  await nc.close();
  await c.close();
});
