// cluster-start.mjs — how long a fresh cluster takes to serve JetStream (issue 14's known limit:
// the first meta election).
//
//   node bench/cluster-start.mjs -k minijet|nats-server [-n servers] [-r rounds] [-l label]
//
// Each round starts n servers (default 3) of one kind on loopback with the same --routes list
// (every node named, itself included, as tests/interop/js/server.mjs startCluster does), each with
// a fresh store, spawned back to back; the clock starts when the last one is spawned. A nats.js
// client given every URL then asks $JS.API.INFO (250 ms per attempt, retried every 10 ms) until
// it answers without an error, and then creates an R3 file stream until the create succeeds.
// Output, one line per round:
//   cluster-start,LABEL,ROUND,info_ms,VALUE   and   cluster-start,LABEL,ROUND,r3_create_ms,VALUE
// then the median and worst of each on stderr. Every wait is bounded (20 s). The servers' logs go
// to build/test-logs/cluster-start/; CLUSTER_START_DEBUG=1 runs them with -D and prints every
// failed attempt (an error answer or a timeout) with its time.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "interop", "js", "package.json"));
const { connect } = require("nats");
const { freePort, serverBinary, sleep } = await import("../tests/interop/js/server.mjs");

const opt = { kind: "minijet", n: 3, rounds: 20, label: "" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const v = () => argv[++i];
  if (argv[i] === "-k") opt.kind = v();
  else if (argv[i] === "-n") opt.n = Number(v());
  else if (argv[i] === "-r") opt.rounds = Number(v());
  else if (argv[i] === "-l") opt.label = v();
  else throw new Error(`unknown option ${argv[i]}`);
}
const label = opt.label || `${opt.kind}-${opt.n}`;
const BOUND_MS = 20000;
const logDir = path.join(here, "..", "build", "test-logs", "cluster-start");
fs.mkdirSync(logDir, { recursive: true });

async function round(r) {
  const nodes = [];
  for (let i = 0; i < opt.n; i++) nodes.push({ port: await freePort(), cport: await freePort() });
  const routes = nodes.map((n) => `nats://127.0.0.1:${n.cport}`).join(",");
  const procs = [];
  const dirs = [];
  let t0 = 0;
  for (let i = 0; i < opt.n; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-cluster-start-"));
    dirs.push(dir);
    const fd = fs.openSync(path.join(logDir, `${label}-${r}-n${i + 1}.log`), "w");
    const args = ["-a", "127.0.0.1", "-p", String(nodes[i].port), "-js", "-sd", dir, "--cluster",
      `nats://127.0.0.1:${nodes[i].cport}`, "--routes", routes, "--cluster_name", "cs", "-n", `n${i + 1}`,
      ...(process.env.CLUSTER_START_DEBUG ? ["-D"] : [])];
    procs.push(spawn(serverBinary(opt.kind), args, { stdio: ["ignore", fd, fd] }));
    fs.closeSync(fd);
    t0 = performance.now();
  }
  let nc = null;
  const out = {};
  try {
    const deadline = t0 + BOUND_MS;
    while (nc === null) {
      try {
        nc = await connect({ servers: nodes.map((n) => `127.0.0.1:${n.port}`), reconnect: false, timeout: 1000 });
      } catch {
        if (performance.now() > deadline) throw new Error("no server accepted");
        await sleep(10);
      }
    }
    for (;;) {
      try {
        const m = await nc.request("$JS.API.INFO", new Uint8Array(0), { timeout: 250 });
        const j = JSON.parse(new TextDecoder().decode(m.data));
        if (!j.error) break;
      } catch { /* 503, timeout */ }
      if (performance.now() > deadline) throw new Error("$JS.API.INFO never answered");
      await sleep(10);
    }
    out.info_ms = performance.now() - t0;
    const body = JSON.stringify({ name: "S", subjects: ["s.>"], num_replicas: 3, storage: "file" });
    for (;;) {
      try {
        const m = await nc.request("$JS.API.STREAM.CREATE.S", new TextEncoder().encode(body), { timeout: 1000 });
        const j = JSON.parse(new TextDecoder().decode(m.data));
        if (!j.error) break;
        if (process.env.CLUSTER_START_DEBUG) process.stderr.write(`create: ${JSON.stringify(j.error)} at ${(performance.now() - t0).toFixed(0)}\n`);
      } catch (e) {
        if (process.env.CLUSTER_START_DEBUG) process.stderr.write(`create: ${e.message} at ${(performance.now() - t0).toFixed(0)}\n`);
      }
      if (performance.now() > deadline) throw new Error("the R3 create never succeeded");
      await sleep(10);
    }
    out.r3_create_ms = performance.now() - t0;
  } finally {
    if (nc) await nc.close().catch(() => {});
    await Promise.all(procs.map((p) => new Promise((res) => {
      if (p.exitCode !== null || p.signalCode !== null) return res();
      p.once("exit", res);
      p.kill("SIGKILL");
    })));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  return out;
}

const res = { info_ms: [], r3_create_ms: [] };
for (let r = 1; r <= opt.rounds; r++) {
  const o = await round(r);
  for (const k of Object.keys(res)) {
    res[k].push(o[k]);
    console.log(`cluster-start,${label},${r},${k},${o[k].toFixed(0)}`);
  }
}
for (const [k, v] of Object.entries(res)) {
  const s = [...v].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  process.stderr.write(`${label} ${k}: median ${med.toFixed(0)} ms, min ${s[0].toFixed(0)}, worst ${s[s.length - 1].toFixed(0)} (${s.length} rounds)\n`);
}
