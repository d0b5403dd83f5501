// cluster-failover.test.mjs — replicated JetStream with real processes: three servers joined
// by routes, an R3 file stream, nats.js publishing with `servers: [all three]` and a
// Nats-Msg-Id on every message (retried with the same id until acknowledged), and kill -9 of
// the stream's leader, several times. After each kill publishing must resume, and at the end
// every acknowledged message must be readable exactly once, by its sequence number, with
// the restarted servers current again.
//
// The client-visible half runs against nats-server 2.9.10 too (MINIJET_TEST_SERVER=nats-server);
// there a failover takes 4-9 s (its election timeout, spec nats-cluster.md 5.1), so only
// minijet is held to the 1 s budget. It prints one line per kill:
//   # failover kill->next-ack <ms> (leader nX)
// and the median; MINIJET_FAILOVER_KILLS sets the number of kills (default 3 on minijet,
// 2 on nats-server; `make bench` style measurements use 9 or more).
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec } from "nats";
import { serverKind, startCluster, stopAllServers, sleep, until } from "./server.mjs";

const sc = StringCodec();
const isMinijet = serverKind === "minijet";
const KILLS = Number(process.env.MINIJET_FAILOVER_KILLS || (isMinijet ? 3 : 2));
const BUDGET_MS = isMinijet ? 1000 : 15000; // nats-server: 4-9 s election timeout
const TEST_TIMEOUT_MS = 60000 + KILLS * (isMinijet ? 8000 : 25000);
after(async () => {
  await stopAllServers();
});

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

test("kill -9 of an R3 stream's leader: publishing resumes, every acked message is readable exactly once", { timeout: TEST_TIMEOUT_MS }, async () => {
  const c = await startCluster({ jetstream: true });
  const byName = new Map(c.servers.map((s) => [s.name, s]));
  const nc = await connect({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), 20000, "JetStream ready");
  await until(() => jsm.streams.add({ name: "ORD", subjects: ["ord.>"], num_replicas: 3, storage: "file" }),
    20000, "R3 create");
  const js = nc.jetstream({ timeout: 500 });
  const acked = new Map(); // msg id -> seq
  let next = 0;

  /** Publish msg ids next, next+1, ...; each retried with the same id until acknowledged. */
  async function publishSome(n) {
    for (let k = 0; k < n; k++) {
      const id = `m${next}`;
      for (;;) {
        try {
          const pa = await js.publish("ord.new", sc.encode(id), { msgID: id, timeout: 500 });
          acked.set(id, pa.seq);
          break;
        } catch {
          await sleep(5); // 503 (no leader yet) or a timeout: try the same id again
        }
      }
      next++;
    }
  }

  async function leaderOf() {
    const si = await until(() => jsm.streams.info("ORD"), 20000, "stream info");
    assert.ok(si.cluster && si.cluster.leader, "the stream has a leader");
    return si;
  }

  const times = [];
  await publishSome(100);
  for (let kill = 0; kill < KILLS; kill++) {
    const si = await leaderOf();
    const victim = byName.get(si.cluster.leader);
    assert.ok(victim, `leader ${si.cluster.leader} is one of ours`);
    await victim.kill();
    const t0 = Date.now();
    await publishSome(1);
    const ms = Date.now() - t0;
    times.push(ms);
    console.log(`# failover kill->next-ack ${ms} ms (leader ${si.cluster.leader})`);
    await publishSome(100);
    // the killed server comes back on the same store and catches up
    await victim.spawn();
    await until(async () => {
      const s = await jsm.streams.info("ORD");
      const reps = s.cluster.replicas || [];
      if (reps.length !== 2 || !reps.every((r) => r.current)) throw new Error(`not current: ${JSON.stringify(s.cluster)}`);
      return s;
    }, 30000, "restarted replica current");
  }
  console.log(`# failover median ${median(times)} ms over ${times.length} kills (${serverKind})`);
  // the budget holds for the median; one kill on a loaded machine may take up to twice it
  assert.ok(median(times) <= BUDGET_MS, `median failover ${median(times)} ms (budget ${BUDGET_MS} ms)`);
  for (const ms of times) assert.ok(ms <= 2 * BUDGET_MS, `failover took ${ms} ms (at most ${2 * BUDGET_MS} ms)`);

  // every acknowledged message exactly once, at its sequence number; nothing else stored
  const si = await leaderOf();
  assert.equal(si.state.messages, next, "one stored message per id");
  assert.equal(si.state.last_seq, next);
  const seen = new Set();
  for (let seq = 1; seq <= si.state.last_seq; seq++) {
    const m = await until(() => jsm.streams.getMessage("ORD", { seq }), 10000, `get ${seq}`);
    const id = sc.decode(m.data);
    assert.ok(!seen.has(id), `${id} stored twice`);
    seen.add(id);
    assert.equal(acked.get(id), seq, `${id} acked with seq ${acked.get(id)}, stored at ${seq}`);
  }
  assert.equal(seen.size, acked.size);
  await nc.close();
  await c.close();
});

// A follower frozen (SIGSTOP) for three times minijet's longest election timeout, then
// resumed, must not depose the working leader: pre-vote makes it ask first, and peers that
// hear from the leader say no. The publisher, on the leader's server, sees no error at all.
// (nats-server 2.9.10 has no pre-vote: a follower paused past its 4-9 s timeout does depose
// the leader on SIGCONT, spec 5.5; a 2 s pause stays under that timeout, so the test holds
// for both servers.)
test("a follower stopped past the election timeout and resumed does not depose the leader", { timeout: 60000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const byName = new Map(c.servers.map((s) => [s.name, s]));
  const nc0 = await connect({ servers: c.urls, timeout: 5000 });
  const jsm = await until(() => nc0.jetstreamManager({ timeout: 2000 }), 20000, "JetStream ready");
  const si = await until(() => jsm.streams.add({ name: "P", subjects: ["p.>"], num_replicas: 3 }), 20000, "R3 create");
  const leader = byName.get(si.cluster.leader);
  const follower = c.servers.find((s) => s !== leader);
  const nc = await connect({ servers: leader.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
  const js = nc.jetstream({ timeout: 2000 });
  let failed = 0, ok = 0, stop = false;
  const loop = (async () => {
    while (!stop) {
      try {
        await js.publish("p.x", sc.encode("v"), { timeout: 2000 }); // a deposition costs an election: it would show
        ok++;
      } catch {
        failed++;
      }
      await sleep(5);
    }
  })();
  await sleep(300);
  process.kill(follower.proc.pid, "SIGSTOP");
  await sleep(2000);
  process.kill(follower.proc.pid, "SIGCONT");
  await sleep(1500);
  stop = true;
  await loop;
  const after = await until(() => jsm.streams.info("P"), 10000, "stream info");
  console.log(`# paused ${follower.name} 2 s: ${ok} publishes ok, ${failed} failed; leader ${si.cluster.leader} -> ${after.cluster.leader}`);
  assert.equal(failed, 0);
  assert.ok(ok > 10, `publishing went on (${ok})`);
  assert.equal(after.cluster.leader, si.cluster.leader);
  await nc.close();
  await nc0.close();
  await c.close();
});

// A push consumer lives on its stream's leader; its subscriber may sit on another server.
// The delivery crosses the route and arrives with the stream subject (not the deliver
// subject) and the $JS.ACK reply, as nats-server does it; so KV watch works from anywhere.
test("push deliveries and KV watch reach a client on a server that does not lead the stream", { timeout: 60000 }, async () => {
  const c = await startCluster({ jetstream: true });
  const nc0 = await connect({ servers: c.urls, timeout: 5000 });
  const jsm = await until(() => nc0.jetstreamManager({ timeout: 2000 }), 20000, "JetStream ready");
  const si = await until(() => jsm.streams.add({ name: "S1", subjects: ["s1.>"], num_replicas: 1 }), 20000, "create");
  await nc0.jetstream().publish("s1.x", sc.encode("v"));
  const other = c.servers.find((s) => s.name !== si.cluster.leader);
  const nc = await connect({ servers: other.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
  const got = [];
  nc.subscribe("_INBOX.push", { callback: (err, m) => got.push(m) });
  await nc.flush();
  await until(async () => {
    await jsm.consumers.add("S1", { durable_name: "d", deliver_subject: "_INBOX.push", ack_policy: "none" });
  }, 10000, "consumer");
  await until(async () => { if (got.length < 1) throw new Error("nothing delivered"); }, 5000, "delivery");
  assert.equal(got[0].subject, "s1.x");
  assert.match(got[0].reply, /^\$JS\.ACK\.S1\.d\./);
  assert.equal(sc.decode(got[0].data), "v");

  const kv = await nc.jetstream().views.kv("cfg", { replicas: 3 });
  const kinfo = await jsm.streams.info("KV_cfg");
  const seen = [];
  const w = await kv.watch();
  (async () => { for await (const e of w) seen.push(`${e.key}=${sc.decode(e.value)}`); })();
  await kv.put("a", sc.encode("1"));
  await kv.put("b", sc.encode("2"));
  await until(async () => { if (seen.length < 2) throw new Error(JSON.stringify(seen)); }, 5000, "watch");
  assert.deepEqual(seen, ["a=1", "b=2"]);
  console.log(`# KV leader ${kinfo.cluster.leader}, client on ${other.name}`);
  w.stop();
  await nc.close();
  await nc0.close();
  await c.close();
});
