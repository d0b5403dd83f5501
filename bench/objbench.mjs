// objbench.mjs — object store put and get through nats.js (bench/compare.sh, issue 9).
//
// libnats 3.4 has no object store API, so the object scenarios use the real nats.js client
// (npm `nats` 2.29.3, installed for the interop tests in tests/interop/js/node_modules).
//
//   node bench/objbench.mjs [-p port] [-l label] [-m MiB] [-T seconds] objput|objget
//
// objput  times one `os.putBlob()` of an M MiB object (default 100): 128 KiB chunks, all
//         published at once (nats.js does not window them), then the meta message; the
//         clock stops when the meta message is acknowledged.
// objget  puts the object first (untimed, once per server and size), then times one
//         `os.getBlob()`: the meta lookup, an ordered push consumer over the chunks, and
//         the SHA-256 check.
// One line on stdout, the same shape as build/minijet-bench's:
//   scenario,server,objects_per_s,MB_per_s,,,,,        (MB = 10^6 bytes)
// On failure: `FAIL scenario server: reason` on stderr and exit status 1; every wait is
// bounded by -T (default 60 s). nats.js hashes every byte with a pure-JavaScript SHA-256 on
// both put and get, so the client costs the same on both servers and caps both figures:
// the ratio is what this scenario is for, not the absolute MB/s.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "interop", "js", "package.json"));
const { connect, StorageType } = require("nats");

const opt = { port: 4222, label: "server", mib: 100, timeout: 60, scenario: "" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "-p") opt.port = Number(argv[++i]);
  else if (a === "-l") opt.label = argv[++i];
  else if (a === "-m") opt.mib = Number(argv[++i]);
  else if (a === "-T") opt.timeout = Number(argv[++i]);
  else opt.scenario = a;
}
if (opt.scenario !== "objput" && opt.scenario !== "objget") {
  console.error("usage: node bench/objbench.mjs [-p port] [-l label] [-m MiB] [-T seconds] objput|objget");
  process.exit(2);
}

function fail(msg) {
  console.error(`FAIL ${opt.scenario} ${opt.label}: ${msg}`);
  process.exit(1);
}
const watchdog = setTimeout(() => fail(`no result after ${opt.timeout} s`), opt.timeout * 1000);

const BUCKET = "BENCHOBJ";
const bytes = Math.round(opt.mib * 1024 * 1024);
const name = `obj-${opt.mib}MiB`;

try {
  const nc = await connect({ servers: `127.0.0.1:${opt.port}`, timeout: 5000, maxReconnectAttempts: 0 });
  const js = nc.jetstream({ timeout: 30000 });
  const os = await js.views.os(BUCKET, { storage: StorageType.File });
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = (i >> 12) & 0xff; // not all zeroes

  let seconds;
  if (opt.scenario === "objput") {
    const t0 = performance.now();
    const info = await os.putBlob({ name }, data);
    seconds = (performance.now() - t0) / 1000;
    if (info.size !== bytes) fail(`stored ${info.size} bytes, expected ${bytes}`);
  } else {
    const have = await os.info(name);
    if (!have || have.size !== bytes) await os.putBlob({ name }, data);
    const t0 = performance.now();
    const got = await os.getBlob(name);
    seconds = (performance.now() - t0) / 1000;
    if (!got || got.length !== bytes) fail(`got ${got ? got.length : "no"} bytes, expected ${bytes}`);
    for (let i = 0; i < bytes; i += 4096) if (got[i] !== ((i >> 12) & 0xff)) fail(`byte ${i} differs`);
  }
  console.log(`${opt.scenario},${opt.label},${(1 / seconds).toFixed(3)},${(bytes / seconds / 1e6).toFixed(2)},,,,,`);
  await nc.close();
  clearTimeout(watchdog);
} catch (err) {
  fail(String(err && err.message ? err.message : err).replace(/[\n,]/g, " "));
}
