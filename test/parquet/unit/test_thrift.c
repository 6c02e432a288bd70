/*
 * test_thrift.c — the Thrift compact-protocol writer, byte for byte, on hand-encoded
 * structs (field deltas, long field ids, zigzag varints, lists, nested structs) and a
 * Parquet PageHeader.
 */
#include "parquet/pq_internal.h"
#include "tap.h"

#include <string.h>

static pq_bytes out;
static pq_thrift t;

static void
start(void)
{
	out.len = 0;
	pq_thrift_init(&t, &out);
}

static int
same(const uint8_t *expected, size_t len)
{
	return t.err == PQ_OK && out.len == len && memcmp(out.data, expected, len) == 0;
}

int
main(void)
{
	pqb_init(&out, &pq_libc_allocator);

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, 1);
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x15, 0x02, 0x00}, 3), "struct {1: i32 1} is 15 02 00");

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_i64(&t, 20, -1);
	pq_thrift_bool(&t, 21, true);
	pq_thrift_bool(&t, 22, false);
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x06, 0x28, 0x01, 0x11, 0x12, 0x00}, 6),
	   "a field id jump > 15 uses the long form; bools live in the type nibble");

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 5, 3);
	pq_thrift_i32(&t, 2, -64);	/* going backwards needs the long form too */
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x55, 0x06, 0x05, 0x04, 0x7f, 0x00}, 6),
	   "a decreasing field id is written in long form, -64 zigzags to 0x7f");

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_list_begin(&t, 3, PQ_T_I32, 3);
	pq_thrift_elem_i32(&t, 1);
	pq_thrift_elem_i32(&t, 2);
	pq_thrift_elem_i32(&t, 3);
	pq_thrift_string(&t, 4, "ab");
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x39, 0x35, 0x02, 0x04, 0x06, 0x18, 0x02, 'a', 'b', 0x00}, 10),
	   "list<i32> [1,2,3] then a string");

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_list_begin(&t, 1, PQ_T_BINARY, 20);
	ok(t.err == PQ_OK && out.len == 3 && out.data[0] == 0x19 && out.data[1] == 0xf8 && out.data[2] == 0x14,
	   "a list of 20 elements has the size in a varint after 0xf8");

	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_i64(&t, 1, 300);
	pq_thrift_field(&t, 2, PQ_T_STRUCT);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, 7);
	pq_thrift_struct_end(&t);
	pq_thrift_i8(&t, 3, -2);
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x16, 0xd8, 0x04, 0x1c, 0x15, 0x0e, 0x00, 0x13, 0xfe, 0x00}, 10),
	   "nested struct restarts field deltas and restores the outer ones; i8 is one raw byte");

	/* PageHeader{type DATA_PAGE, uncompressed 100, compressed 50,
	 *            data_page_header {num_values 10, PLAIN, RLE, RLE}} */
	start();
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, 0);
	pq_thrift_i32(&t, 2, 100);
	pq_thrift_i32(&t, 3, 50);
	pq_thrift_field(&t, 5, PQ_T_STRUCT);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, 10);
	pq_thrift_i32(&t, 2, 0);
	pq_thrift_i32(&t, 3, 3);
	pq_thrift_i32(&t, 4, 3);
	pq_thrift_struct_end(&t);
	pq_thrift_struct_end(&t);
	ok(same((const uint8_t[]) {0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x64, 0x2c,
				0x15, 0x14, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00, 0x00}, 18),
	   "a data PageHeader matches its hand encoding");

	ok(pq_zigzag64(0) == 0 && pq_zigzag64(-1) == 1 && pq_zigzag64(1) == 2 &&
	   pq_zigzag64(INT64_MIN) == UINT64_MAX, "zigzag of 0, -1, 1, INT64_MIN");

	pqb_free(&out);
	return tap_done();
}
