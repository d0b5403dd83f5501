#!/usr/bin/env python3
"""tests/fuzz/deep_seeds.py OUTDIR — write the deep-nesting seeds of every JSON-reading harness.

Issue 17's first defect: a $JS.API body of `[` x 100000 `]` x 100000 (200 KB, under
max_payload) overflowed the stack in json-glib and killed the broker. Every place that reads
JSON from a client or a file must refuse that shape before parsing (src/jsonutil.c, WHAT WE
CHECK BEFORE json-glib SEES THE TEXT; conf.c has its own depth bound). These seeds put both
shapes -- `[`x100000 `]`x100000 and the `{"a":` chain 100000 deep -- into every harness and
mode that reaches a JSON (or config) reader. They are 200-600 KB of repetition, so they are
generated here rather than committed; `make fuzz` runs each of them whole (libFuzzer would cut
a corpus entry to -max_len) before fuzzing. The first byte of each is the harness's mode byte
(tests/fuzz/README.md).
"""
import os
import sys

N = 100000
ARRAY = b"[" * N + b"]" * N
OBJECT = b'{"a":' * N + b"1" + b"}" * N
SHALLOW = 600  # a CONNECT must fit in the 4096-byte control line: this one is parsed
CONNECT_OBJECT = b'{"a":' * SHALLOW + b"1" + b"}" * SHALLOW

SEEDS = {
    "server": {
        # byte 0 odd: the JSON body of a request to subject (byte0 >> 1) % 15 of fuzz_server.c
        "api_stream_create_array": bytes([0 * 2 + 1]) + ARRAY,
        "api_stream_create_object": bytes([0 * 2 + 1]) + OBJECT,
        "api_consumer_create_array": bytes([6 * 2 + 1]) + ARRAY,
        "api_consumer_create_object": bytes([6 * 2 + 1]) + OBJECT,
        "api_msg_next_object": bytes([9 * 2 + 1]) + OBJECT,
        "api_ack_nak_object": bytes([10 * 2 + 1]) + b"-NAK " + OBJECT,
        # byte 0 even: raw protocol; a second CONNECT 100000 deep is over the control line,
        # one 600 deep is parsed
        "connect_array": bytes([0]) + b"CONNECT " + ARRAY + b"\r\nPING\r\n",
        "connect_object": bytes([0]) + b"CONNECT " + OBJECT + b"\r\nPING\r\n",
        "connect_object_600": bytes([0]) + b"CONNECT " + CONNECT_OBJECT + b"\r\nPING\r\n",
    },
    "files": {
        # byte 0 % 5: 0 config, 1 stream meta.json, 2 consumer snapshot, 3 consumer state log
        # (raw), 4 one framed record at the end of the state log (fuzz_files.c)
        "conf_array": bytes([0]) + b"a = " + ARRAY + b"\n",
        "conf_object": bytes([0]) + b"a = " + OBJECT + b"\n",
        "conf_map": bytes([0]) + b"a {" * N + b"}" * N + b"\n",
    },
}
for mode, name in [(1, "stream_meta"), (2, "consumer_json"), (3, "consumer_state"), (4, "consumer_state_record")]:
    SEEDS["files"][name + "_array"] = bytes([mode]) + ARRAY
    SEEDS["files"][name + "_object"] = bytes([mode]) + OBJECT


def main():
    out = sys.argv[1]
    for harness, seeds in SEEDS.items():
        d = os.path.join(out, harness)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, "deep_" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
