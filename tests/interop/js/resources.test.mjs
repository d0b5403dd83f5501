// resources.test.mjs — the broker under resource pressure: out of file descriptors, account
// storage limits. Runs against minijet and nats-server 2.9.10 (run.sh runs it against both).
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/resources.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict, node:net, node:fs and server.mjs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import fs from "node:fs";
import { connect, StringCodec } from "nats";
import { startServer, stopAllServers, freePort, serverKind } from "./server.mjs";

const TEST_TIMEOUT_MS = 30000;
const sc = StringCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(async () => {
  await stopAllServers();
});

/** Open a raw TCP connection; resolves once connected (the kernel's backlog is enough). */
function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.on("data", () => {}); // keep reading: INFO, then nothing
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

test("out of file descriptors: the server pauses accepting, keeps serving, and recovers", { timeout: TEST_TIMEOUT_MS }, async () => {
  const monitorPort = await freePort();
  const srv = await startServer(["-m", String(monitorPort)], { maxFiles: 64 });
  const nc = await connect({ servers: srv.url });
  const sub = nc.subscribe("fd.echo");
  (async () => {
    for await (const m of sub) m.respond(m.data);
  })();
  await nc.flush();
  const socks = [];
  for (let i = 0; i < 100; i++) socks.push(await rawConnect(srv.port)); // ~40 more than it can hold
  await sleep(1200); // an outage of more than a second
  assert.ok(srv.alive(), srv.describeExit());
  const r = await nc.request("fd.echo", sc.encode("still served"), { timeout: 5000 });
  assert.equal(sc.decode(r.data), "still served");
  for (const s of socks) s.destroy();
  // a new client gets in once descriptors are free again
  let nc2 = null;
  const deadline = Date.now() + 10000;
  while (nc2 === null) {
    try {
      nc2 = await connect({ servers: srv.url, timeout: 1000, reconnect: false });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
  const r2 = await nc2.request("fd.echo", sc.encode("new client"), { timeout: 5000 });
  assert.equal(sc.decode(r2.data), "new client");
  await nc2.close();
  await nc.close();
  assert.ok(srv.alive(), srv.describeExit());
  if (serverKind === "minijet") {
    // logged once per outage (nats-server logs every attempt), and the recovery is logged
    const log = fs.readFileSync(srv.logPath, "utf8").split("\n");
    const errors = log.filter((l) => l.includes("Accept Error")).length;
    const resumed = log.filter((l) => l.includes("accepts resumed after")).length;
    assert.ok(errors >= 1 && errors <= 3, `${errors} accept error lines`);
    assert.equal(resumed, errors);
  }
});
