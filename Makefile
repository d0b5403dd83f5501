# minijet — every entry point. `make run` and `make test` are all a newcomer needs.
#
#   make deps     install missing Debian packages and the nats.js client (no-op when present)
#   make          build build/minijet-server (and the test binaries)
#   make run      deps + build + start the server on 127.0.0.1:4222, JetStream on, store ./data
#   make test     deps + build + every test; ends with "N passed, N failed"
#   make tidy     the determinism ban-list (src/ reaches the OS only through env_real.c/main.c)
#                 the layers (tools/layers.txt: includes run one way, no cycles), and true
#                 comments (tools/refs.py: every src/ path and function named exists)
#   make clean

CC      ?= cc
PKGS    := glib-2.0 json-glib-1.0 sqlite3 libxcrypt
CFLAGS  ?= -O2 -g
# Asserts are never compiled out: no -DNDEBUG, no G_DISABLE_ASSERT.
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
           -fno-omit-frame-pointer -D_GNU_SOURCE
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
NATS_LIBS  = $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)

B := build
# Three archives, one per layer a program can stand on (DESIGN.md, "Layers and clustering"):
#   libminijet-base.a    the bottom: env, proto, errors, jsonutil, crc32c (headers: BASE_HDRS,
#                        with limits.h and version.h)
#   libminijet.a         the broker: every other src/*.c except the production world
#                        (env_real.c) and the program (main.c)
#   libminijet-client.a  src/client/: the sans-IO client, KV, object store, CLI
# Client files compile against the base headers only (CLIENT_INC holds links to them, and
# src/ is not on their include path), so a client file that includes server.h, stream.h...
# does not build; the `minijet` CLI links client + base only, so a call into the broker
# does not link.
BASE_SRC := src/env.c src/rng.c src/proto.c src/errors.c src/jsonutil.c src/crc32c.c
BASE_HDRS := src/env.h src/rng.h src/proto.h src/errors.h src/errors.def src/jsonutil.h src/crc32c.h \
             src/limits.h src/bytes.h src/version.h
BASE_OBJ := $(BASE_SRC:src/%.c=$(B)/obj/%.o)
CORE_SRC := $(filter-out src/main.c src/env_real.c,$(wildcard src/*.c))
BROKER_OBJ := $(filter-out $(BASE_OBJ),$(CORE_SRC:src/%.c=$(B)/obj/%.o))
HDRS     := $(wildcard src/*.h src/*.def)
CLIENT_SRC  := $(wildcard src/client/*.c)
CLIENT_OBJ  := $(CLIENT_SRC:src/client/%.c=$(B)/obj/client/%.o)
CLIENT_HDRS := $(wildcard src/client/*.h)
CLIENT_INC  := $(B)/include-client
CLIENT_INC_HDRS := $(BASE_HDRS:src/%=$(CLIENT_INC)/%)
# What a program links: the broker over the base; the client beside them.
LIB_BROKER := $(B)/libminijet.a $(B)/libminijet-base.a
LIB_CLIENT := $(B)/libminijet-client.a $(B)/libminijet-base.a
SIM_SRC  := $(wildcard sim/*.c)
UNIT_SRC := $(filter-out tests/test_env.c tests/test_wire.c,$(wildcard tests/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(B)/tests/%)
IOP_SRC  := $(wildcard tests/interop/interop_*.c)
IOP_BIN  := $(IOP_SRC:tests/interop/%.c=$(B)/tests/%)

PORT     ?= 4222
STORE    ?= ./data

.PHONY: all deps run test tidy clean unit sim
all: $(B)/minijet-server $(UNIT_BIN) $(IOP_BIN) $(if $(SIM_SRC),$(B)/minijet-sim)

deps:
	@tools/deps.sh

$(B)/obj/%.o: src/%.c $(HDRS) | $(B)/obj
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -c -o $@ $<

$(CLIENT_OBJ): $(B)/obj/client/%.o: src/client/%.c $(CLIENT_HDRS) $(CLIENT_INC_HDRS) | $(B)/obj/client
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote $(CLIENT_INC) -c -o $@ $<

$(CLIENT_INC_HDRS): $(CLIENT_INC)/%: src/%
	@mkdir -p $(@D) && ln -sf $(abspath $<) $@

$(B)/libminijet-base.a: $(BASE_OBJ) Makefile
	rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(B)/libminijet.a: $(BROKER_OBJ) Makefile
	rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(B)/libminijet-client.a: $(CLIENT_OBJ) Makefile
	rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(B)/minijet-server: $(B)/obj/main.o $(B)/obj/env_real.o $(LIB_BROKER)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The simulator drives brokers and clients: it links all three archives. Its files and the
# unit tests' world are compiled to objects once, so a program that only needs relinking
# (a lab's starter: one stubbed file changed, labs/lab.py) is only relinked.
SIM_OBJ := $(SIM_SRC:sim/%.c=$(B)/obj/sim/%.o)
$(SIM_OBJ): $(B)/obj/sim/%.o: sim/%.c $(wildcard sim/*.h) $(HDRS) $(CLIENT_HDRS) | $(B)/obj/sim
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -iquote sim -c -o $@ $<

$(B)/minijet-sim: $(SIM_OBJ) $(B)/libminijet-client.a $(LIB_BROKER)
	$(CC) $(CFLAGS) -o $@ $(SIM_OBJ) $(B)/libminijet-client.a $(LIB_BROKER) $(PKG_LIBS) -lm

# The unit tests' world (tests/test_env.c) keeps its files on the simulator's disk;
# tests/test_wire.c is the PUB/MSG and JSON-path helpers the tests share.
TEST_WORLD := tests/test_env.c sim/sim_disk.c
TEST_WORLD_OBJ := $(B)/obj/tests/test_env.o $(B)/obj/tests/test_wire.o $(B)/obj/sim/sim_disk.o
UNIT_OBJ := $(UNIT_SRC:tests/%.c=$(B)/obj/tests/%.o) $(B)/obj/tests/test_env.o $(B)/obj/tests/test_wire.o
$(UNIT_OBJ): $(B)/obj/tests/%.o: tests/%.c tests/test_env.h tests/test_wire.h $(wildcard sim/*.h) $(HDRS) $(CLIENT_HDRS) | $(B)/obj/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -iquote tests -iquote sim -c -o $@ $<
$(B)/tests/test_%: $(B)/obj/tests/test_%.o $(TEST_WORLD_OBJ) $(B)/libminijet-client.a $(LIB_BROKER) | $(B)/tests
	$(CC) $(CFLAGS) -o $@ $< $(TEST_WORLD_OBJ) $(B)/libminijet-client.a $(LIB_BROKER) $(PKG_LIBS) -lm

# The production world's own test links the real env instead of the unit tests' world.
$(B)/tests/test_env_real: tests/test_env_real.c $(B)/obj/env_real.o $(LIB_BROKER) | $(B)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -o $@ $< $(B)/obj/env_real.o $(LIB_BROKER) $(PKG_LIBS) -lm

$(B)/tests/interop_%: tests/interop/interop_%.c tests/interop/server_ctl.c tests/interop/server_ctl.h | $(B)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote tests/interop -o $@ $< tests/interop/server_ctl.c $(PKG_LIBS) $(NATS_LIBS)

$(B)/obj $(B)/obj/client $(B)/obj/sim $(B)/obj/tests $(B)/tests:
	mkdir -p $@

run: deps $(B)/minijet-server
	$(B)/minijet-server -a 127.0.0.1 -p $(PORT) -js -sd $(STORE)

test: deps
	@$(MAKE) -s all
	@tests/run.sh

# The determinism ban-list (see DESIGN.md, "One core, two worlds"): outside env_real.c and
# main.c, nothing in src/ may call the clock, random numbers, sockets or files directly.
BANNED := (?<![>.\w])(time|gettimeofday|clock_gettime|rand|random|srand|g_get_monotonic_time|g_get_real_time|g_random_[a-z_]+|g_timeout_add[a-z_]*|g_usleep|usleep|sleep|fopen|open|read|write|writev|send|recv|pwrite|pread|fsync|socket|accept|connect|epoll_wait|g_file_[a-z_]+|g_mkdir[a-z_]*|unlink|rename)\s*\(
tidy:
	@hits=$$(grep -rnP --include='*.c' '$(BANNED)' src \
	  | grep -vE '^src/(env_real|main)\.c:' | grep -vP '^\S+:[0-9]+:\s*(\*|//|/\*)'); \
	if [ -n "$$hits" ]; then echo "tidy: src/ reaches the OS outside the environment seam:"; \
	  echo "$$hits"; exit 1; fi; echo "tidy: ok (no direct OS calls in the core)"
	@hits=$$(grep -rnE --include='*.c' --include='*.h' -- '->ops->(file|path|dir)_' src sim tools \
	  | grep -vE '^src/env\.c:'); \
	if [ -n "$$hits" ]; then echo "tidy: file operations must go through env_file_*/env_path_*/env_dir_* (src/env.c):"; \
	  echo "$$hits"; exit 1; fi; echo "tidy: ok (every file operation goes through the env_file_* wrappers)"
	@python3 tools/layers.py
	@python3 tools/refs.py

# The client layer's wall, shown working (tests/run.sh runs it): with the client's include
# path, a file that includes a base header builds and one that includes a broker header
# (server.h, stream.h, consumer.h, jetstream.h) does not.
.PHONY: client-layer-check
client-layer-check: $(CLIENT_INC_HDRS) $(B)/libminijet.a $(B)/libminijet-client.a
	@mkdir -p $(B)/client-probe; cd $(B)/client-probe; \
	printf '#include "proto.h"\n#include "env.h"\nint probe;\n' > ok.c; \
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote $(abspath $(CLIENT_INC)) -fsyntax-only ok.c \
	  || { echo "client-layer-check: a base header does not build"; exit 1; }; \
	for h in server.h stream.h consumer.h jetstream.h; do \
	  printf '#include "%s"\nint probe;\n' $$h > bad.c; \
	  if $(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote $(abspath $(CLIENT_INC)) -fsyntax-only bad.c 2>/dev/null; then \
	    echo "client-layer-check: src/client/ can include $$h"; exit 1; fi; \
	done; \
	nm -g --defined-only $(abspath $(B))/libminijet-client.a | awk '$$2 == "T" {print $$3}' | sort > client.syms; \
	nm -g --defined-only $(abspath $(B))/libminijet.a | awk '$$2 == "T" {print $$3}' | sort > broker.syms; \
	both=$$(comm -12 client.syms broker.syms); \
	if [ -n "$$both" ]; then echo "client-layer-check: the broker archive defines client functions:" $$both; exit 1; fi; \
	echo "client-layer-check: ok (src/client/ sees only the base headers; the broker archive has no client code)"

clean:
	rm -rf $(B)

# --- Benchmarks (bench/, issue 9): minijet beside nats-server 2.9.10. Not part of `make test`.
#   make bench         7 alternating rounds x 2 s per scenario (about 15 min, R3 clusters
#                      included); table, CSV, plots/bench.png
#   make bench-quick   5 rounds x 1 s, for development
#   make bench SCENARIOS="... failover"   adds the failover timings (bench/failover.mjs,
#                      about 5 min more); MINIJET_BASE=<binary> runs a second minijet beside
#                      (bench/compare.sh's header says how)
.PHONY: bench bench-quick
all: $(B)/minijet-bench

$(B)/minijet-bench: bench/loadgen.c
	@mkdir -p $(B)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libnats 2>/dev/null) -o $@ $< $(NATS_LIBS) -lpthread

# The first change to an old message after a restart, at the store level (bench/cold-change.c
# says how to run it); not built by `all`.
$(B)/minijet-cold-bench: bench/cold-change.c $(B)/obj/env_real.o $(LIB_BROKER)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -o $@ $< $(B)/obj/env_real.o $(LIB_BROKER) $(PKG_LIBS) -lm

bench: deps $(B)/minijet-server $(B)/minijet-bench $(B)/tests/test_store
	$(B)/tests/test_store -m perf -p /store/perf/sync-never -p /store/perf/sync-always
	bench/compare.sh

bench-quick: deps $(B)/minijet-server $(B)/minijet-bench
	bench/compare.sh --quick

# --- Simulator (sim/, issue 6, book chapter 8). Deterministic: same SCENARIO + SEED, same trace.
#   make sim SCENARIO=crash-restart SEED=7   one run into build/sim/<scenario>-<seed>/ (trace.db,
#                                            summary.txt, latency.png, throughput.png)
#   make sim-swarm SCENARIO=random-faults SEEDS=1-100   many seeds on both cores
#   make plots                               the book's simulator charts from fixed seeds into plots/
SCENARIO ?= pubsub-basic
SEED     ?= 1
SEEDS    ?= 1-50
SIM_PLOTS := pubsub-basic slow-consumer reconnect-storm crash-restart
SIM_CLUSTER_PLOTS := cluster-node-crash
.PHONY: sim sim-swarm plots
sim: $(B)/minijet-sim
	$(B)/minijet-sim run $(SCENARIO) --seed $(SEED) --out $(B)/sim/$(SCENARIO)-$(SEED)

sim-swarm: $(B)/minijet-sim
	$(B)/minijet-sim swarm $(SCENARIO) --seeds $(SEEDS)

plots: $(B)/minijet-sim
	@mkdir -p plots
	@for s in $(SIM_PLOTS); do \
	  $(B)/minijet-sim run $$s --seed 1 --out $(B)/sim/plots/$$s >/dev/null || exit 1; \
	  cp $(B)/sim/plots/$$s/latency.png plots/sim-$$s-latency.png; \
	  cp $(B)/sim/plots/$$s/throughput.png plots/sim-$$s-throughput.png; \
	  echo "plots/sim-$$s-{latency,throughput}.png"; \
	done
	@for s in $(SIM_CLUSTER_PLOTS); do \
	  $(B)/minijet-sim run $$s --seed 1 --out $(B)/sim/plots/$$s >/dev/null || exit 1; \
	  cp $(B)/sim/plots/$$s/cluster.png plots/sim-$$s-cluster.png; \
	  echo "plots/sim-$$s-cluster.png"; \
	done

# --- The `minijet` command-line tool (issue 5): src/client/cli.c is its logic,
# tools/minijet-cli/main.c the program around it (the production world). It links the client
# and the base, not the broker: a client-side call into the broker fails here.
all: $(B)/minijet

$(B)/minijet: tools/minijet-cli/main.c $(B)/obj/env_real.o $(LIB_CLIENT)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote src -o $@ $< $(B)/obj/env_real.o $(LIB_CLIENT) $(PKG_LIBS) -lm

# --- The book and the labs (issue 8; book/README.md, labs/README.md).
#   make book                    book/*.md -> build/book/index.html (pandoc), the student edition: a
#                                cited LAB(n) region shows what the lab asks, not the answer; fails
#                                on a stale citation or a dangling cross-reference, a
#                                {{result:TABLE|ROW|COLUMN}} with no cell behind it (measured
#                                numbers: tools/book/results.py), a typed limit or measurement
#   make book EDITION=teacher    everything printed, into build/book-teacher/
#   make book-test               every `sh runnable` block against a fresh server; citations (TAP)
#   make lab-start LAB=n [DIR=]  the student's copy, LAB(n) regions stubbed (default ../minijet-lab<n>)
#   make grade LAB=n             lab n's weighted tests and seeds in this tree; ends "Score: X/Y"
#   make labs-check              every lab: reference full marks, starter builds and scores less
.PHONY: book book-test lab-start grade labs-check
book: $(B)/minijet-sim
	@python3 tools/book/book.py build $(if $(EDITION),--edition $(EDITION))

book-test: $(B)/minijet-server $(if $(SIM_SRC),$(B)/minijet-sim)
	@python3 tools/book/book.py test

lab-start:
	@test -n "$(LAB)" || { echo "usage: make lab-start LAB=n [DIR=path]"; exit 64; }
	@python3 labs/lab.py start "$(LAB)" $(if $(DIR),--dir "$(DIR)")

grade:
	@test -n "$(LAB)" || { echo "usage: make grade LAB=n"; exit 64; }
	@python3 labs/lab.py grade "$(LAB)"

labs-check:
	@python3 labs/lab.py check

# --- Raft in the simulator (issue 7; book chapter 9, "Running Raft in the simulator").
# tests/test_raft shares its checkers with the simulator: sim/raft_checker.c is compiled into both.
$(B)/tests/test_raft: $(B)/obj/tests/test_raft.o $(B)/obj/sim/raft_checker.o $(TEST_WORLD_OBJ) $(LIB_BROKER) | $(B)/tests
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/sim/raft_checker.o $(TEST_WORLD_OBJ) $(LIB_BROKER) $(PKG_LIBS) -lm
#   make swarm        1,000 seeds of random faults on a five-node Raft group, on each core-NATS
#                     cluster scenario and on a three-node R3 stream (failover-random; both cores),
#                     200 of each retention scenario (failover-workqueue, failover-interest); their
#                     totals (failing seeds, the queue checker's classes summed, the time) go to
#                     book/results/failover-swarm.tsv (the book quotes them)
.PHONY: swarm
swarm: $(B)/minijet-sim
	$(B)/minijet-sim swarm raft-random --seeds 1-1000
	for s in cluster-pubsub cluster-node-crash cluster-partition; do \
	  $(B)/minijet-sim swarm $$s --seeds 1-1000 || exit 1; done
	python3 tools/book/results.py failover-swarm

# The Raft chapter's Figure 8 timeline (book/09-raft.md): the adversary from a fixed seed.
plots: plots-raft plots-failover
# Chapter 11's failover chart: PubAcks per node around two leader kills, elections shaded;
# and the queue checker's lost.png of jepsen-7564 under lazy fsync, which must lose acked
# publishes (exit 1: a safety violation, the point of the run).
.PHONY: plots-failover
plots-failover: $(B)/minijet-sim
	@mkdir -p plots
	@$(B)/minijet-sim run failover-leader-kill --seed 1 --out $(B)/sim/plots/failover-leader-kill >/dev/null || exit 1
	@cp $(B)/sim/plots/failover-leader-kill/failover.png plots/sim-failover-leader-kill.png
	@echo plots/sim-failover-leader-kill.png
	@$(B)/minijet-sim run jepsen-7564 --seed 1 --sync 2m --out $(B)/sim/plots/jepsen-7564-sync-2m >/dev/null; \
	  test $$? -eq 1 || { echo "jepsen-7564 --sync 2m did not lose data"; exit 1; }
	@cp $(B)/sim/plots/jepsen-7564-sync-2m/lost.png plots/sim-jepsen-7564-sync-2m-lost.png
	@echo plots/sim-jepsen-7564-sync-2m-lost.png
.PHONY: plots-raft
plots-raft: $(B)/minijet-sim
	@mkdir -p plots
	@$(B)/minijet-sim run raft-figure8 --seed 2 --out $(B)/sim/plots/raft-figure8 >/dev/null || exit 1
	@cp $(B)/sim/plots/raft-figure8/timeline.png plots/raft-figure8-timeline.png
	@echo "plots/raft-figure8-timeline.png"

# --- Scaling figures (bench/scaling.sh, issue 9 §3): subscriptions, stream size, consumers,
#   memory per connection and per message, restart time; minijet beside nats-server 2.9.10.
#   make bench-scaling   ~15 min; bench/results/<date>-scaling*.csv, plots/scaling-*.png
.PHONY: bench-scaling
bench-scaling: deps $(B)/minijet-server $(B)/minijet-bench
	bench/scaling.sh

# --- Coverage-guided fuzzing (tests/fuzz/README.md). clang + libFuzzer, ASan + UBSan. Not part
# of `make test`.
#   make fuzz                  build both harnesses, run each for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=600 longer; new corpus entries go to build/fuzz/corpus-<name>/
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -g -O1 -std=gnu11 -D_GNU_SOURCE \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer -iquote src -iquote tests
FUZZ_NAMES   := proto server files
.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_NAMES:%=$(B)/fuzz/fuzz_%)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(HDRS) $(TEST_WORLD) tests/test_env.h
	@mkdir -p $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -iquote sim -o $@ $< $(CORE_SRC) $(TEST_WORLD) $(PKG_LIBS) -lm

# First every committed seed and every deep-nesting seed (tests/fuzz/deep_seeds.py) runs once,
# whole (as a corpus entry it would be cut to -max_len); then each harness fuzzes.
fuzz: fuzz-build
	@rm -rf $(B)/fuzz/seeds && python3 tests/fuzz/deep_seeds.py $(B)/fuzz/seeds
	@for n in $(FUZZ_NAMES); do \
	  mkdir -p $(B)/fuzz/corpus-$$n $(B)/fuzz/artifacts-$$n; \
	  seeds=$$(find tests/fuzz/corpus/$$n $(B)/fuzz/seeds/$$n -type f 2>/dev/null | sort); \
	  echo "fuzz_$$n: $$(echo "$$seeds" | wc -l) seeds, each whole"; \
	  $(B)/fuzz/fuzz_$$n -artifact_prefix=$(B)/fuzz/artifacts-$$n/ $$seeds \
	    > $(B)/fuzz/seeds_$$n.log 2>&1 || { tail -40 $(B)/fuzz/seeds_$$n.log; exit 1; }; \
	  echo "fuzz_$$n: $(FUZZ_SECONDS) s"; \
	  $(B)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -artifact_prefix=$(B)/fuzz/artifacts-$$n/ $(B)/fuzz/corpus-$$n tests/fuzz/corpus/$$n \
	    > $(B)/fuzz/fuzz_$$n.log 2>&1 || { tail -40 $(B)/fuzz/fuzz_$$n.log; exit 1; }; \
	  grep -E '^#[0-9]+.*cov:' $(B)/fuzz/fuzz_$$n.log | tail -1; \
	done
