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
    suites: 'node', tests: 'test/e2e/keys.test.mjs',
  },
  {
    id: 'batch-key-not-unique',
    file: 'sql/install/00-tables.sql',
    find: 'object_key  text NOT NULL UNIQUE,',
    replace: 'object_key  text NOT NULL,',
    description: 'two batches may be recorded with the same object key',
    suites: 'node', tests: 'test/e2e/keys.test.mjs',
  },
  // ---- eventDay ----------------------------------------------------------------------
  {
    id: 'eventday-local-key',
    // The worker pins TimeZone to UTC, so local time alone is UTC there: the bug is both.
    edits: [
      { file: 'src/keys.c', find: 'struct pg_tm *tm = pg_gmtime(&t);', replace: 'struct pg_tm *tm = pg_localtime(&t, session_timezone);' },
      { file: 'src/loop.c', find: '{"TimeZone", "UTC"},', replace: '' },
    ],
    description: "the key's eventDay is the day's date in the server's timezone (one day early behind UTC)",
    suites: 'node', tests: 'test/e2e/eventday.test.mjs',
  },
  {
    id: 'eventday-local-time',
    edits: [
      { file: 'src/loop.c', find: '{"TimeZone", "UTC"},', replace: '' },
      { file: 'src/event_rules.c', find: '#include "common/int.h"', replace: '#include "common/int.h"\n#include "pgtime.h"' },
      {
        file: 'src/event_rules.c',
        find: 'out->event_day = (int32) (out->time_ms / (INT64CONST(1000) * SECS_PER_DAY));',
        replace: '{\n\t\tpg_time_t\tsecs = (pg_time_t) (out->time_ms / 1000);\n\t\tstruct pg_tm *lt = pg_localtime(&secs, session_timezone);\n\n'
          + '\t\tout->event_day = (int32) ((secs + lt->tm_gmtoff) / SECS_PER_DAY);\n\t}',
      },
    ],
    description: "eventDay is the event's day in the server's local time, not UTC",
    suites: 'node', tests: 'test/e2e/eventday.test.mjs',
  },
  // ---- exactly once: claim → upload → commit -------------------------------------------
  {
    id: 'commit-before-upload',
    edits: [
      { file: 'src/deliver.c', find: '#include "deliver.h"', replace: '#include "commit.h"\n#include "deliver.h"' },
      { file: 'src/deliver.c', find: 'sl_test_fault_point("claimed");', replace: 'sl_test_fault_point("claimed");\n\tsl_commit_batches(list_make1(b));' },
    ],
    description: 'rows deleted (the batch committed) before the object is uploaded: a crash or an S3 error during the upload loses them',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'commit-failed-upload',
    file: 'src/loop.c',
    find: 'if (result == SL_DELIVERED)\n',
    replace: 'if (result == SL_DELIVERED || result == SL_UPLOAD_FAILED)\n',
    description: "a batch whose upload failed is committed as delivered: its rows leave the queue though no object holds them",
    suites: 'node', tests: 'test/e2e/isolation.test.mjs',
  },
  {
    id: 'redrive-new-key',
    file: 'src/batches.c',
    find: 'b->object_key = sl_text_or_null(tup, desc, 7);',
    replace: 'b->object_key = sl_object_key(source->prefix, b->region, b->account_id, b->event_day, b->id, (uint64) random());',
    description: 'a pending batch is re-driven to a new key: an upload that landed before the crash is duplicated',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'delete-guard-dropped',
    file: 'src/commit.c',
    find: 'if (!sl_batch_delete_held(b))\n\t\treturn false;',
    replace: '(void) sl_batch_delete_held(b);',
    description: "a batch's late commit deletes rows by id though its batch row is gone (DROP/CREATE EXTENSION restarted the ids, or another worker took it)",
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'multipart-not-aborted',
    file: 'src/deliver.c',
    find: 'if (!sl_s3_multipart_abort(b->source, b->object_key, b->upload_id, error))\n\t\treturn false;\n\tsl_batch_save_upload_id(b, NULL);',
    replace: 'sl_batch_save_upload_id(b, NULL);',
    description: "a re-drive leaves the earlier attempt's multipart upload (and its parts) behind",
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'upload-id-not-recorded',
    file: 'src/batches.c',
    find: '"UPDATE securitylake.batch SET upload_id = $5"',
    replace: '"UPDATE securitylake.batch SET upload_id = upload_id"',
    description: 'the multipart UploadId is not persisted with its batch, so recovery cannot abort it',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  // ---- dead letters --------------------------------------------------------------------
  {
    id: 'dead-letter-dropped',
    file: 'src/batches.c',
    find: 'm.reason, m.enqueued_at FROM moved m",',
    replace: 'm.reason, m.enqueued_at FROM moved m WHERE false",',
    description: 'events refused (by the claim or the encoder) leave the queue without a dead letter',
    suites: 'node', tests: 'test/e2e/validation.test.mjs',
  },
  {
    id: 'claim-rejects-kept-queued',
    file: 'src/claim.c',
    find: 'sl_dead_letter(c->source->name, &key, 1, c->reject_ids, c->reject_reasons, c->nrejects);',
    replace: '(void) key;',
    description: 'events the claim refuses (size, time, partition) stay queued, claimed and refused again each cycle',
    suites: 'node', tests: 'test/e2e/validation.test.mjs',
  },
  // ---- objects ---------------------------------------------------------------------------
  {
    id: 'records-unsorted',
    file: 'src/claim.c',
    find: 'qsort(part->entries, part->n, sizeof(ClaimEntry), compare_entries);',
    replace: '(void) compare_entries;',
    description: 'records are written in queue order, not sorted by time',
    suites: 'node', tests: 'test/e2e/order.test.mjs',
  },
  {
    id: 'records-sorted-descending',
    file: 'src/claim.c',
    find: 'return x->time_ms < y->time_ms ? -1 : 1;',
    replace: 'return x->time_ms < y->time_ms ? 1 : -1;',
    description: 'records are sorted by time, newest first',
    suites: 'node', tests: 'test/e2e/order.test.mjs',
  },
  {
    id: 'unmapped-dropped',
    file: 'src/shred.c',
    find: 'return key != NULL && keep_unmapped(enc, key, keylen, v);',
    replace: 'return key != NULL && keylen >= 0 && v != NULL;',
    description: 'event keys without a column are dropped instead of kept in unmapped',
    suites: 'node', tests: 'test/e2e/pipeline.test.mjs',
  },
  {
    id: 'schema-duplicate-keys',
    file: 'src/columns_tags.c',
    find: 'if (strcmp(group->children[i - 1]->key, group->children[i]->key) == 0)',
    replace: 'if (false && strcmp(group->children[i - 1]->key, group->children[i]->key) == 0)',
    description: 'a schema with two fields reading the same key (names match case-insensitively) is accepted',
    suites: 'node', tests: 'test/e2e/schema-keys.test.mjs',
  },
  // ---- two workers, poison, flush (issues 12 and 16) ------------------------------------
  {
    id: 'bisection-disabled',
    file: 'src/batches.c',
    find: 'split_batch(b);\n',
    replace: '{ dead_letter_rows(b, psprintf("could not be delivered: %s", error)); (void) split_batch; }\n',
    description: 'a batch failing for one event is dead-lettered whole instead of bisected down to that event',
    suites: 'node', tests: 'test/e2e/isolation.test.mjs',
  },
  {
    id: 'event-size-unchecked',
    file: 'src/claim.c',
    find: 'if ((reason = sl_event_size_reason(c->source, raw)) != NULL)',
    replace: 'if ((reason = sl_event_size_reason(c->source, 0 * raw)) != NULL)',
    description: 'an event over max_event_size is decompressed and encoded (a few MB stored, hundreds of MB in memory)',
    suites: 'node', tests: 'test/e2e/memory.test.mjs',
  },
  {
    id: 'flush-waits-for-disabled',
    file: 'sql/install/50-worker.sql',
    find: 'WHERE s.enabled\n',
    replace: 'WHERE true\n',
    description: 'flush() without a name waits for the rows of disabled sources, which nothing delivers, until its timeout',
    suites: 'node', tests: 'test/e2e/flush.test.mjs',
  },
  {
    id: 'per-event-catch-dropped',
    file: 'src/shred.c',
    find: 'if (enc->in_sink || is_interrupt(edata))',
    replace: 'if (true || enc->in_sink || is_interrupt(edata))',
    description: "an ERROR while one event is encoded fails its whole batch instead of refusing that event with the reason",
    suites: 'node', tests: 'test/e2e/isolation.test.mjs',
  },
  // ---- trust boundaries (issue 11) -----------------------------------------------------------
  {
    id: 'writer-any-column',
    file: 'sql/install/20-views.sql',
    find: 'GRANT INSERT (source, event, region, account_id) ON securitylake.queue TO securitylake_writer;',
    replace: 'GRANT INSERT ON securitylake.queue TO securitylake_writer;',
    description: 'writers may choose queue ids (OVERRIDING SYSTEM VALUE) and enqueued_at',
    suites: 'node', tests: 'test/e2e/trust-writers.test.mjs',
  },
  {
    id: 'worker-search-path-unpinned',
    file: 'src/loop.c',
    find: '{"search_path", "pg_catalog, pg_temp"},',
    replace: '',
    description: "the worker takes search_path from ALTER DATABASE/ROLE (a database owner's schema first)",
    suites: 'node', tests: 'test/e2e/trust-role.test.mjs test/e2e/trust-escalation.test.mjs',
  },
  {
    id: 'worker-runs-as-superuser',
    file: 'src/loop.c',
    find: 'SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);',
    replace: '(void) role;',
    description: 'the worker runs its statements as the bootstrap superuser, not securitylake_worker',
    suites: 'node', tests: 'test/e2e/trust-role.test.mjs',
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
    suites: 'node', tests: 'test/aws/client.test.mjs',
  },
  {
    id: 'assumerole-no-externalid',
    file: 'src/aws/credentials.c',
    find: 'form_param(&form, "ExternalId", c->cfg.external_id);',
    replace: '(void) 0;',
    description: 'AssumeRole is called without the agreed ExternalId',
    suites: 'node', tests: 'test/e2e/pipeline.test.mjs',
  },
  // ---- retries, planning, flush scope (2026-12-02, second session) -----------------------
  {
    id: 'retry-encodes-first',
    file: 'src/deliver.c',
    find: 'if (b->attempts == 0 && b->source->failures == 0)',
    replace: 'if (true)',
    description: 'a failing source\'s retry reads and encodes the whole batch again before S3 refuses it',
    suites: 'node', tests: 'test/e2e/flush.test.mjs',
  },
  {
    id: 'abort-denied-stalls',
    file: 'src/upload.c',
    find: 'if (err.http_status == 403 && strcmp(err.code, "AccessDenied") == 0)',
    replace: 'if (false)',
    description: 'an AbortMultipartUpload the provider role may not make stalls the source for good',
    suites: 'node', tests: 'test/e2e/retries.test.mjs',
  },
  {
    id: 'probe-settings-leak',
    file: 'src/step.c',
    find: '"off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,',
    replace: '"off", PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_LOCAL,',
    description: 'the probes\' planner settings stay off for the rest of the worker\'s life',
    suites: 'node', tests: 'test/e2e/retries.test.mjs',
  },
  {
    id: 'flush-other-database',
    file: 'src/shmem.c',
    find: 'else if (r->database != MyDatabaseId)\n\t\t\tcontinue;',
    replace: 'else if (false)\n\t\t\tcontinue;',
    description: 'a flush() in one database forces another database\'s sources',
    suites: 'node', tests: 'test/e2e/flush-databases.test.mjs',
  },
  {
    id: 'page-read-join',
    file: 'src/deliver.c',
    find: '"                   AND p.id OPERATOR(pg_catalog.=) i.id OFFSET 0) q",',
    replace: '"                   AND p.id OPERATOR(pg_catalog.=) i.id) q",',
    description: 'the page read becomes a plain join the planner may turn around (every row of the key per page)',
    suites: 'node', tests: 'test/e2e/plans.test.mjs',
  },
  {
    id: 'tid-read-no-id-check',
    file: 'src/deliver.c',
    find: 'if (isnull || DatumGetInt64(d) != b->ids[from + i])',
    replace: 'if (isnull)',
    description: 'the page read takes whatever row a stale TID now holds (after VACUUM FULL: another event, twice or instead)',
    suites: 'node', tests: 'test/e2e/moved-rows.test.mjs',
  },
  {
    id: 'tid-delete-no-id-filter',
    file: 'src/commit.c',
    find: '"   AND q.id OPERATOR(pg_catalog.=) ANY ($3)",',
    replace: '"",',
    description: 'the delete by TID removes whatever row of the key a stale TID now holds (an event queued after the claim, lost)',
    suites: 'node', tests: 'test/e2e/moved-rows.test.mjs',
  },
  {
    id: 'tid-delete-no-fallback',
    file: 'src/commit.c',
    find: 'if (SPI_processed < (uint64) n)\n\t\tdelete_by_id(keys, ids, n);',
    replace: '(void) 0;',
    description: 'rows that moved after the page read stay queued after their delivery (delivered twice)',
    suites: 'node', tests: 'test/e2e/moved-rows.test.mjs',
  },
  {
    id: 'flush-drained-on-failure',
    edits: [
      { file: 'src/loop.c', find: '\tif (flush_wants(source))\n\t\tsl_flush_note_drained(cycle_seen, cycle_ticket, source->name);\nout:', replace: 'out:\n\tif (flush_wants(source))\n\t\tsl_flush_note_drained(cycle_seen, cycle_ticket, source->name);' },
    ],
    description: 'a drain that stopped early (a failing upload, a busy source) tells flush() its source is drained: flush() returns with events queued',
    suites: 'node', tests: 'test/e2e/flush.test.mjs',
  },
  {
    id: 'part-waited-at-once',
    file: 'src/deliver.c',
    find: '\ts->in_flight = true;\n\tsent = s->buf;',
    replace: '\ts->in_flight = true;\n\tif (!wait_part(s))\n\t\treturn false;\n\tsent = s->buf;',
    description: 'each part is waited for as soon as it is started: the worker no longer encodes while S3 receives (one part at a time again)',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'complete-before-last-part',
    file: 'src/deliver.c',
    find: '\tif (!wait_part(s))\n\t\treturn false;\n\treturn sl_s3_multipart_complete(',
    replace: '\treturn sl_s3_multipart_complete(',
    description: 'the multipart upload is completed while its last part is still in flight',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'no-thread-no-part',
    file: 'src/upload.c',
    find: '\t\tsent_inline = true;',
    replace: '\t\tsent_inline = false;',
    description: 'when no thread can be started, the part sent on the worker itself is not counted: every object over 16 MiB fails while threads are refused',
    suites: 'node', tests: 'test/e2e/upload-stall.test.mjs',
  },
  {
    id: 'single-try-no-refresh',
    file: 'src/aws/client.c',
    find: 'if (refreshed && !was_refreshed && limit < attempt + 2)',
    replace: 'if (false && refreshed && !was_refreshed && limit < attempt + 2)',
    description: 'a client allowed one attempt fails on an expired session instead of refreshing it',
    suites: 'node', tests: 'test/aws/client.test.mjs',
  },
];
