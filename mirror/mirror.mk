# mirror/mirror.mk -- libmrlog_mirror, which ships a log's durable records
# to RabbitMQ quorum queues; included from Makefile.am.  Built when
# configure finds librabbitmq (--with-amqp, default auto).
#
#   libmrlog_mirror.la   installed with include/mrlog_mirror.h and
#                        mrlog_mirror.pc; uses libmrlog's public API only.
#   tests/mirror_test.sh starts a 3-node cluster (tests/rabbitmq_cluster.sh)
#                        and runs tests/mirror_test against it; it skips
#                        (exit 77) when rabbitmq-server is not installed;
#                        then, on the same cluster, tests/mirror_cli_test.sh
#                        (the tool's mirror and replica commands,
#                        tools/tools.mk) and tests/mirror_scenarios.sh
#                        (failure scenarios with tests/mirror_driver).

EXTRA_DIST += mrlog_mirror.pc.in tests/rabbitmq_cluster.sh \
	tests/mirror_test.sh tests/mirror_cli_test.sh \
	tests/mirror_scenarios.sh

# mrlog_mirror(3) and one page per call that sources it.
MIRROR_MANS = docs/man/mrlog_mirror.3 \
	docs/man/mrlog_mirror_config_init.3 \
	docs/man/mrlog_mirror_start.3 \
	docs/man/mrlog_mirror_stats.3 \
	docs/man/mrlog_mirror_queue.3 \
	docs/man/mrlog_replica_start.3 \
	docs/man/mrlog_mirror_stop.3

if HAVE_AMQP
include_HEADERS += include/mrlog_mirror.h
man3_MANS += $(MIRROR_MANS)
lib_LTLIBRARIES += libmrlog_mirror.la
pkgconfig_DATA += mrlog_mirror.pc

libmrlog_mirror_la_SOURCES = \
	mirror/body.h \
	mirror/body.c \
	mirror/link.h \
	mirror/link.c \
	mirror/mirror.h \
	mirror/mirror.c \
	mirror/ship.c \
	mirror/truncation.c \
	mirror/replica.c
libmrlog_mirror_la_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
libmrlog_mirror_la_CFLAGS = $(AM_CFLAGS) $(AMQP_CFLAGS) $(PTHREAD_CFLAGS)
libmrlog_mirror_la_LIBADD = libmrlog.la $(AMQP_LIBS) $(PTHREAD_LIBS)
libmrlog_mirror_la_LDFLAGS = -version-info 0:0:0 -no-undefined \
	-export-symbols-regex '^mrlog_(mirror|replica)_[a-z]'

check_PROGRAMS += tests/mirror_test
TESTS += tests/mirror_test.sh
tests_mirror_test_SOURCES = tests/mirror_test.h tests/mirror_test.c \
	tests/mirror_test_local.c tests/mirror_truncate.c tests/amqp_connect.h \
	tests/amqp_connect.c mirror/body.c
tests_mirror_test_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/mirror \
	-D_GNU_SOURCE
tests_mirror_test_CFLAGS = $(AM_CFLAGS) $(AMQP_CFLAGS) $(PTHREAD_CFLAGS)
tests_mirror_test_LDADD = libmrlog_mirror.la libmrlog.la $(AMQP_LIBS) \
	$(PTHREAD_LIBS)

check_PROGRAMS += tests/mirror_driver
tests_mirror_driver_SOURCES = tests/mirror_driver.h tests/mirror_driver.c \
	tests/mirror_workload.c tests/mirror_cases.c tests/mirror_test.h \
	tests/amqp_connect.h tests/amqp_connect.c mirror/body.c
tests_mirror_driver_CPPFLAGS = $(tests_mirror_test_CPPFLAGS)
tests_mirror_driver_CFLAGS = $(tests_mirror_test_CFLAGS)
tests_mirror_driver_LDADD = $(tests_mirror_test_LDADD)
else
EXTRA_DIST += include/mrlog_mirror.h $(MIRROR_MANS) tests/mirror_driver.h \
	tests/mirror_driver.c tests/mirror_workload.c tests/mirror_cases.c \
	tests/amqp_connect.h tests/amqp_connect.c tests/mirror_test.h \
	tests/mirror_test_local.c tests/mirror_truncate.c
endif
