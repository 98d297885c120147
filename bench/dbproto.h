/*
 * bench/dbproto.h: the wire format and table contents of the database-shaped workload.
 *
 * Shared by bench/db_server.c and echo-client's -D mode (bench/echo_client.c); the Go server
 * (bench/go/db) writes the same bytes. A request and its response are both DBP_MSG bytes:
 *
 *   request   [0,4) connection id  [4,12) sequence number  [12,16) key  [16] op  [17,64) filler
 *   response  [0,17) copied from the request              [17,64) bytes 17..63 of the key's row
 *
 * A table row is DBP_ROW bytes, row byte i of key k being dbp_row_byte(k, i): the server
 * writes these rows into its table file at start and a write transaction writes them again, so
 * the client can check every response without knowing which writes came first.
 */
#ifndef GR_BENCH_DBPROTO_H
#define GR_BENCH_DBPROTO_H

#include <stdint.h>

#define DBP_MSG      64
#define DBP_ROW      64
#define DBP_HDR      17 /* bytes of the request a response repeats */
#define DBP_KEY_OFF  12
#define DBP_OP_OFF   16
#define DBP_OP_READ  'r'
#define DBP_OP_WRITE 'w'
#define DBP_ROWS     65536 /* rows in the table: 4 MiB */

static inline unsigned char
dbp_row_byte(uint32_t key, int i)
{
    return (unsigned char)(key * 131u + (uint32_t)i * 7u + (key >> 8));
}

#endif /* GR_BENCH_DBPROTO_H */
