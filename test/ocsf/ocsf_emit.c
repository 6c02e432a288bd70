/*
 * ocsf_emit — write, for every class of every built-in OCSF version, an empty Parquet file
 * and a one-row file in which every column has a value (every group present, every list
 * with one element, every map with one entry), through src/parquet.
 *
 *   build/ocsf/ocsf_emit OUTDIR
 *
 * Files: OUTDIR/<version>/<class_uid>-empty.parquet and -one.parquet. Prints one JSON line
 * per class on stdout: {"version", "class_uid", "name", "leaves", "empty", "one"}.
 * Values: class_uid = the class uid, INT32 7, INT64 and timestamps 1732752000000, DOUBLE
 * 1.5, BOOLEAN true, STRING the field's name, JSON {"k":1}, map entry "k" → "v".
 */
#include "ocsf/ocsf.h"
#include "ocsf/ocsf_parquet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define TIME_MS INT64_C(1732752000000)

static int
file_write(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, (FILE *) ctx) == len ? 0 : -1;
}

static int	write_field(pq_writer *w, const ocsf_pq_schema *s, pq_field f);

static int
write_leaf(pq_writer *w, const ocsf_pq_schema *s, pq_field f)
{
	const pq_schema *ps = s->schema;
	const char *name = pq_field_name(ps, f);
	pq_column_type type;

	switch (pq_field_physical(ps, f))
	{
		case PQ_BOOLEAN:
			return pq_value_bool(w, f, true);
		case PQ_INT32:
			return pq_value_int32(w, f, strcmp(name, "class_uid") == 0 && pq_field_parent(ps, f) == PQ_ROOT
								  ? s->cls->uid : 7);
		case PQ_INT64:
			return pq_value_int64(w, f, TIME_MS);
		case PQ_FLOAT:
			return pq_value_float(w, f, 1.5f);
		case PQ_DOUBLE:
			return pq_value_double(w, f, 1.5);
		case PQ_BYTE_ARRAY:
			if (ocsf_pq_leaf_column_type(s, f, &type) && type == PQ_COL_JSON)
				return pq_value_bytes(w, f, "{\"k\":1}", 7);
			if (strcmp(name, "key") == 0 && pq_field_repetition(ps, f) == PQ_REQUIRED)
				return pq_value_bytes(w, f, "k", 1);
			return pq_value_bytes(w, f, name, strlen(name));
	}
	return PQ_ERR_ARG;
}

static int
write_children(pq_writer *w, const ocsf_pq_schema *s, pq_field group)
{
	int32_t		i;
	int			rc = PQ_OK;

	for (i = 0; i < pq_field_num_children(s->schema, group) && rc == PQ_OK; i++)
		rc = write_field(w, s, pq_field_child(s->schema, group, i));
	return rc;
}

static int
write_field(pq_writer *w, const ocsf_pq_schema *s, pq_field f)
{
	const pq_schema *ps = s->schema;
	int			rc;

	if (pq_field_is_leaf(ps, f))
		return write_leaf(w, s, f);
	if (pq_field_is_list(ps, f) || pq_field_is_map(ps, f))
	{
		rc = pq_begin_list(w, f);
		if (rc == PQ_OK)
			rc = pq_list_element(w);
		if (rc == PQ_OK)
			rc = write_children(w, s, pq_field_repeated_group(ps, f));
		return rc == PQ_OK ? pq_end_list(w) : rc;
	}
	rc = pq_begin_group(w, f);
	if (rc == PQ_OK)
		rc = write_children(w, s, f);
	return rc == PQ_OK ? pq_end_group(w) : rc;
}

/* Write PATH with 0 or 1 rows; returns 0 or prints why and returns -1. */
static int
write_file(const ocsf_pq_schema *s, const char *path, int rows)
{
	FILE	   *fp = fopen(path, "wb");
	pq_writer  *w = NULL;
	pq_options	options;
	pq_sink		sink;
	char		err[256];
	int			rc;

	if (fp == NULL)
	{
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	pq_options_init(&options);
	sink.write = file_write;
	sink.ctx = fp;
	rc = pq_writer_open(&w, s->schema, &options, sink, NULL, err, sizeof(err));
	if (rc == PQ_OK && rows > 0)
	{
		rc = pq_begin_record(w);
		if (rc == PQ_OK)
			rc = write_children(w, s, PQ_ROOT);
		if (rc == PQ_OK)
			rc = pq_end_record(w);
	}
	if (rc == PQ_OK)
		rc = pq_writer_close(w);
	if (rc != PQ_OK)
		fprintf(stderr, "%s: %s: %s\n", path, pq_status_name(rc), w ? pq_writer_error(w) : err);
	pq_writer_free(w);
	if (fclose(fp) != 0 && rc == PQ_OK)
		rc = PQ_ERR_IO;
	return rc == PQ_OK ? 0 : -1;
}

static int
emit_class(const ocsf_version *v, const ocsf_class *c, const char *dir /* < 1024 */ )
{
	ocsf_pq_schema s;
	char		err[256],
				empty[1100],
				one[1100];

	if (ocsf_pq_schema_build(&s, v, c->uid, NULL, NULL, err, sizeof(err)) != PQ_OK)
	{
		fprintf(stderr, "%s %d: %s\n", v->version, (int) c->uid, err);
		return -1;
	}
	snprintf(empty, sizeof(empty), "%s/%d-empty.parquet", dir, (int) c->uid);
	snprintf(one, sizeof(one), "%s/%d-one.parquet", dir, (int) c->uid);
	if (write_file(&s, empty, 0) != 0 || write_file(&s, one, 1) != 0)
	{
		ocsf_pq_schema_free(&s);
		return -1;
	}
	printf("{\"version\": \"%s\", \"class_uid\": %d, \"name\": \"%s\", \"leaves\": %d, "
		   "\"empty\": \"%s\", \"one\": \"%s\"}\n", v->version, (int) c->uid, c->name,
		   (int) s.num_leaves, empty, one);
	ocsf_pq_schema_free(&s);
	return 0;
}

int
main(int argc, char **argv)
{
	int			nversions,
				i,
				failures = 0;
	const ocsf_version *const *versions = ocsf_versions(&nversions);

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < nversions; i++)
	{
		char		dir[1024];

		if (strlen(argv[1]) > 1000)
		{
			fprintf(stderr, "OUTDIR is too long\n");
			return 2;
		}
		int32_t		k;

		snprintf(dir, sizeof(dir), "%s/%s", argv[1], versions[i]->version);
		if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		{
			fprintf(stderr, "%s: %s\n", dir, strerror(errno));
			return 1;
		}
		for (k = 0; k < versions[i]->num_classes; k++)
			if (emit_class(versions[i], &versions[i]->classes[k], dir) != 0)
				failures++;
	}
	return failures ? 1 : 0;
}
