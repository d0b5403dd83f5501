// scale.test.mjs — many file streams in few file descriptors, through the real nats.js client
// (npm `nats` 2.29.3): 1,000 file-backed streams on a server started under `ulimit -n 256`,
// three messages each, a restart on the same store (still under the limit), and then every
// stream must be served: its info, every message by seq, and a new publish taking the next
// seq. Neither server may log "too many open files".
//
// minijet keeps a stream's segments in an LRU of open files (src/store_files.c) whose budget
// is a quarter of RLIMIT_NOFILE; before it, each stream held its active segment open and a
// restart with more streams than descriptors failed (issue 15). minijet runs under the limit
// from the start; nats-server 2.9.10 refuses to create that many streams under it ("error
// creating store for stream" after ~240: it keeps each new stream's block open for a while),
// so it creates them without the limit and restarts under it: it then serves and reads every
// stream, but publishing to each one again fails past ~120 streams ("error opening msg block
// file": each written block stays open), so that last step is checked on minijet only.
//
//   MINIJET_TEST_SERVER=nats-server node --test --test-reporter=tap tests/interop/js/scale.test.mjs
//   MINIJET_TEST_SERVER=minijet     node --test --test-reporter=tap tests/interop/js/scale.test.mjs
//
// Node 18 and 20: only node:test, node:assert/strict and the modules server.mjs uses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { connect, StringCodec } from "nats";
import { serverKind, startServer, stopAllServers } from "./server.mjs";

const STREAMS = 1000;
const MSGS = 2;
const NOFILE = 256;
const BATCH = 50; // requests in flight at once
const sc = StringCodec();

after(async () => {
  await stopAllServers();
});

const name = (i) => `SCALE${String(i).padStart(4, "0")}`;
const subject = (i) => `scale.${i}`;

/** Run fn(i) for i in [0, n), BATCH at a time. */
async function each(n, fn) {
  for (let lo = 0; lo < n; lo += BATCH) {
    const batch = [];
    for (let i = lo; i < Math.min(n, lo + BATCH); i++) batch.push(fn(i));
    await Promise.all(batch);
  }
}

test(`${STREAMS} file streams under ulimit -n ${NOFILE}: created, restarted, all served`, { timeout: 240000 }, async () => {
  const srv = await startServer([], { maxFiles: serverKind === "nats-server" ? 0 : NOFILE, startTimeoutMs: 60000 });
  let nc = await connect({ servers: srv.url, timeout: 5000 });
  let jsm = await nc.jetstreamManager({ timeout: 10000 });
  let js = nc.jetstream({ timeout: 10000 });
  await each(STREAMS, (i) => jsm.streams.add({ name: name(i), subjects: [subject(i)], storage: "file" }));
  await each(STREAMS, async (i) => {
    for (let m = 1; m <= MSGS; m++) {
      const ack = await js.publish(subject(i), sc.encode(`${i}-${m}`));
      assert.equal(ack.seq, m);
    }
  });
  await nc.close();

  srv.maxFiles = NOFILE;
  await srv.restart();
  nc = await connect({ servers: srv.url, timeout: 5000 });
  // nats-server accepts connections while it restores its streams (503: no responders yet)
  for (let tries = 0; ; tries++) {
    try {
      jsm = await nc.jetstreamManager({ timeout: 10000 });
      await jsm.streams.info(name(STREAMS - 1));
      break;
    } catch (err) {
      if (tries >= 300 || !/503/.test(err.message)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  js = nc.jetstream({ timeout: 10000 });
  let names = 0;
  for await (const n of jsm.streams.names()) if (n.startsWith("SCALE")) names++;
  assert.equal(names, STREAMS);
  await each(STREAMS, async (i) => {
    const si = await jsm.streams.info(name(i));
    assert.equal(si.state.messages, MSGS, `${name(i)} after the restart`);
    for (let m = 1; m <= MSGS; m++) {
      const sm = await jsm.streams.getMessage(name(i), { seq: m });
      assert.equal(sc.decode(sm.data), `${i}-${m}`);
    }
    if (serverKind !== "nats-server") {
      const ack = await js.publish(subject(i), sc.encode("after"));
      assert.equal(ack.seq, MSGS + 1);
    }
  });
  await nc.close();
  const log = fs.readFileSync(srv.logPath, "utf8");
  assert.doesNotMatch(log, /too many open files/i);
  await srv.close();
});
