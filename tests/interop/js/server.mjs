// server.mjs — start, stop and restart the server under test for the nats.js interop suites
// (the JS twin of tests/interop/server_ctl.c).
//
// MINIJET_TEST_SERVER picks the server: "minijet" (default) runs build/minijet-server from the
// repository root ($MINIJET_ROOT, else found from this file's location), "nats-server" runs
// nats-server from PATH. Both get `-a 127.0.0.1 -p <free port> -js -sd <fresh temp dir>`, and write
// their output to build/test-logs/servers/<kind>-<port>-js<pid>.log.
//
//   const srv = await startServer();   // accepting connections (5 s bound) or throws
//   srv.url, srv.port, srv.storeDir, srv.logPath
//   await srv.restart();               // SIGTERM, then start again on the same port and store
//   await srv.stop();                  // SIGTERM, SIGKILL after 10 s; keeps port and store
//   srv.alive()                        // still running?
//   await srv.close();                 // stop and remove the store
//   await stopAllServers();            // for after(): every server this process started
//   await ownReplica(srv, "S")         // S's state in srv's own store (its /jsz), or null
//   startServer([], { maxFiles: 64 })  // under `ulimit -n 64` (a shell wrapper sets it)
//   startServer([], { startTimeoutMs }) // a longer bound on accepting (restoring many streams)
//   confPath("auth-users")             // tests/interop/conf/auth-users.conf: startServer(["-c", it])
//                                      // gives both servers the same config file
//
// The helpers every suite shares:
//   serverTest(name, async ({ srv, open, nc, js }) => ..., { args, timeout, connect })
//                                      // a node:test test with its own fresh server (args for
//                                      // startServer); open(opts) connects a nats.js client that
//                                      // is closed afterwards; connect: true opens one first (nc,
//                                      // js). It fails if the server died, naming how.
//   await within(promise, ms, what)    // or reject "timed out after ms ms: what"
//   await sleep(ms), WAIT_MS           // the longest one expected event may take
//
// Only node:* modules and nats.js, nothing newer than Node 18.19.
import { test } from "node:test";
import { connect } from "nats";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const START_TIMEOUT_MS = 5000;
// A graceful stop writes consumer state and closes files; on a loaded 2-core machine that has
// taken nats-server more than 3 s. A SIGKILL then loses what a restart test checks, so the
// grace is long and an escalation is said out loud.
const STOP_GRACE_MS = 10000;

export const serverKind = process.env.MINIJET_TEST_SERVER || "minijet";

export function repoRoot() {
  if (process.env.MINIJET_ROOT) return process.env.MINIJET_ROOT;
  // this file is <root>/tests/interop/js/server.mjs
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, "..", "..", "..");
  if (fs.existsSync(path.join(root, "Makefile"))) return root;
  return process.cwd();
}

export function serverBinary(kind = serverKind) {
  if (kind === "nats-server") return process.env.NATS_SERVER_BIN || "nats-server";
  return process.env.MINIJET_SERVER_BIN || path.join(repoRoot(), "build", "minijet-server");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retry fn until it resolves or timeoutMs passes (the cluster forming, a leader electing). */
export async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${err.message}`);
      await sleep(50);
    }
  }
}

/** A port nobody listens on right now (bind 0, read it, close), and never one this process
 * handed out before: the kernel may give a just-closed port again, and a cluster picks nine
 * ports before any server binds one (seen once: n3's client port was n1's monitor port). */
const handedOut = new Set();
/** Publish with a msg id, retried with the same id (a 503 while there is no leader, or a
 * timeout) until acknowledged or waitMs has passed; the stream sequence. The cluster suites'
 * way to publish exactly once across leader changes. */
export async function publishOnce(js, subject, id, waitMs) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return (await js.publish(subject, new TextEncoder().encode(id), { msgID: id, timeout: 1000 })).seq;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`publish ${id}: ${err.message}`);
      await sleep(20);
    }
  }
}

/** The state of `stream` as `srv`'s own replica holds it (its /jsz?streams=true, which on
 * both servers shows the server's local store, a follower's too), or null when `srv` has no
 * replica of it. `srv` needs a monitor port (startCluster gives each node one). */
export async function ownReplica(srv, stream) {
  const j = await monitorJson(srv, "/jsz?streams=true");
  const sd = ((j.account_details && j.account_details[0] && j.account_details[0].stream_detail) || [])
    .find((d) => d.name === stream);
  return sd ? sd.state : null;
}

/** A stream or consumer info's cluster block as names: the leader first, then the replicas. */
export function peersOf(info) {
  const c = info.cluster || {};
  return [c.leader, ...(c.replicas || []).map((r) => r.name)].filter(Boolean);
}

export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.on("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

const running = new Set(); // processes alive now

/** Signal the server's process group (it leads one: wrappers and their children go too). */
function killGroup(proc, sig, groupOnly = false) {
  for (const target of groupOnly ? [-proc.pid] : [-proc.pid, proc.pid]) {
    try {
      process.kill(target, sig);
    } catch {
      /* already gone */
    }
  }
}
const created = new Set(); // every Server object, for stopAllServers

function killAllSync() {
  for (const s of running) {
    killGroup(s.proc, "SIGKILL");
  }
}
process.on("exit", killAllSync);
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => {
    killAllSync();
    process.exit(128 + (os.constants.signals[sig] || 1));
  });
}

class Server {
  constructor(port, storeDir, logPath, extraArgs,
    { kind = serverKind, jetstream = true, maxFiles = 0, startTimeoutMs = START_TIMEOUT_MS } = {}) {
    this.kind = kind;
    this.startTimeoutMs = startTimeoutMs;
    this.maxFiles = maxFiles; // > 0: run under `ulimit -n maxFiles`
    this.jetstream = jetstream;
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.hostport = `127.0.0.1:${port}`;
    this.storeDir = storeDir;
    this.logPath = logPath;
    this.extraArgs = extraArgs;
    this.proc = null;
    this.exit = null; // {code, signal} once it exited
  }

  alive() {
    return this.proc !== null && this.exit === null;
  }

  /** Describe how the process ended, and the end of its log. */
  describeExit() {
    const how = this.exit
      ? this.exit.signal
        ? `killed by ${this.exit.signal}`
        : `exited with code ${this.exit.code}`
      : "running";
    let tail = "";
    try {
      tail = fs.readFileSync(this.logPath, "utf8").split("\n").slice(-15).join("\n");
    } catch {
      /* no log */
    }
    return `${this.kind} server ${how}; log ${this.logPath} ends:\n${tail}`;
  }

  async spawn() {
    const bin = serverBinary(this.kind);
    if (bin.includes("/") && !fs.existsSync(bin)) {
      throw new Error(`server binary ${bin} does not exist (run make)`);
    }
    const js = this.jetstream ? ["-js", "-sd", this.storeDir] : [];
    const args = ["-a", "127.0.0.1", "-p", String(this.port), ...js, ...this.extraArgs];
    const fd = fs.openSync(this.logPath, "a");
    fs.writeSync(fd, `=== server.mjs: ${bin} ${args.join(" ")}\n`);
    this.exit = null;
    // detached: its own process group, so stop() reaches whatever it spawns; the exit and signal
    // handlers above kill it if this process ends first.
    const [cmd, argv] = this.maxFiles > 0
      ? ["/bin/sh", ["-c", `ulimit -n ${this.maxFiles} && exec "$0" "$@"`, bin, ...args]]
      : [bin, args];
    const proc = spawn(cmd, argv, { stdio: ["ignore", fd, fd], detached: true });
    fs.closeSync(fd);
    this.proc = proc;
    running.add(this);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        resolve(this.exit);
      });
      proc.once("error", (err) => {
        this.exit = { code: -1, signal: null, error: err };
        running.delete(this);
        resolve(this.exit);
      });
    });
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (this.exit) {
        throw new Error(`${bin} ${args.join(" ")} ended before accepting connections: ${this.describeExit()}`);
      }
      if (await portAccepts(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${bin} did not accept connections on ${this.port} within ${this.startTimeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  /** SIGTERM; SIGKILL after STOP_GRACE_MS. Resolves to {code, signal} (null if it was not running). */
  async stop() {
    if (!this.proc || this.exit) return this.exit;
    this.proc.kill("SIGTERM");
    let timer;
    const killed = new Promise((resolve) => {
      timer = setTimeout(() => {
        process.stderr.write(`server.mjs: ${this.kind} on port ${this.port} ignored SIGTERM for ${STOP_GRACE_MS} ms: SIGKILL\n`);
        killGroup(this.proc, "SIGKILL");
        resolve();
      }, STOP_GRACE_MS);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    const exit = await this.exited;
    killGroup(this.proc, "SIGKILL", true); // anything left in its group (not the reaped pid)
    return exit;
  }

  /** kill -9: no goodbye to clients or routes. */
  async kill() {
    if (!this.proc || this.exit) return this.exit;
    killGroup(this.proc, "SIGKILL");
    return await this.exited;
  }

  async restart() {
    await this.stop();
    await this.spawn();
  }

  async close() {
    created.delete(this);
    await this.stop();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/** The path of a shared config file in tests/interop/conf/ (both servers read the same file). */
export function confPath(name) {
  return path.join(repoRoot(), "tests", "interop", "conf", `${name}.conf`);
}

/** Start a fresh server (optionally with extra command-line arguments; maxFiles: ulimit -n). */
export async function startServer(extraArgs = [], { maxFiles = 0, startTimeoutMs = START_TIMEOUT_MS } = {}) {
  const port = await freePort();
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-interop-js-"));
  const logDir = path.join(repoRoot(), "build", "test-logs", "servers");
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `${serverKind}-${port}-js${process.pid}.log`);
  const srv = new Server(port, storeDir, logPath, extraArgs, { maxFiles, startTimeoutMs });
  created.add(srv);
  try {
    await srv.spawn();
  } catch (e) {
    fs.rmSync(storeDir, { recursive: true, force: true });
    throw e;
  }
  return srv;
}

/**
 * Start a cluster of `size` servers on loopback (JetStream only with `jetstream: true`, each
 * node with its own store directory): every node gets the same
 * --routes list naming all of them (itself included, as one shared config does), a cluster
 * name, a server name n1..nN and a monitor port. `kinds` picks each node's server
 * ("minijet" / "nats-server"; default: every node MINIJET_TEST_SERVER's). Resolves once every
 * node reports size-1 routes on /routez (a full mesh), or throws after 10 s.
 *   const c = await startCluster();  c.servers[i] (a Server plus .clusterPort, .monitorPort,
 *   .name), c.urls (client URLs), await c.waitMesh(), await c.close()
 */
export async function startCluster({ size = 3, kinds = null, name = "tc", extraArgs = [], perNode = null,
  jetstream = false } = {}) {
  const nodes = [];
  for (let i = 0; i < size; i++) {
    nodes.push({ port: await freePort(), cport: await freePort(), mport: await freePort() });
  }
  const routes = nodes.map((n) => `nats://127.0.0.1:${n.cport}`).join(",");
  const logDir = path.join(repoRoot(), "build", "test-logs", "servers");
  fs.mkdirSync(logDir, { recursive: true });
  const servers = nodes.map((n, i) => {
    const kind = kinds ? kinds[i] : serverKind;
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-interop-cluster-"));
    const logPath = path.join(logDir, `${kind}-${n.port}-cluster-js${process.pid}.log`);
    const args = ["-m", String(n.mport), "--cluster", `nats://127.0.0.1:${n.cport}`, "--routes", routes,
      "--cluster_name", name, "-n", `n${i + 1}`, ...extraArgs, ...((perNode && perNode[i]) || [])];
    const srv = new Server(n.port, storeDir, logPath, args, { kind, jetstream });
    srv.clusterPort = n.cport;
    srv.monitorPort = n.mport;
    srv.name = `n${i + 1}`;
    created.add(srv);
    return srv;
  });
  await Promise.all(servers.map((s) => s.spawn()));
  const cluster = {
    servers,
    urls: servers.map((s) => s.url),
    /** Wait until every live node has a route to every other live node. */
    async waitMesh(timeoutMs = 10000) {
      const live = servers.filter((s) => s.alive());
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const counts = await Promise.all(live.map((s) => monitorJson(s, "/routez").then((r) => r.num_routes, () => -1)));
        if (counts.every((c) => c === live.length - 1)) return;
        if (Date.now() > deadline) throw new Error(`no full mesh after ${timeoutMs} ms: routes ${counts}`);
        await sleep(50);
      }
    },
    async close() {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
  await cluster.waitMesh();
  return cluster;
}

/** GET a monitor endpoint of a server started with a monitor port; resolves to parsed JSON. */
export async function monitorJson(srv, pathAndQuery) {
  const res = await fetchCompat(`http://127.0.0.1:${srv.monitorPort}${pathAndQuery}`);
  return JSON.parse(res);
}

function fetchCompat(url) {
  return new Promise((resolve, reject) => {
    import("node:http").then(({ default: http }) => {
      const req = http.get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.setTimeout(2000, () => req.destroy(new Error(`timeout: ${url}`)));
    }, reject);
  });
}

/**
 * Wait until `srv` has learned `subject` from `count` of its routes (its /routez?subs=1 lists
 * the subject on that many routes): interest travels asynchronously, as on nats-server.
 */
export async function waitRemoteInterest(srv, subject, count = 1, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rz = await monitorJson(srv, "/routez?subs=1");
    const n = rz.routes.filter((r) => (r.subscriptions_list || []).includes(subject)).length;
    if (n >= count) return;
    if (Date.now() > deadline) throw new Error(`${srv.name}: interest in ${subject} from ${n}/${count} routes`);
    await sleep(20);
  }
}

export async function stopAllServers() {
  await Promise.all([...created].map((s) => s.close()));
  created.clear();
}

/* ------------------------------------------------------------------ shared test helpers */

/** The longest a single expected event (a connect, a flush, a reply) may take. */
export const WAIT_MS = 5000;
const TEST_TIMEOUT_MS = 20000;

/** Resolve `p`, or reject after `ms` with a message naming `what`. */
export async function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A test with its own fresh server (started with `args`). `fn` gets { srv, open }: open(opts)
 * connects a nats.js client (no reconnect, WAIT_MS bounds), closed when the test ends; with
 * `connect: true` also { nc, js }, one client opened before fn runs. After fn the server must
 * still be running: if it died, the test fails naming its exit (and fn's own failure, if any).
 */
export function serverTest(name, fn, { args = [], timeout = TEST_TIMEOUT_MS, connect: connectFirst = false } = {}) {
  test(name, { timeout }, async () => {
    const srv = await startServer(args);
    const conns = [];
    const open = async (opts = {}) => {
      const nc = await within(
        connect({ servers: srv.hostport, reconnect: false, timeout: WAIT_MS, ...opts }),
        WAIT_MS + 1000,
        "connect",
      );
      conns.push(nc);
      return nc;
    };
    let failure = null;
    try {
      const nc = connectFirst ? await open() : undefined;
      await fn({ srv, open, nc, js: nc?.jetstream() });
    } catch (e) {
      failure = e;
    }
    for (const nc of conns) {
      if (!nc.isClosed()) await within(nc.close(), WAIT_MS, "close").catch(() => {});
    }
    const alive = srv.alive();
    const why = alive ? "" : srv.describeExit();
    await srv.close();
    if (!alive) {
      throw new Error(`the server is no longer running: ${why}${failure ? `\n(the test failed with: ${failure.message})` : ""}`);
    }
    if (failure) throw failure;
  });
}
