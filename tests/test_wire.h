/* test_wire.h — what a unit test writes to, and reads from, a client connection of the test
 * world, and the JSON it gets back: one copy for every test_*.c that publishes and reads
 * PubAcks or API replies (test_stream.c, test_cluster.c, test_consumer.c).
 *
 *   char *line = test_wire_pub(subject, reply, hdrs, body)   a PUB, or an HPUB when hdrs
 *                                      ("Key: v" lines, "\r\n" between) is not NULL; reply
 *                                      may be NULL
 *   GArray *msgs = test_wire_parse(out)                      every MSG/HMSG in the bytes the
 *                                      client read, as TestMsg (subject, reply or NULL, hdr
 *                                      or NULL, data)
 *   char *v = test_json_path(json, "$.error.err_code")       a JSON path's value as text
 *                                      ("" when absent; a string without its quotes)
 *   TEST_ASSERT_JSON(json, path, want)                       g_assert_cmpstr on that
 */
#ifndef MINIJET_TEST_WIRE_H
#define MINIJET_TEST_WIRE_H

#include <glib.h>

typedef struct {
    char *subject;
    char *reply; /* NULL when the message has none */
    char *hdr;   /* NULL for MSG */
    char *data;
} TestMsg;

char *test_wire_pub(const char *subject, const char *reply, const char *hdrs, const char *body);
GArray *test_wire_parse(const char *out); /* TestMsg, cleared with the array */
char *test_json_path(const char *json, const char *path);

#define TEST_ASSERT_JSON(json, path, want)                  \
    do {                                                    \
        g_autofree char *got_ = test_json_path((json), (path)); \
        g_assert_cmpstr(got_, ==, (want));                  \
    } while (0)

#endif
