// consumer-failover.mjs — how long each kind of consumer stalls across a stream leader change,
// measured with real processes (issue 14 item 4; not part of `make test`).
//
//   node bench/consumer-failover.mjs -k minijet|nats-server [-R rounds]
//
// Three servers of one kind (tests/interop/js/server.mjs startCluster), an R3 file stream, a
// publisher acknowledging one message every ~10 ms (Nats-Msg-Id, retried), and four consumers,
// each on its own connection to all three servers:
//   ordered       js.consumers.get(stream).consume()            (ordered pull, nats.js)
//   pull          a durable pull consumer, consume(), explicit ack
//   push          a durable push consumer (deliver subject), explicit ack
//   ordered-push  js.subscribe with consumerOpts().orderedConsumer()
// Each round: STREAM.LEADER.STEPDOWN; then kill -9 of the stream leader (restarted, current);
// then (nats-server) kill -9 of the pull durable's leader where it is another server. For each
// event and consumer, the gap: the longest time without a delivery from the event until the
// consumer has everything published until 100 messages after the event were acknowledged (the
// publisher's own stall shows as "publish"). Output lines:  event,consumer,gap_ms
// At the end each consumer must have seen every acknowledged sequence (ordered: in order, once).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "interop", "js", "package.json"));
const { connect, consumerOpts, AckPolicy } = require("nats");
const { startCluster, stopAllServers, sleep, until } = await import("../tests/interop/js/server.mjs");

const opt = { kind: "minijet", rounds: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "-k") opt.kind = argv[++i];
  else if (argv[i] === "-R") opt.rounds = Number(argv[++i]);
  else {
    console.error("usage: node bench/consumer-failover.mjs -k minijet|nats-server [-R rounds]");
    process.exit(2);
  }
}
const WAIT = 60000;
const te = new TextEncoder();
const note = (s) => console.error(`# ${opt.kind} ${new Date().toISOString().slice(11, 23)} ${s}`);

const c = await startCluster({ jetstream: true, kinds: [opt.kind, opt.kind, opt.kind], name: "cf" });
const byName = new Map(c.servers.map((s) => [s.name, s]));
const copts = { servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 };
const nc = await connect(copts);
const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT, "JetStream ready");
await until(() => jsm.streams.add({ name: "CF", subjects: ["cf.>"], num_replicas: 3, storage: "file" }), WAIT, "R3");
await until(async () => {
  const si = await jsm.streams.info("CF");
  if (!si.cluster.leader) throw new Error("no leader");
}, WAIT, "leader");
await until(() => jsm.consumers.add("CF", { durable_name: "pull", ack_policy: AckPolicy.Explicit }), WAIT, "pull");

// every consumer: seqs in arrival order, arrival times
const kinds = {};
function track(name) {
  kinds[name] = { seqs: [], times: [], dups: 0, seen: new Set() };
  return (seq) => {
    const k = kinds[name];
    if (k.seen.has(seq)) k.dups++;
    k.seen.add(seq);
    k.seqs.push(seq);
    k.times.push(Date.now());
  };
}

const ncO = await connect(copts);
const onOrdered = track("ordered");
const oc = await until(() => ncO.jetstream().consumers.get("CF"), WAIT, "ordered");
const oit = await oc.consume({ max_messages: 100 });
(async () => { for await (const m of oit) onOrdered(m.seq); })().catch((e) => note(`ordered ended: ${e.message}`));

const ncP = await connect(copts);
const onPull = track("pull");
const pc = await ncP.jetstream().consumers.get("CF", "pull");
const pit = await pc.consume({ max_messages: 100 });
(async () => { for await (const m of pit) { onPull(m.seq); m.ack(); } })().catch((e) => note(`pull ended: ${e.message}`));
(async () => { for await (const s of await pit.status()) note(`pull status ${s.type} ${JSON.stringify(s.data)}`); })();
(async () => { for await (const s of await oit.status()) note(`ordered status ${s.type} ${JSON.stringify(s.data)}`); })();

const ncH = await connect(copts);
const onPush = track("push");
ncH.subscribe("deliver.cf.push", {
  callback: (err, m) => {
    if (err) return;
    const t = m.reply.split(".");
    onPush(Number(t[t.length - 4]));
    m.respond(te.encode("+ACK"));
  },
});
await ncH.flush();
await until(() => jsm.consumers.add("CF", { durable_name: "push", deliver_subject: "deliver.cf.push",
  ack_policy: AckPolicy.Explicit }), WAIT, "push");

const ncQ = await connect(copts);
const onOPush = track("ordered-push");
const oo = consumerOpts();
oo.orderedConsumer();
const osub = await until(() => ncQ.jetstream().subscribe("cf.>", oo), WAIT, "ordered push");
(async () => { for await (const m of osub) onOPush(m.seq); })().catch((e) => note(`ordered-push ended: ${e.message}`));

// the publisher
const js = nc.jetstream({ timeout: 500 });
let next = 0, stop = false;
const acked = []; // [seq, time]
const pubLoop = (async () => {
  while (!stop) {
    const id = `m${next++}`;
    for (;;) {
      try {
        const pa = await js.publish("cf.x", te.encode(id), { msgID: id, timeout: 500 });
        acked.push([pa.seq, Date.now()]);
        break;
      } catch {
        await sleep(5);
      }
    }
    await sleep(10);
  }
})();

const lastAcked = () => (acked.length ? acked[acked.length - 1][0] : 0);
async function waitAll(seq, what) {
  await until(async () => {
    for (const [n, k] of Object.entries(kinds)) if (!k.seen.has(seq)) throw new Error(`${n} lacks ${seq}`);
  }, WAIT, what);
}

const results = [];
/** Longest time without a delivery to each consumer from t0 until it has `upTo`, and the publisher's. */
function gaps(event, t0, upTo) {
  const row = { event };
  for (const [n, k] of Object.entries(kinds)) {
    let prev = t0, gap = 0;
    for (let i = 0; i < k.times.length; i++) {
      if (k.times[i] < t0) continue;
      gap = Math.max(gap, k.times[i] - prev);
      prev = k.times[i];
      if (k.seqs[i] >= upTo) break;
    }
    if (!k.seen.has(upTo)) gap = Math.max(gap, Date.now() - prev); // still waiting
    row[n] = gap;
  }
  let prev = t0, gap = 0;
  for (const [, t] of acked) if (t >= t0) { gap = Math.max(gap, t - prev); prev = t; }
  row.publish = gap;
  results.push(row);
  for (const [k, v] of Object.entries(row)) if (k !== "event") console.log(`${event},${k},${v}`);
}

async function event(name, fn) {
  await sleep(1500);
  await waitAll(lastAcked(), `before ${name}`);
  const t0 = Date.now();
  await fn();
  const done = Date.now();
  // publishing is back: 100 acknowledgements (a second's worth) after the event
  await until(async () => {
    if (acked.filter(([, t]) => t > done).length < 100) throw new Error("publishing has not resumed");
  }, WAIT, "publish after");
  const upTo = lastAcked();
  try {
    await waitAll(upTo, `after ${name}`);
  } catch (err) {
    note(`${err.message} after ${WAIT} ms: that gap is at least this long`); // nats-server: an R1 on the dead node
  }
  gaps(name, t0, upTo);
  note(`${name}: ${JSON.stringify(results[results.length - 1])}`);
}

async function leader() {
  return await until(async () => {
    const si = await jsm.streams.info("CF");
    if (!si.cluster.leader) throw new Error("no leader");
    return si.cluster.leader;
  }, WAIT, "leader");
}

async function current() {
  await until(async () => {
    const si = await jsm.streams.info("CF");
    const reps = si.cluster.replicas || [];
    if (reps.length !== 2 || !reps.every((r) => r.current)) throw new Error("not current");
  }, WAIT, "current");
}

await sleep(1000);
for (let r = 1; r <= opt.rounds; r++) {
  await event(`stepdown${r}`, async () => {
    const l = await leader();
    note(`stepdown of ${l}`);
    await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.CF", new Uint8Array(0), { timeout: 5000 });
  });
  let victim;
  await event(`kill-stream-leader${r}`, async () => {
    victim = byName.get(await leader());
    note(`kill -9 of ${victim.name}`);
    await victim.kill();
  });
  await victim.spawn();
  await current();
  const ci = await until(() => jsm.consumers.info("CF", "pull"), WAIT, "consumer info");
  const sl = await leader();
  if (ci.cluster.leader !== sl) {
    await event(`kill-consumer-leader${r}`, async () => {
      victim = byName.get(ci.cluster.leader);
      note(`kill -9 of ${victim.name} (consumer leader; stream leader ${sl})`);
      await victim.kill();
    });
    await victim.spawn();
    await current();
  }
}
stop = true;
await pubLoop;
const last = lastAcked();
await waitAll(last, "the end");
let bad = 0;
for (const [n, k] of Object.entries(kinds)) {
  const missing = acked.filter(([s]) => !k.seen.has(s)).length;
  let order = "";
  if (n.startsWith("ordered")) {
    const exp = [...Array(k.seqs.length).keys()].map((i) => i + 1);
    order = k.seqs.every((s, i) => s === exp[i]) ? "in order" : "OUT OF ORDER";
    if (order !== "in order") bad++;
  }
  if (missing) bad++;
  console.error(`# ${n}: ${k.seqs.length} deliveries, ${k.seen.size} distinct, ${k.dups} dups, missing ${missing} ${order}`);
}
for (const x of [nc, ncO, ncP, ncH, ncQ]) await x.close().catch(() => {});
await stopAllServers();
process.exit(bad ? 1 : 0);
