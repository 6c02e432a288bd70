/* tap.h — minimal TAP output for the Parquet unit tests. */
#ifndef PQ_TEST_TAP_H
#define PQ_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int	tap_count;
static int	tap_failed;

#define ok(cond, ...) tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5)))
static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list		ap;

	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
	{
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return pass;
}

static int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
