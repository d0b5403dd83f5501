// cluster-retention.test.mjs — work-queue and interest retention on an R3 stream, and
// ephemeral consumers across a stream leader change, on three servers (minijet or nats-server
// 2.9.10, MINIJET_TEST_SERVER).
//
// Retention removes what consumers are done with. In a cluster every replica must remove the
// same messages, or a new leader serves a stream that still holds work already done: after
// the client actions below, every server's /jsz (which shows the server's own replica) must
// say the same messages and first_seq as the stream info, before and after a leader change,
// and the numbers are the ones nats-server shows for the same actions.
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, AckPolicy, DeliverPolicy } from "nats";
import { serverKind, startCluster, stopAllServers, ownReplica, until } from "./server.mjs";

const sc = StringCodec();
const WAIT_MS = serverKind === "minijet" ? 15000 : 40000; // nats-server elects in 4-9 s

let cluster;
let nc;
let jsm;
let js;

before(async () => {
  cluster = await startCluster({ jetstream: true });
  nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT_MS, "JetStream ready");
  js = nc.jetstream({ timeout: 2000 });
});

after(async () => {
  if (nc) await nc.close().catch(() => {});
  await stopAllServers();
});

/** [messages, first_seq, last_seq] of `stream` on every server's own replica (/jsz). */
async function replicaStates(stream) {
  return Promise.all(cluster.servers.map(async (s) => {
    const st = await ownReplica(s, stream);
    return st ? [st.messages, st.first_seq, st.last_seq] : null;
  }));
}

/** Wait until the stream info and every replica say [messages, first_seq, last_seq]. */
async function expectEverywhere(stream, want, what) {
  await until(async () => {
    const si = await jsm.streams.info(stream);
    const got = [[si.state.messages, si.state.first_seq, si.state.last_seq], ...await replicaStates(stream)];
    for (const g of got) if (JSON.stringify(g) !== JSON.stringify(want)) throw new Error(JSON.stringify(got));
  }, WAIT_MS, `${what}: want ${JSON.stringify(want)} on the leader and every replica`);
}

async function publishN(subject, n) {
  for (let i = 0; i < n; i++) {
    await until(() => js.publish(subject, sc.encode(`m${i}`)), WAIT_MS, `publish ${i}`);
  }
}

/** Fetch up to n from a durable and ackAck each; the stream sequences, in order. A fetch is
 * read to its end before anything is acknowledged: an ackAck awaited inside the loop could
 * outlast the fetch's expiry, and what the server sent after that went to an inbox nobody
 * read, to come back only after ack_wait (seen on nats-server: 1, 13-20, then 2-4). */
async function takeAndAck(stream, durable, n) {
  const seqs = [];
  await until(async () => {
    const got = [];
    try {
      for await (const m of js.fetch(stream, durable, { batch: n - seqs.length, expires: 1000 })) got.push(m);
    } finally {
      for (const m of got) {
        seqs.push(m.seq);
        await until(() => m.ackAck({ timeout: 1000 }), WAIT_MS, `ack ${m.seq}`);
      }
    }
    if (seqs.length < n) throw new Error(`${seqs.length} of ${n}`);
  }, WAIT_MS, `take ${n}`);
  return seqs;
}

async function stepDown(stream) {
  const old = (await jsm.streams.info(stream)).cluster.leader;
  await until(() => nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, sc.encode(""), { timeout: 2000 }),
    WAIT_MS, "stepdown");
  await until(async () => {
    const l = (await jsm.streams.info(stream)).cluster.leader;
    if (!l || l === old) throw new Error(`leader ${l}`);
  }, WAIT_MS, "a new leader");
}

test("work queue on R3: acked messages leave every replica, before and after a leader change", { timeout: 120000 },
  async () => {
    await until(() => jsm.streams.add({ name: "WQ", subjects: ["wq.>"], retention: "workqueue", num_replicas: 3 }),
      WAIT_MS, "create WQ");
    await publishN("wq.job", 20);
    await jsm.consumers.add("WQ", { durable_name: "W", ack_policy: AckPolicy.Explicit });
    assert.deepEqual(await takeAndAck("WQ", "W", 12), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    await expectEverywhere("WQ", [8, 13, 20], "12 of 20 acked");
    await stepDown("WQ");
    await expectEverywhere("WQ", [8, 13, 20], "after the leader change");
    assert.deepEqual(await takeAndAck("WQ", "W", 8), [13, 14, 15, 16, 17, 18, 19, 20]);
    await expectEverywhere("WQ", [0, 21, 20], "all acked");
  });

test("interest on R3: a message goes when every consumer is done with it, on every replica", { timeout: 120000 },
  async () => {
    await until(() => jsm.streams.add({ name: "IN", subjects: ["in.>"], retention: "interest", num_replicas: 3 }),
      WAIT_MS, "create IN");
    await publishN("in.x", 3); // nobody is interested yet: not kept
    await expectEverywhere("IN", [0, 4, 3], "published before any consumer");
    for (const d of ["A", "B"]) {
      await jsm.consumers.add("IN", { durable_name: d, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    }
    // Both must be known where the stream leads before anything is published. On nats-server
    // the create's reply comes from the consumer's own leader, and the stream leader's server
    // may apply B's assignment later: seen on a loaded machine, B's interest was missing for
    // seqs 4-5, A's acks removed them and B's fetch began at 6. stream info is the leader's.
    await until(async () => {
      const n = (await jsm.streams.info("IN")).state.consumer_count;
      if (n !== 2) throw new Error(`${n} consumers`);
    }, WAIT_MS, "both consumers known to the stream leader");
    await publishN("in.x", 10); // seqs 4..13
    assert.deepEqual(await takeAndAck("IN", "A", 10), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    assert.deepEqual(await takeAndAck("IN", "B", 5), [4, 5, 6, 7, 8]);
    await expectEverywhere("IN", [5, 9, 13], "A done, B half way");
    await stepDown("IN");
    await expectEverywhere("IN", [5, 9, 13], "after the leader change");
    await until(() => jsm.consumers.delete("IN", "B"), WAIT_MS, "delete B"); // what only B held goes
    await expectEverywhere("IN", [0, 14, 13], "B deleted");
  });

test("an ephemeral consumer on R3: an R1 cluster block, and it survives a stream leader change", { timeout: 120000 },
  async () => {
    await until(() => jsm.streams.add({ name: "EP", subjects: ["ep.>"], num_replicas: 3 }), WAIT_MS, "create EP");
    await publishN("ep.x", 5);
    const ci = await jsm.consumers.add("EP", { ack_policy: AckPolicy.Explicit, inactive_threshold: 120_000_000_000 });
    assert.equal(ci.config.durable_name, undefined);
    // nats-server 2.9.10 makes an ephemeral R1: name and leader, no replicas
    assert.deepEqual(Object.keys(ci.cluster).sort(), ["leader", "name"]);
    await stepDown("EP");
    const after = await until(() => jsm.consumers.info("EP", ci.name), WAIT_MS, "the ephemeral after the stepdown");
    assert.deepEqual(Object.keys(after.cluster).sort(), ["leader", "name"]);
    assert.equal(after.num_pending, 5);
    const seqs = await takeAndAck("EP", ci.name, 5);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  });
