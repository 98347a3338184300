/*
 * amqp_connect.h -- the mirror tests' own AMQP connection (librabbitmq),
 * beside the mirror's, to look into the broker's queues and to publish
 * foreign messages.
 */
#ifndef MRLOG_TESTS_AMQP_CONNECT_H
#define MRLOG_TESTS_AMQP_CONNECT_H

#include <amqp.h>

/* Connects to the first broker of uri (a comma-separated list), logs in
 * and opens channel 1.  The connection, or NULL on any failure. */
amqp_connection_state_t test_amqp_connect(const char *uri);

#endif /* MRLOG_TESTS_AMQP_CONNECT_H */
