// failover.mjs — what a replicated stream's faults cost a client, measured with real processes
// (bench/compare.sh scenario `failover`, opt-in: SCENARIOS="... failover"; issue 14).
//
//   node bench/failover.mjs -k minijet|nats-server [-l label] [-K kills] [-N behind]
//                           [-C catch-up rounds] [-P pause seconds] [-S pause rounds]
//                           [-D stepdowns]
//
// Three servers of one kind joined by routes (tests/interop/js/server.mjs startCluster, the
// servers the interop suites use: MINIJET_SERVER_BIN / NATS_SERVER_BIN pick the binaries),
// an R3 file stream, nats.js. Four parts, each on a fresh cluster (a count of 0 skips one):
//
//   failover          kill -9 of the stream leader, K times (default 9): the time from the
//                     kill to the next acknowledged publish. The publisher is connected to all
//                     three servers and retries the same Nats-Msg-Id every 5 ms (500 ms per
//                     attempt), as spec nats-cluster.md 5.1 measured nats-server. After each
//                     kill the victim restarts on its store and must be current again.
//   catchup-10k       a follower killed, N messages (default 10,000, 100 B) published without
//                     it through the leader's server, the follower restarted: the time from
//                     its restart (accepting connections) until the leader's stream info shows
//                     it `current: true` with no lag (polled every 10 ms). C rounds (default 3).
//   stopped-follower  a follower stopped (SIGSTOP) for P s (default 10: past nats-server
//                     2.9.10's 4-9 s election timeout, spec 5.5) and resumed (SIGCONT), while a
//                     publisher on the leader's server publishes in a loop (2 s per attempt)
//                     until 10 s after the resume: failed publishes, the longest gap between two
//                     acknowledged ones, and whether the leader changed. S rounds (default 2).
//   stepdown          $JS.API.STREAM.LEADER.STEPDOWN, D times (default 9), while a publisher
//                     connected to all three servers publishes every 10 ms (Nats-Msg-Id, 500 ms
//                     per attempt, retried every 5 ms): the longest time without an acknowledged
//                     publish in the 2 s after the request, and how many attempts timed out
//                     (an attempt that gets an error, such as 503 no responders, is retried at
//                     once; one that gets no answer costs its 500 ms).
//
// Output, one line per measurement (bench/compare.sh pairs the kinds and takes medians):
//   failover,LABEL,ROUND,kill_to_ack_ms,VALUE
//   catchup-10k,LABEL,ROUND,current_ms,VALUE             (-N 10000; catchup-<N/1000>k otherwise)
//   stopped-follower,LABEL,ROUND,failed_publishes,VALUE   (and max_gap_ms, leader_changed)
//   stepdown,LABEL,ROUND,max_gap_ms,VALUE                 (and timeouts)
// Progress and errors go to stderr; exit status 1 on a failure (every wait is bounded).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "interop", "js", "package.json"));
const { connect } = require("nats");
const { startCluster, stopAllServers, sleep, until } = await import("../tests/interop/js/server.mjs");

const opt = { kind: "minijet", label: "", kills: 9, behind: 10000, catchups: 3, pause: 10, pauses: 2, stepdowns: 9 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => argv[++i];
  if (a === "-k") opt.kind = v();
  else if (a === "-l") opt.label = v();
  else if (a === "-K") opt.kills = Number(v());
  else if (a === "-N") opt.behind = Number(v());
  else if (a === "-C") opt.catchups = Number(v());
  else if (a === "-P") opt.pause = Number(v());
  else if (a === "-S") opt.pauses = Number(v());
  else if (a === "-D") opt.stepdowns = Number(v());
  else {
    console.error(`usage: node bench/failover.mjs -k minijet|nats-server [-l label] [-K kills] [-N behind] [-C rounds] [-P s] [-S rounds] [-D stepdowns]`);
    process.exit(2);
  }
}
const label = opt.label || opt.kind;
const WAIT = 30000; // bound on one wait for the cluster (a leader, a replica current)
const te = new TextEncoder();

function out(part, round, metric, value) {
  console.log(`${part},${label},${round},${metric},${value}`);
}
function note(s) {
  console.error(`# ${label}: ${s}`);
}

async function cluster() {
  const c = await startCluster({ jetstream: true, kinds: [opt.kind, opt.kind, opt.kind], name: "fo" });
  const nc = await connect({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000 });
  const jsm = await until(() => nc.jetstreamManager({ timeout: 2000 }), WAIT, "JetStream ready");
  return { c, nc, jsm };
}

async function streamWithLeader(jsm, name) {
  await until(() => jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3, storage: "file" }),
    WAIT, "R3 create");
  return await until(async () => {
    const si = await jsm.streams.info(name);
    if (!si.cluster || !si.cluster.leader) throw new Error("no leader yet");
    return si;
  }, WAIT, "stream leader");
}

/** Until the leader's info shows every replica (or the one named) current with no lag. */
async function current(jsm, name, who = null) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    try {
      const si = await jsm.streams.info(name);
      const reps = (si.cluster && si.cluster.replicas) || [];
      const want = who ? reps.filter((r) => r.name === who) : reps;
      if (want.length === (who ? 1 : 2) && want.every((r) => r.current && !r.lag)) return;
    } catch {
      /* the manager's server may be reconnecting */
    }
    if (Date.now() > deadline) throw new Error(`${who || "replicas"} not current after ${WAIT} ms`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------- kill -9 of the leader
async function failover() {
  if (opt.kills === 0) return;
  const { c, nc, jsm } = await cluster();
  const byName = new Map(c.servers.map((s) => [s.name, s]));
  await streamWithLeader(jsm, "FO");
  const js = nc.jetstream({ timeout: 500 });
  let next = 0;
  async function publishOne(deadline) {
    const id = `m${next++}`;
    for (;;) {
      try {
        return await js.publish("fo.x", te.encode(id), { msgID: id, timeout: 500 });
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`no ack for ${id}: ${err.message}`);
        await sleep(5);
      }
    }
  }
  for (let i = 0; i < 100; i++) await publishOne(Date.now() + WAIT);
  for (let k = 1; k <= opt.kills; k++) {
    const si = await until(() => jsm.streams.info("FO"), WAIT, "stream info");
    const victim = byName.get(si.cluster.leader);
    await victim.kill();
    const t0 = Date.now();
    await publishOne(t0 + WAIT);
    const ms = Date.now() - t0;
    out("failover", k, "kill_to_ack_ms", ms);
    note(`kill ${k}: leader ${victim.name}, next ack after ${ms} ms`);
    for (let i = 0; i < 20; i++) await publishOne(Date.now() + WAIT);
    await victim.spawn();
    await current(jsm, "FO");
  }
  await nc.close();
  await c.close();
}

// ---------------------------------------------------------------- restart N behind
async function catchup() {
  if (opt.catchups === 0) return;
  const { c, nc, jsm } = await cluster();
  const si = await streamWithLeader(jsm, "CU");
  const leader = c.servers.find((s) => s.name === si.cluster.leader);
  const pc = await connect({ servers: leader.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
  const js = pc.jetstream({ timeout: 20000 });
  const payload = new Uint8Array(100);
  for (let round = 1; round <= opt.catchups; round++) {
    const victim = c.servers.find((s) => s !== leader && s.alive());
    await victim.kill();
    for (let i = 0; i < opt.behind; i += 500) {
      const ps = [];
      for (let k = 0; k < Math.min(500, opt.behind - i); k++) ps.push(js.publish("cu.x", payload));
      await Promise.all(ps);
    }
    await victim.spawn();
    const t0 = Date.now();
    await current(jsm, "CU", victim.name);
    const ms = Date.now() - t0;
    out(`catchup-${opt.behind >= 1000 ? `${opt.behind / 1000}k` : opt.behind}`, round, "current_ms", ms);
    note(`catch-up ${round}: ${victim.name} current ${ms} ms after its restart, ${opt.behind} behind`);
    await current(jsm, "CU");
  }
  await pc.close();
  await nc.close();
  await c.close();
}

// ---------------------------------------------------------------- a stopped follower
async function stoppedFollower() {
  for (let round = 1; round <= opt.pauses; round++) {
    const { c, nc, jsm } = await cluster();
    const name = `SF${round}`;
    const si = await streamWithLeader(jsm, name);
    const leader = c.servers.find((s) => s.name === si.cluster.leader);
    const follower = c.servers.find((s) => s !== leader);
    const pc = await connect({ servers: leader.url, noRandomize: true, ignoreClusterUpdates: true, timeout: 5000 });
    const js = pc.jetstream({ timeout: 2000 });
    let failed = 0, ok = 0, stop = false, lastOk = Date.now(), maxGap = 0;
    const loop = (async () => {
      while (!stop) {
        try {
          await js.publish(`${name.toLowerCase()}.x`, te.encode("v"), { timeout: 2000 });
          const now = Date.now();
          maxGap = Math.max(maxGap, now - lastOk);
          lastOk = now;
          ok++;
        } catch {
          failed++;
        }
        await sleep(5);
      }
      maxGap = Math.max(maxGap, Date.now() - lastOk);
    })();
    await sleep(500);
    process.kill(follower.proc.pid, "SIGSTOP");
    await sleep(opt.pause * 1000);
    process.kill(follower.proc.pid, "SIGCONT");
    await sleep(10000);
    stop = true;
    await loop;
    const after = await until(() => jsm.streams.info(name), WAIT, "stream info");
    const changed = after.cluster.leader !== si.cluster.leader ? 1 : 0;
    out("stopped-follower", round, "failed_publishes", failed);
    out("stopped-follower", round, "max_gap_ms", maxGap);
    out("stopped-follower", round, "leader_changed", changed);
    note(`${follower.name} stopped ${opt.pause} s: ${ok} ok, ${failed} failed, longest gap ${maxGap} ms, ` +
      `leader ${si.cluster.leader} -> ${after.cluster.leader}`);
    await pc.close();
    await nc.close();
    await c.close();
  }
}

// ---------------------------------------------------------------- leader stepdown
async function stepdown() {
  if (opt.stepdowns === 0) return;
  const { c, nc, jsm } = await cluster();
  await streamWithLeader(jsm, "SD");
  const js = nc.jetstream({ timeout: 500 });
  let next = 0, stop = false;
  const acks = [], timeouts = []; // times
  const loop = (async () => {
    while (!stop) {
      const id = `m${next++}`;
      while (!stop) {
        try {
          await js.publish("sd.x", te.encode(id), { msgID: id, timeout: 500 });
          acks.push(Date.now());
          break;
        } catch (err) {
          if (err.code === "TIMEOUT") timeouts.push(Date.now());
          await sleep(5);
        }
      }
      await sleep(10);
    }
  })();
  await sleep(1000);
  for (let k = 1; k <= opt.stepdowns; k++) {
    await current(jsm, "SD");
    const before = (await until(() => jsm.streams.info("SD"), WAIT, "stream info")).cluster.leader;
    const t0 = Date.now();
    await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.SD", new Uint8Array(0), { timeout: 5000 });
    await sleep(2000);
    const t1 = t0 + 2000;
    let prev = t0, gap = 0;
    for (const t of acks) if (t > t0 && t <= t1) { gap = Math.max(gap, t - prev); prev = t; }
    gap = Math.max(gap, t1 - prev);
    const lost = timeouts.filter((t) => t > t0 && t <= t1).length;
    const after = (await until(() => jsm.streams.info("SD"), WAIT, "stream info")).cluster.leader;
    out("stepdown", k, "max_gap_ms", gap);
    out("stepdown", k, "timeouts", lost);
    note(`stepdown ${k}: leader ${before} -> ${after}, longest gap ${gap} ms, ${lost} publishes timed out`);
  }
  stop = true;
  await loop;
  await nc.close();
  await c.close();
}

try {
  await failover();
  await catchup();
  await stoppedFollower();
  await stepdown();
} catch (err) {
  console.error(`FAIL failover ${label}: ${err.message}`);
  await stopAllServers();
  process.exit(1);
}
await stopAllServers();
