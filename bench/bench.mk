# bench/bench.mk -- the benchmark suite; included from Makefile.am.
#
# bench/mrlog-bench is installed in $(pkglibexecdir) (`mrlog bench` runs
# it; see tools/tools.mk), so `make` builds it; bench/alloc-check is an
# EXTRA_PROGRAM, built only by the targets that run it.  The targets:
#   make bench        builds it and runs the full suite (3 runs of every
#                     workload for every built engine, device limits first);
#                     writes bench-results.json (one JSON line per run),
#                     bench-results.txt (the tables and targets) and, when
#                     gnuplot is installed, bench-results.png.
#                     BENCH_FLAGS adds options (e.g. BENCH_FLAGS="--runs 1").
#                     Then short runs of bench-watch, bench-cursor (100 B
#                     and 20 KB records) and bench-metrics, printed.
#   make bench-smoke  bench-alloc, then the same machinery at 1% scale, one
#                     run, short W2, small device probes (< 60 s); exits
#                     non-zero if any engine reports an error.
#   make bench-alloc  bench/alloc-check: fails if mrlog_append allocates in
#                     steady state (W1's shape, 400,000 appends measured).
#   make bench-watch  bench/mrlog-watch-bench: appends/s with and without
#                     100,000 idle watches on other queues (medians).
#   make bench-cursor bench/cursor-bench: records/s read through a cursor
#                     against mrlog_range over the same queue, both record
#                     stores (medians of 9 runs; CURSOR_BENCH_FLAGS adds
#                     options, e.g. "--records 500000 --bytes 1000").
#   make bench-metrics bench/metrics_cost.sh: W1 appends/s with metrics on
#                     and with MRLOG_METRICS_OFF=1, alternating (medians;
#                     METRICS_BENCH_FLAGS: pairs of runs and scale).
#   make bench-io     bench/io-probe: W3's I/O pattern (800 MiB in group-
#                     commit frames, a sync every 10 ms) in each I/O mode:
#                     buffered, O_DIRECT, io_uring, over pre-zeroed files
#                     (medians of 5 interleaved runs; IO_PROBE_FLAGS adds
#                     options, e.g. "--modes buffered,uring --runs 3").
#   make bench-breakdown bench/breakdown.sh: one W1 run (mrlog,
#                     scale 0.2) under `perf record -e cpu-clock`, its CPU
#                     time per record split into the stages of the append
#                     path (BREAKDOWN_FLAGS: workload, scale, engine).
#   make bench-memory bench/mrlog-mem-bench: stats.memory_bytes and the
#                     memory_limit charge against the growth of the
#                     resident set (bench and bench-smoke run it too;
#                     tests/memory_check.sh runs it in make check).
#   make bench-beyond bench/mrlog-beyond-bench: 1 GiB of 1 KiB records
#                     retained by the mapped store under a memory_limit of
#                     256 MiB, read back and checked; appends/s, reads/s,
#                     peak anonymous and file RSS, against the same with a
#                     limit above the data (BEYOND_BENCH_FLAGS adds
#                     options, e.g. "--runs 3 --drop-cache").
#   make bench-mirror bench/mirror_bench.sh: starts a 3-node RabbitMQ
#                     cluster on loopback (tests/rabbitmq_cluster.sh),
#                     runs bench/mirror-bench against it (libmrlog_mirror:
#                     records/s shipped and confirmed, end to end to a
#                     replica, live, confirm latency; targets), stops it;
#                     writes bench-mirror.txt and bench-mirror.json
#                     (MIRROR_BENCH_FLAGS adds options, e.g. "--runs 1").
#                     Built only with AMQP (HAVE_AMQP); without it, or
#                     without rabbitmq-server, it says it skips.
# Peers (RocksDB, LMDB, SQLite) are compiled in when configure found them
# (HAVE_ROCKSDB, HAVE_LMDB, HAVE_SQLITE); the others are "not built".
# See bench/README.md.

pkglibexec_PROGRAMS = bench/mrlog-bench
EXTRA_PROGRAMS = bench/alloc-check bench/mrlog-watch-bench \
	bench/cursor-bench bench/mrlog-beyond-bench bench/io-probe

# A log retaining four times its memory_limit, read back (bench/beyond_mem.c).
bench_mrlog_beyond_bench_SOURCES = bench/beyond_mem.c
bench_mrlog_beyond_bench_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_mrlog_beyond_bench_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
bench_mrlog_beyond_bench_LDADD = libmrlog.la $(PTHREAD_LIBS)

# W3's I/O pattern on one file in several I/O modes, without the library
# (bench/io_probe.c); liburing adds the io_uring modes when configure
# found it.
bench_io_probe_SOURCES = bench/io_probe.c
bench_io_probe_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
bench_io_probe_LDADD = $(LIBURING_LIBS) $(PTHREAD_LIBS)

# Idle watches against the append path (bench/watch_bench.c).
bench_mrlog_watch_bench_SOURCES = bench/watch_bench.c
bench_mrlog_watch_bench_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_mrlog_watch_bench_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
bench_mrlog_watch_bench_LDADD = libmrlog.la $(PTHREAD_LIBS)
check_PROGRAMS += bench/mrlog-mem-bench

# Memory accounting against the resident set (bench/mem_bench.c).
bench_mrlog_mem_bench_SOURCES = bench/mem_bench.c
bench_mrlog_mem_bench_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_mrlog_mem_bench_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
bench_mrlog_mem_bench_LDADD = libmrlog.la $(PTHREAD_LIBS)

# Steady-state allocation check of the append path (bench/alloc_check.c):
# it interposes malloc and friends, so it is exported like mrlog-bench.
bench_alloc_check_SOURCES = bench/alloc_check.c bench/malloc_interpose.c \
	bench/malloc_interpose.h
bench_alloc_check_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_alloc_check_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
bench_alloc_check_LDADD = libmrlog.la $(PTHREAD_LIBS)
bench_alloc_check_LDFLAGS = -export-dynamic

# Cursor reads against mrlog_range (bench/cursor_bench.c).
bench_cursor_bench_SOURCES = bench/cursor_bench.c
bench_cursor_bench_CPPFLAGS = -I$(top_srcdir)/include
bench_cursor_bench_CFLAGS = $(AM_CFLAGS)
bench_cursor_bench_LDADD = libmrlog.la

bench_mrlog_bench_SOURCES = \
	bench/harness.h \
	bench/harness.c \
	bench/runner.c \
	bench/fsync_count.c \
	bench/thread_cpu.c \
	bench/engine.h \
	bench/peer.h \
	bench/groupcommit.h \
	bench/groupcommit.c \
	bench/eng_mrlog.c \
	bench/workloads.h \
	bench/wl_common.c \
	bench/wl_append.c \
	bench/wl_durable.c \
	bench/wl_reopen.c \
	bench/device.h \
	bench/device.c \
	bench/report.h \
	bench/json.c \
	bench/figures.c \
	bench/report.c \
	bench/targets.c \
	bench/main.c
if HAVE_ROCKSDB
bench_mrlog_bench_SOURCES += bench/eng_rocksdb.c
endif
if HAVE_LMDB
bench_mrlog_bench_SOURCES += bench/eng_lmdb.c
endif
if HAVE_SQLITE
bench_mrlog_bench_SOURCES += bench/eng_sqlite.c
endif

# Only the installed header: the benchmark uses the public API alone.
bench_mrlog_bench_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_mrlog_bench_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS) $(SQLITE_CFLAGS)
bench_mrlog_bench_LDADD = libmrlog.la $(ROCKSDB_LIBS) $(LMDB_LIBS) \
	$(SQLITE_LIBS) $(BENCH_DL_LIBS) $(PTHREAD_LIBS) -lm
# The fsync wrappers in bench/fsync_count.c must be visible to the peers'
# shared libraries: export the executable's symbols.
bench_mrlog_bench_LDFLAGS = -export-dynamic

EXTRA_DIST += bench/README.md bench/plot.sh bench/metrics_cost.sh \
	bench/doc_tables.py bench/breakdown.sh

CLEANFILES = bench-mirror.txt bench-mirror.json bench-memory.txt bench-results.json bench-results.txt bench-results.png \
	bench-smoke.json bench-smoke.txt bench-smoke.png

BENCH_FLAGS =
BENCH_SMOKE_FLAGS = --scale 0.01 --runs 1 --w2-seconds 0.5 \
	--device-mib 64 --device-iters 200 --w5-timeout 1 --segment-kib 64 \
	--w5-segment-kib 64

# The shell steps shared by both targets; the recipe sets $$flags and $$out
# first.  The run's exit status is kept; the plot is made either way.
BENCH_RUN = ./bench/mrlog-bench$(EXEEXT) $$flags --json $$out.json >$$out.txt; \
	rc=$$?; cat $$out.txt; \
	if command -v gnuplot >/dev/null 2>&1; then \
	  $(SHELL) $(top_srcdir)/bench/plot.sh $$out.json $$out.png && \
	  echo "plot: $$out.png"; \
	else echo "gnuplot not found: no plot"; fi; \
	echo "results: $$out.json $$out.txt"; exit $$rc

# The short runs of the separate benchmarks `make bench` adds after the
# suite (the targets below run them at full length).
BENCH_WATCH_SHORT = "" 100000 3
BENCH_CURSOR_SHORT = --records 200000 --runs 3
BENCH_CURSOR_SHORT_20K = --records 5000 --bytes 20000 --runs 3 \
	--store copy
BENCH_METRICS_SHORT = 4 0.1
BENCH_BEYOND_SHORT = --total-mib 64 --limit-mib 16

bench: bench/mrlog-bench$(EXEEXT) bench/mrlog-mem-bench$(EXEEXT) \
		bench/mrlog-watch-bench$(EXEEXT) bench/cursor-bench$(EXEEXT) \
		bench/mrlog-beyond-bench$(EXEEXT)
	./bench/mrlog-mem-bench$(EXEEXT) | tee bench-memory.txt
	@flags="$(BENCH_FLAGS)"; out=bench-results; $(BENCH_RUN)
	@echo "== watches (bench-watch, short) =="
	./bench/mrlog-watch-bench$(EXEEXT) $(BENCH_WATCH_SHORT)
	@echo "== cursor and mrlog_range (bench-cursor, short) =="
	./bench/cursor-bench$(EXEEXT) $(BENCH_CURSOR_SHORT)
	./bench/cursor-bench$(EXEEXT) $(BENCH_CURSOR_SHORT_20K)
	@echo "== metrics on/off (bench-metrics, short) =="
	$(SHELL) $(top_srcdir)/bench/metrics_cost.sh \
	  ./bench/mrlog-bench$(EXEEXT) $(BENCH_METRICS_SHORT)
	@echo "== retained beyond memory_limit (bench-beyond, short) =="
	./bench/mrlog-beyond-bench$(EXEEXT) $(BENCH_BEYOND_SHORT)

bench-smoke: bench/mrlog-bench$(EXEEXT) bench/alloc-check$(EXEEXT) \
		bench/mrlog-mem-bench$(EXEEXT)
	./bench/alloc-check$(EXEEXT)
	./bench/mrlog-mem-bench$(EXEEXT) --scale 0.05
	@flags="$(BENCH_SMOKE_FLAGS) $(BENCH_FLAGS)"; out=bench-smoke; $(BENCH_RUN)

bench-alloc: bench/alloc-check$(EXEEXT)
	./bench/alloc-check$(EXEEXT)

bench-memory: bench/mrlog-mem-bench$(EXEEXT)
	./bench/mrlog-mem-bench$(EXEEXT)

BEYOND_BENCH_FLAGS =
bench-beyond: bench/mrlog-beyond-bench$(EXEEXT)
	./bench/mrlog-beyond-bench$(EXEEXT) $(BEYOND_BENCH_FLAGS)

bench-watch: bench/mrlog-watch-bench$(EXEEXT)
	./bench/mrlog-watch-bench$(EXEEXT)

CURSOR_BENCH_FLAGS =
bench-cursor: bench/cursor-bench$(EXEEXT)
	./bench/cursor-bench$(EXEEXT) $(CURSOR_BENCH_FLAGS)

IO_PROBE_FLAGS =
bench-io: bench/io-probe$(EXEEXT)
	./bench/io-probe$(EXEEXT) $(IO_PROBE_FLAGS)

# MRLOG_METRICS_OFF=1 against metrics on, W1 alternating (API.md 12).
METRICS_BENCH_FLAGS = 16 0.3
bench-metrics: bench/mrlog-bench$(EXEEXT)
	$(SHELL) $(top_srcdir)/bench/metrics_cost.sh \
	  ./bench/mrlog-bench$(EXEEXT) $(METRICS_BENCH_FLAGS)

# Where W1's CPU time goes, per stage of the append path (perf sampling).
BREAKDOWN_FLAGS = W1 0.2 mrlog
bench-breakdown: bench/mrlog-bench$(EXEEXT)
	$(SHELL) $(top_srcdir)/bench/breakdown.sh \
	  ./bench/mrlog-bench$(EXEEXT) $(BREAKDOWN_FLAGS)

# libmrlog_mirror against a RabbitMQ cluster that the script starts and
# stops (bench/mirror_bench.c, mirror_cases.c, mirror_latency.c,
# mirror_admin.c).
EXTRA_DIST += bench/mirror_bench.sh
MIRROR_BENCH_FLAGS =
if HAVE_AMQP
EXTRA_PROGRAMS += bench/mirror-bench
bench_mirror_bench_SOURCES = bench/mirror_bench.h bench/mirror_bench.c \
	bench/mirror_cases.c bench/mirror_latency.c bench/mirror_admin.h \
	bench/mirror_admin.c
bench_mirror_bench_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
bench_mirror_bench_CFLAGS = $(AM_CFLAGS) $(AMQP_CFLAGS) $(PTHREAD_CFLAGS)
bench_mirror_bench_LDADD = libmrlog_mirror.la libmrlog.la $(AMQP_LIBS) \
	$(PTHREAD_LIBS)
bench-mirror: bench/mirror-bench$(EXEEXT)
	top_srcdir=$(top_srcdir) $(SHELL) $(top_srcdir)/bench/mirror_bench.sh \
	  ./bench/mirror-bench$(EXEEXT) $(MIRROR_BENCH_FLAGS)
else
bench-mirror:
	@echo "bench-mirror: SKIPPED: built without AMQP (librabbitmq not" \
	  "found, or --without-amqp; scripts/setup.sh installs librabbitmq-dev)"
endif

.PHONY: bench bench-smoke bench-alloc bench-memory bench-watch \
	bench-cursor bench-metrics bench-beyond bench-io bench-breakdown \
	bench-mirror
