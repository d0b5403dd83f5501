// cluster.test.mjs — three servers routed into one cluster, driven by nats.js 2.29.3.
//
// The same file runs against three minijet servers and against three nats-server 2.9.10 servers
// (MINIJET_TEST_SERVER), and its last test joins one minijet node to two nats-server nodes (the
// mixed cluster, run under MINIJET_TEST_SERVER=minijet only). What is checked is what clients
// see (spec nats-cluster.md 2-3): delivery across servers, queue groups exactly once and
// weighted across the cluster, request/reply and 503 across servers, echo=false, INFO's
// cluster and connect_urls (and their async updates), failover after kill -9, bad route input.
// Interest travels asynchronously: tests wait for it on /routez?subs=1, never with bare sleeps.
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/cluster.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect, StringCodec, ErrorCode, Events } from "nats";
import { startCluster, stopAllServers, monitorJson, waitRemoteInterest, serverKind, within, sleep, until, WAIT_MS }
  from "./server.mjs";

const QUIET_MS = 150;
const T = { timeout: 30000 };
const sc = StringCodec();

let cluster;
const conns = [];
async function open(srv, opts = {}) {
  const nc = await within(connect({ servers: srv.hostport, reconnect: false, timeout: WAIT_MS, ...opts }),
    WAIT_MS + 1000, "connect");
  conns.push(nc);
  return nc;
}

/** Collect what a subscription receives until `n` messages or the quiet period ends. */
async function collect(sub, n, ms = WAIT_MS) {
  const got = [];
  const deadline = Date.now() + ms;
  const it = sub[Symbol.asyncIterator]();
  while (got.length < n && Date.now() < deadline) {
    const r = await Promise.race([it.next(), sleep(deadline - Date.now()).then(() => null)]);
    if (r === null || r.done) break;
    got.push(r.value);
  }
  return got;
}

before(async () => {
  cluster = await startCluster({ size: 3 });
});

after(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await stopAllServers();
});

test("a message published on one server reaches a subscriber on another, once", T, async () => {
  const [a, b, c] = cluster.servers;
  const sub = await open(a);
  const s = sub.subscribe("x.plain");
  await sub.flush();
  await waitRemoteInterest(b, "x.plain");
  await waitRemoteInterest(c, "x.plain");
  const pb = await open(b);
  const pc = await open(c);
  for (let i = 0; i < 5; i++) pb.publish("x.plain", sc.encode(`b${i}`));
  for (let i = 0; i < 5; i++) pc.publish("x.plain", sc.encode(`c${i}`));
  await pb.flush();
  await pc.flush();
  const got = await collect(s, 11, 1500);
  assert.equal(got.length, 10, "each message exactly once");
  assert.deepEqual(got.filter((m) => sc.decode(m.data).startsWith("b")).map((m) => sc.decode(m.data)),
    ["b0", "b1", "b2", "b3", "b4"], "order from one publisher kept");
});

test("wildcard subscriptions work across servers", T, async () => {
  const [a, b] = cluster.servers;
  const sub = await open(a);
  const full = sub.subscribe("w.>");
  const one = sub.subscribe("w.*.z");
  await sub.flush();
  await waitRemoteInterest(b, "w.>");
  await waitRemoteInterest(b, "w.*.z");
  const pub = await open(b);
  pub.publish("w.y.z", sc.encode("1"));
  pub.publish("w.q", sc.encode("2"));
  await pub.flush();
  assert.deepEqual((await collect(full, 3, 1000)).map((m) => m.subject), ["w.y.z", "w.q"]);
  assert.deepEqual((await collect(one, 2, 500)).map((m) => m.subject), ["w.y.z"]);
});

test("a queue group spanning servers gets each message exactly once, weighted by members", T, async () => {
  const [a, b, c] = cluster.servers;
  const na = await open(a);
  const nb = await open(b);
  const counts = { a: 0, b: 0 };
  const seen = new Map();
  const member = (nc, who) => {
    nc.subscribe("q.work", { queue: "workers", callback: (_, m) => {
      counts[who]++;
      const k = sc.decode(m.data);
      seen.set(k, (seen.get(k) || 0) + 1);
    } });
  };
  member(na, "a");
  member(nb, "b");
  member(nb, "b");
  await na.flush();
  await nb.flush();
  await waitRemoteInterest(c, "q.work", 2);
  const pub = await open(c);
  const N = 300;
  for (let i = 0; i < N; i++) pub.publish("q.work", sc.encode(String(i)));
  await pub.flush();
  const deadline = Date.now() + WAIT_MS;
  while (counts.a + counts.b < N && Date.now() < deadline) await sleep(20);
  await sleep(QUIET_MS);
  assert.equal(counts.a + counts.b, N, `all delivered: ${JSON.stringify(counts)}`);
  assert.equal(seen.size, N);
  assert.ok([...seen.values()].every((v) => v === 1), "no message twice");
  // 1 member on a, 2 on b, publisher on c: expected 100 / 200 (binomial sd ~8)
  assert.ok(counts.a > 50 && counts.a < 150, `weighted spread: ${JSON.stringify(counts)}`);
});

test("a queue group member on the publisher's server is not preferred", T, async () => {
  const [a, b] = cluster.servers;
  const na = await open(a);
  const nb = await open(b);
  const counts = { a: 0, b: 0 };
  na.subscribe("q.local", { queue: "g", callback: () => counts.a++ });
  nb.subscribe("q.local", { queue: "g", callback: () => counts.b++ });
  await na.flush();
  await nb.flush();
  await waitRemoteInterest(a, "q.local");
  for (let i = 0; i < 200; i++) na.publish("q.local", sc.encode("m"));
  await na.flush();
  const deadline = Date.now() + WAIT_MS;
  while (counts.a + counts.b < 200 && Date.now() < deadline) await sleep(20);
  await sleep(QUIET_MS);
  assert.equal(counts.a + counts.b, 200);
  assert.ok(counts.b > 60, `the remote member gets its share: ${JSON.stringify(counts)}`);
});

test("request/reply across servers, and 503 no-responders when nobody anywhere listens", T, async () => {
  const [a, b] = cluster.servers;
  const svc = await open(a);
  svc.subscribe("svc.echo", { callback: (_, m) => m.respond(sc.encode(`pong:${sc.decode(m.data)}`)) });
  await svc.flush();
  await waitRemoteInterest(b, "svc.echo");
  const cl = await open(b);
  const r = await cl.request("svc.echo", sc.encode("ping"), { timeout: WAIT_MS });
  assert.equal(sc.decode(r.data), "pong:ping");
  const t0 = Date.now();
  await assert.rejects(cl.request("svc.nobody", sc.encode("x"), { timeout: WAIT_MS }),
    (e) => e.code === ErrorCode.NoResponders);
  assert.ok(Date.now() - t0 < 2000, "503 comes at once, not after the timeout");
});

test("echo=false holds across routes: the publisher does not hear itself, others do", T, async () => {
  const [a, b] = cluster.servers;
  const me = await open(a, { noEcho: true });
  const other = await open(b);
  const mine = me.subscribe("e.chat");
  const theirs = other.subscribe("e.chat");
  await me.flush();
  await other.flush();
  await waitRemoteInterest(a, "e.chat");
  await waitRemoteInterest(b, "e.chat");
  me.publish("e.chat", sc.encode("hi"));
  await me.flush();
  assert.equal((await collect(theirs, 2, 1000)).length, 1);
  assert.equal((await collect(mine, 1, QUIET_MS * 2)).length, 0);
});

test("client INFO names the cluster and lists every server's client URL", T, async () => {
  const [a] = cluster.servers;
  const nc = await open(a);
  assert.equal(nc.info.cluster, "tc");
  const urls = [...(nc.info.connect_urls || [])].sort();
  assert.deepEqual(urls, cluster.servers.map((s) => s.hostport).sort());
});

test("/varz and /routez show the cluster with nats-server's field names", T, async () => {
  const [a] = cluster.servers;
  const v = await monitorJson(a, "/varz");
  assert.equal(v.cluster.name, "tc");
  assert.equal(v.cluster.cluster_port, a.clusterPort);
  assert.equal(v.cluster.urls.length, 3);
  assert.equal(v.routes, 2);
  assert.equal(v.remotes, 2);
  assert.deepEqual([...v.connect_urls].sort(), cluster.servers.map((s) => s.hostport).sort());
  // nats-server 2.9.10's ClusterOptsVarz without TLS, member for member
  assert.deepEqual(Object.keys(v.cluster), ["name", "addr", "cluster_port", "auth_timeout", "urls", "tls_timeout"]);
  assert.equal(v.cluster.tls_timeout, 2);
  // its RouteInfo, in its order; rtt is the route's PING->PONG round trip (the first PING goes
  // out 1 s after the route forms), as Go prints a time.Duration: "456µs", "1.234567ms"
  const rz = await until(async () => {
    const r = await monitorJson(a, "/routez");
    if (r.num_routes !== 2 || r.routes.some((x) => x.rtt === "0s")) throw new Error(`rtt ${r.routes.map((x) => x.rtt)}`);
    return r;
  }, 5000, "routez rtt measured");
  for (const r of rz.routes) {
    assert.deepEqual(Object.keys(r), ["rid", "remote_id", "did_solicit", "is_configured", "ip", "port", "start",
      "last_activity", "rtt", "uptime", "idle", "pending_size", "in_msgs", "out_msgs", "in_bytes", "out_bytes",
      "subscriptions"]);
    const m = /^(\d+)(?:\.(\d+))?(ns|µs|ms)$/.exec(r.rtt);
    assert.ok(m, `rtt ${r.rtt} is a Go duration under a second`);
    if (m[3] === "µs") assert.equal(m[2], undefined, `rtt ${r.rtt}: between 1 µs and 1 ms, whole µs`);
    if (m[2] !== undefined) assert.notEqual(m[2].at(-1), "0", `rtt ${r.rtt}: no trailing zeros`);
  }
});

/** Raw TCP: send `bytes`, collect what comes back until the peer closes (or 2 s). */
function rawExchange(port, bytes) {
  return new Promise((resolve) => {
    let got = "";
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ got, closed: false });
    }, 2000);
    s.on("data", (d) => (got += d.toString()));
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ got, closed: true });
    });
    s.on("error", () => {});
  });
}

test("bad input on the route port is refused with nats-server's errors; the cluster keeps serving", T, async () => {
  const [a, b] = cluster.servers;
  const garbage = await rawExchange(a.clusterPort, "HELLO WORLD\r\n");
  assert.match(garbage.got, /-ERR 'Unknown Protocol Operation'/);
  assert.ok(garbage.closed);
  const client = await rawExchange(a.clusterPort,
    'CONNECT {"verbose":false,"pedantic":false,"lang":"node","version":"1.0","protocol":1}\r\n');
  assert.match(client.got, /-ERR 'attempted to connect to route port'/);
  assert.ok(client.closed);
  const other = await rawExchange(a.clusterPort,
    'CONNECT {"echo":true,"verbose":false,"pedantic":false,"headers":true,"name":"NXXX","cluster":"other"}\r\n');
  assert.match(other.got, /-ERR 'Rejecting connection, cluster name "other" does not match "tc"'/);
  assert.ok(other.closed);
  // a client cannot speak route operations on the client port
  const onClient = await rawExchange(a.port, 'CONNECT {"verbose":false}\r\nRS+ $G foo\r\n');
  assert.match(onClient.got, /-ERR 'Unknown Protocol Operation'/);
  assert.ok(onClient.closed);
  // still a cluster
  const nb = await open(b);
  const s = nb.subscribe("after.bad");
  await nb.flush();
  await waitRemoteInterest(a, "after.bad");
  const na = await open(a);
  na.publish("after.bad", sc.encode("ok"));
  await na.flush();
  assert.equal((await collect(s, 1, 2000)).length, 1);
  assert.equal((await monitorJson(a, "/routez")).num_routes, 2);
});

test("kill -9 of a client's server: it reconnects to a survivor and keeps publishing and receiving", T, async () => {
  const [a, b, c] = cluster.servers;
  // the client is given a's URL only: it learns the others from INFO's connect_urls
  const nc = await within(connect({ servers: a.hostport, reconnectTimeWait: 100, maxReconnectAttempts: -1,
    timeout: WAIT_MS }), WAIT_MS, "connect");
  conns.push(nc);
  const watcher = await open(b);
  const watched = watcher.subscribe("fo.data");
  await watcher.flush();
  const own = nc.subscribe("fo.data");
  await nc.flush();
  await waitRemoteInterest(a, "fo.data");
  let reconnected = false;
  (async () => {
    for await (const s of nc.status()) if (s.type === Events.Reconnect) reconnected = true;
  })();
  nc.publish("fo.data", sc.encode("before"));
  await nc.flush();
  await a.kill();
  const deadline = Date.now() + 10000;
  while (!reconnected && Date.now() < deadline) await sleep(20);
  assert.ok(reconnected, "reconnected to a survivor");
  assert.notEqual(nc.info.port, a.port);
  // its subscription was re-sent to the new server: wait until the other survivor knows
  const other = [b, c].find((s) => s.port !== nc.info.port);
  await waitRemoteInterest(other, "fo.data", 1);
  for (let i = 0; i < 5; i++) nc.publish("fo.data", sc.encode(`after${i}`));
  await nc.flush();
  const mine = (await collect(own, 6, 2000)).map((m) => sc.decode(m.data)).filter((d) => d.startsWith("after"));
  assert.deepEqual(mine, ["after0", "after1", "after2", "after3", "after4"]);
  const theirs = (await collect(watched, 6, 2000)).map((m) => sc.decode(m.data));
  assert.deepEqual(theirs.filter((d) => d.startsWith("after")), ["after0", "after1", "after2", "after3", "after4"]);
  // and the survivors' INFO drops the dead server within a few seconds (async INFO)
  const d2 = Date.now() + 5000;
  while ((nc.info.connect_urls || []).includes(a.hostport) && Date.now() < d2) await sleep(50);
  assert.ok(!(nc.info.connect_urls || []).includes(a.hostport), `connect_urls updated: ${nc.info.connect_urls}`);
});

// The mixed cluster: a minijet node joins two nats-server 2.9.10 nodes as a core NATS route
// peer (issue 13 item 4). Run once, under MINIJET_TEST_SERVER=minijet.
test("mixed cluster: two nats-server nodes and one minijet node — pub/sub, queues, request/reply",
  { ...T, skip: serverKind !== "minijet" && "runs once, under MINIJET_TEST_SERVER=minijet" }, async () => {
    const mixed = await startCluster({ size: 3, kinds: ["nats-server", "nats-server", "minijet"], name: "mix" });
    const [n1, n2, mj] = mixed.servers;
    // pub on minijet -> sub on nats-server, and back
    const s1 = await open(n1);
    const onN1 = s1.subscribe("mx.a");
    await s1.flush();
    await waitRemoteInterest(mj, "mx.a");
    const m = await open(mj);
    const onMj = m.subscribe("mx.b");
    await m.flush();
    await waitRemoteInterest(n2, "mx.b");
    m.publish("mx.a", sc.encode("from-minijet"));
    await m.flush();
    const s2 = await open(n2);
    s2.publish("mx.b", sc.encode("from-nats-server"));
    await s2.flush();
    assert.deepEqual((await collect(onN1, 1, 2000)).map((x) => sc.decode(x.data)), ["from-minijet"]);
    assert.deepEqual((await collect(onMj, 1, 2000)).map((x) => sc.decode(x.data)), ["from-nats-server"]);
    // a queue group with members on all three: each message once, every node gets some
    const counts = [0, 0, 0];
    const seen = new Set();
    let dup = 0;
    for (const [i, nc] of [s1, s2, m].entries()) {
      nc.subscribe("mx.q", { queue: "g", callback: (_, msg) => {
        counts[i]++;
        const k = sc.decode(msg.data);
        if (seen.has(k)) dup++;
        seen.add(k);
      } });
      await nc.flush();
    }
    await waitRemoteInterest(mj, "mx.q", 2);
    await waitRemoteInterest(n1, "mx.q", 2);
    const N = 300;
    for (let i = 0; i < N; i++) (i % 2 ? m : s1).publish("mx.q", sc.encode(String(i)));
    await m.flush();
    await s1.flush();
    const deadline = Date.now() + WAIT_MS;
    while (seen.size < N && Date.now() < deadline) await sleep(20);
    await sleep(QUIET_MS);
    assert.equal(seen.size, N, `all delivered: ${counts}`);
    assert.equal(dup, 0, "none twice");
    assert.ok(counts.every((c) => c > 30), `spread over the three nodes: ${counts}`);
    // request/reply: responder on minijet, requester on nats-server; and the reverse
    m.subscribe("mx.svc", { callback: (_, msg) => msg.respond(sc.encode("mj:" + sc.decode(msg.data))) });
    s2.subscribe("mx.svc2", { callback: (_, msg) => msg.respond(sc.encode("ns:" + sc.decode(msg.data))) });
    await m.flush();
    await s2.flush();
    await waitRemoteInterest(n1, "mx.svc");
    await waitRemoteInterest(mj, "mx.svc2");
    assert.equal(sc.decode((await s1.request("mx.svc", sc.encode("x"), { timeout: WAIT_MS })).data), "mj:x");
    assert.equal(sc.decode((await m.request("mx.svc2", sc.encode("y"), { timeout: WAIT_MS })).data), "ns:y");
    await assert.rejects(m.request("mx.none", sc.encode("z"), { timeout: WAIT_MS }),
      (e) => e.code === ErrorCode.NoResponders);
    await mixed.close();
  });

// The seed document's cluster config (spec nats-cluster.md 1): refused as written because of
// `replica_count`, and, with that line removed, refused at start for want of server_name.
test("the seed's cluster config is refused exactly as nats-server refuses it", T, async () => {
  const { spawnSync } = await import("node:child_process");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { serverBinary } = await import("./server.mjs");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-seed-"));
  const seed = [
    "cluster {", 'name: "nats-cluster"', "listen: 127.0.0.1:-1", "routes: [",
    '"nats://nats-1.internal:6222",', '"nats://nats-2.internal:6222",', '"nats://nats-3.internal:6222",', "]", "}",
    "jetstream {", 'domain: "prod"', `store_dir: "${dir}"`, "max_memory_store: 128GB", "max_file_store: 1TB",
    "# Replication for durability", "replica_count: 3", "max_outstanding_catchup: 33MB", "}",
    "# Monitor all streams", "monitor_port: -1", ""].join("\n");
  const conf = path.join(dir, "nats-cluster.conf");
  fs.writeFileSync(conf, seed);
  const run = () => spawnSync(serverBinary(), ["-c", conf, "-p", "-1"], { encoding: "utf8", timeout: 5000 });
  let r = run();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nats-cluster\.conf:16:1: unknown field "replica_count"/);
  fs.writeFileSync(conf, seed.replace("replica_count: 3\n", ""));
  r = run();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /jetstream cluster requires `server_name` to be set/);
  fs.rmSync(dir, { recursive: true, force: true });
});

// no_advertise and client_advertise as nats-server 2.9.10 treats them (checked live): a server
// with --no_advertise sends its clients no connect_urls and does not give its URL to the other
// servers; one with --client_advertise puts that address in its INFO (host, port) and in every
// connect_urls list that names it.
test("--no_advertise and --client_advertise change connect_urls as nats-server's do", T, async () => {
  const adv = "10.1.2.3:4444";
  const cl = await startCluster({ size: 3, name: "adv", perNode: [[], ["--no_advertise"], ["--client_advertise", adv]] });
  const [a, b, c] = cl.servers;
  try {
    const info = async (srv) => {
      const nc = await open(srv);
      const i = nc.info;
      await nc.close();
      return i;
    };
    const ia = await info(a), ib = await info(b), ic = await info(c);
    assert.deepEqual([...(ia.connect_urls || [])].sort(), [a.hostport, adv].sort(), "a lists itself and c as advertised, not b");
    assert.equal(ib.connect_urls, undefined, `b sends no connect_urls: ${JSON.stringify(ib)}`);
    assert.equal(ib.cluster, "adv");
    assert.equal(ic.host, "10.1.2.3");
    assert.equal(ic.port, 4444);
    assert.deepEqual([...(ic.connect_urls || [])].sort(), [a.hostport, adv].sort());
    // b still routes: a message from b's client reaches a's
    const sa = await open(a);
    const s = sa.subscribe("adv.x");
    await sa.flush();
    await waitRemoteInterest(b, "adv.x");
    const pb = await open(b);
    pb.publish("adv.x", sc.encode("hi"));
    await pb.flush();
    const got = await collect(s, 1, 2000);
    assert.equal(got.length, 1);
  } finally {
    await cl.close();
  }
});

// Unknown keys: nats-server 2.9.10 refuses a top-level key or a cluster {} key it does not
// know (`file:line:col: unknown field "k"`, exit 1) and starts with the keys it knows, used or
// not (logtime, cluster.connect_retries).
test("unknown config keys at the top level and in cluster {} are refused as nats-server refuses them", T, async () => {
  const { spawnSync } = await import("node:child_process");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { serverBinary } = await import("./server.mjs");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minijet-keys-"));
  const conf = path.join(dir, "k.conf");
  const run = (text, ms = 5000) => {
    fs.writeFileSync(conf, text);
    return spawnSync(serverBinary(), ["-c", conf, "-p", "-1"], { encoding: "utf8", timeout: ms });
  };
  let r = run("port: -1\nfoo_bar: 1\n");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /k\.conf:2:1: unknown field "foo_bar"/);
  r = run("cluster {\n  name: x\n  listen: 127.0.0.1:-1\n  bogus: 3\n}\n");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /k\.conf:4:3: unknown field "bogus"/);
  // keys it knows start the server (stopped by the timeout once it is ready)
  r = run("logtime: true\ncluster {\n  name: x\n  listen: 127.0.0.1:-1\n  connect_retries: 3\n  no_advertise: true\n}\n", 1500);
  assert.equal(r.error && r.error.code, "ETIMEDOUT", `still running at the timeout: ${r.stderr}`);
  assert.match(r.stderr, /Server is ready/);
  fs.rmSync(dir, { recursive: true, force: true });
});
