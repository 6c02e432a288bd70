// The mutation list (test/mutate/README.md): small edits shaped like real bugs, each with
// the test expected to kill it. node test/mutate/run.mjs applies them one at a time.
//
// Fields:
//   id           short name (the runner's --only takes it)
//   file, find, replace
//                one edit: `find` must occur exactly once in `file` (else the entry is
//                reported "broken", so drift after a rewrite is loud); or
//   edits        [{file, find, replace}, ...] for a mutation that needs more than one edit
//   description  the bug, in one line
//   suites       test/run SUITES to run (unit fuzz regress pgtap node)
//   tests        NODE_TESTS for the node suite: the smallest file(s) that kill it
//   moving       set when the target code is being rewritten (the glue rewrite of src/*.c
//                and sql/install, the aws and shred branches): after it lands, update
//                `find`/`replace` to the new text — the runner's --check lists what drifted
//
// Keep `find` to the shortest text that is unique and says what is changed; no leading
// indentation, so a re-indent does not break it.

export const MUTATIONS = [
  // ---- object keys ------------------------------------------------------------------
  {
    id: 'key-nonce-zero',
    file: 'src/keys.c',
    find: '(long long) batch_id, (unsigned long long) nonce);',
    replace: '(long long) batch_id, (unsigned long long) 0);',
    description: 'object keys lose the random nonce: a re-created extension or a cluster copy overwrites objects',
    suites: 'node', tests: 'test/e2e/keys.test.mjs', moving: 'glue',
  },
  {
    id: 'batch-key-not-unique',
    file: 'sql/install/00-tables.sql',
    find: 'object_key  text NOT NULL UNIQUE,',
    replace: 'object_key  text NOT NULL,',
    description: 'two batches may be recorded with the same object key',
    suites: 'node', tests: 'test/e2e/keys.test.mjs', moving: 'glue',
  },
  // ---- eventDay ----------------------------------------------------------------------
  {
    id: 'eventday-local-key',
    file: 'src/keys.c',
    find: 'struct pg_tm *tm = pg_gmtime(&t);',
    replace: 'struct pg_tm *tm = pg_localtime(&t, session_timezone);',
    description: "the key's eventDay is the day's date in the server's timezone (one day early behind UTC)",
    suites: 'node', tests: 'test/e2e/eventday.test.mjs', moving: 'glue',
  },
  {
    id: 'eventday-local-time',
    edits: [
      { file: 'src/event_rules.c', find: '#include "common/int.h"', replace: '#include "common/int.h"\n#include "pgtime.h"' },
      {
        file: 'src/event_rules.c',
        find: 'out->event_day = (int32) (out->time_ms / (INT64CONST(1000) * SECS_PER_DAY));',
        replace: '{\n\t\tpg_time_t\tsecs = (pg_time_t) (out->time_ms / 1000);\n\t\tstruct pg_tm *lt = pg_localtime(&secs, session_timezone);\n\n'
          + '\t\tout->event_day = (int32) ((secs + lt->tm_gmtoff) / SECS_PER_DAY);\n\t}',
      },
    ],
    description: "eventDay is the event's day in the server's local time, not UTC",
    suites: 'node', tests: 'test/e2e/eventday.test.mjs', moving: 'glue',
  },
  // ---- exactly once: claim → upload → commit -------------------------------------------
  {
    id: 'commit-before-upload',
    file: 'src/batch.c',
    find: 'sl_test_fault_point("claimed");',
    replace: 'sl_test_fault_point("claimed");\n\tcommit_batches(list_make1(b));',
    description: 'rows deleted (the batch committed) before the upload: a crash or an S3 error during it loses them',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs', moving: 'glue',
  },
  {
    id: 'redrive-new-key',
    file: 'src/batch.c',
    find: 'b->object_key = sl_text_or_null(tup, desc, 6);',
    replace: 'b->object_key = sl_object_key(source->prefix, b->region, b->account_id, b->event_day, b->id, (uint64) random());',
    description: 'a pending batch is re-driven to a new key: an upload that landed before the crash is duplicated',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs', moving: 'glue',
  },
  {
    id: 'delete-guard-dropped',
    file: 'src/batch.c',
    find: '"   AND (SELECT count(*) FROM securitylake.batch b WHERE b.id = ANY ($4)) = $5",',
    replace: '"   AND $5 > 0 AND $4 IS NOT NULL",',
    description: "a batch's late commit deletes rows by id even after DROP/CREATE EXTENSION restarted the ids",
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs', moving: 'glue',
  },
  {
    id: 'multipart-not-aborted',
    file: 'src/upload.c',
    find: 'if (batch->upload_id)',
    replace: 'if (batch->upload_id && false)',
    description: "a re-drive leaves the earlier attempt's multipart upload (and its parts) behind",
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs', moving: 'glue',
  },
  {
    id: 'upload-id-not-recorded',
    file: 'src/upload.c',
    find: 'sl_exec("UPDATE securitylake.batch SET upload_id = $2 WHERE id = $1", 2, types, values, NULL, SPI_OK_UPDATE);',
    replace: 'sl_exec("SELECT $1, $2", 2, types, values, NULL, SPI_OK_SELECT);',
    description: 'the multipart UploadId is not persisted with its batch, so recovery cannot abort it',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs', moving: 'glue',
  },
  // ---- dead letters --------------------------------------------------------------------
  {
    id: 'dead-letter-dropped',
    file: 'src/batch.c',
    find: 'if (nrejects > 0)',
    replace: 'if (nrejects < 0)',
    description: 'events the encoder rejects are deleted from the queue without a dead letter',
    suites: 'node', tests: 'test/e2e/validation.test.mjs', moving: 'glue',
  },
  {
    id: 'claim-dead-letter-dropped',
    file: 'src/batch.c',
    find: 'FROM securitylake.queue q JOIN r ON r.id = q.id"',
    replace: 'FROM securitylake.queue q JOIN r ON r.id = -q.id"',
    description: 'events rejected while claiming (time, region, account) are deleted without a dead letter',
    suites: 'node', tests: 'test/e2e/validation.test.mjs', moving: 'glue',
  },
  // ---- objects ---------------------------------------------------------------------------
  {
    id: 'records-unsorted',
    file: 'src/batch.c',
    find: 'qsort(b->events, b->nevents, sizeof(SlEvent *), compare_events);',
    replace: '(void) compare_events;',
    description: 'records are written in queue order, not sorted by time',
    suites: 'node', tests: 'test/e2e/order.test.mjs', moving: 'glue',
  },
  {
    id: 'records-sorted-descending',
    file: 'src/batch.c',
    find: 'return x->time_ms < y->time_ms ? -1 : 1;',
    replace: 'return x->time_ms < y->time_ms ? 1 : -1;',
    description: 'records are sorted by time, newest first',
    suites: 'node', tests: 'test/e2e/order.test.mjs', moving: 'glue',
  },
  {
    id: 'unmapped-dropped',
    file: 'src/shred.c',
    find: 'return keep_unmapped(enc, path_text(enc, true), v);',
    replace: '(void) v;\n\treturn true;',
    description: 'event keys without a column are dropped instead of kept in unmapped',
    suites: 'node', tests: 'test/e2e/pipeline.test.mjs', moving: 'shred',
  },
  {
    id: 'schema-duplicate-keys',
    file: 'src/schema.c',
    find: 'if (strcmp(group->children[i - 1]->key, group->children[i]->key) == 0)',
    replace: 'if (false && strcmp(group->children[i - 1]->key, group->children[i]->key) == 0)',
    description: 'a schema with two fields reading the same key (names match case-insensitively) is accepted',
    suites: 'node', tests: 'test/e2e/schema-keys.test.mjs', moving: 'glue',
  },
  // ---- Parquet encoder (src/parquet) ------------------------------------------------------
  {
    id: 'parquet-def-level-repeated',
    file: 'src/parquet/schema.c',
    find: 'n->max_def = p->max_def + (rep != PQ_REQUIRED);',
    replace: 'n->max_def = p->max_def + (rep == PQ_OPTIONAL);',
    description: 'definition levels: a REPEATED field does not add a level (empty and absent lists confused)',
    suites: 'unit',
  },
  {
    id: 'parquet-stats-min',
    file: 'src/parquet/encode.c',
    find: 'if (compare_values(phys, v, len, st->min, st->min_len) < 0)',
    replace: 'if (compare_values(phys, v, len, st->min, st->min_len) > 0)',
    description: 'statistics: min keeps the largest value (readers skip row groups that hold matches)',
    suites: 'unit',
  },
  // ---- AWS client (src/aws) -----------------------------------------------------------------
  {
    id: 'sigv4-payload-hash',
    file: 'src/aws/client.c',
    find: 'aws_sha256_hex(req->body ? req->body : "", req->body_len, payload_hash);',
    replace: 'aws_sha256_hex("", 0, payload_hash);',
    description: 'SigV4: x-amz-content-sha256 is the hash of an empty body, not of the payload',
    suites: 'node', tests: 'test/aws/client.test.mjs', moving: 'aws',
  },
  {
    id: 'assumerole-no-externalid',
    file: 'src/aws/credentials.c',
    find: 'form_param(&form, "ExternalId", c->cfg.external_id);',
    replace: '(void) 0;',
    description: 'AssumeRole is called without the agreed ExternalId',
    suites: 'node', tests: 'test/e2e/pipeline.test.mjs', moving: 'aws',
  },
];
