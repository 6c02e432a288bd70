// Queries the demo's objects with DuckDB: `node demo/query.mjs BUCKET_DIR`.
import { openDuck, storedObjects, dlit } from '../test/lib/duck.mjs';
import { dirname, basename } from 'node:path';

const dir = process.argv[2];
const objects = storedObjects(dirname(dir), basename(dir));
const duck = await openDuck();
const files = `[${objects.map((o) => dlit(o.path)).join(', ')}]`;
const show = (title, rows) => {
  console.log(`\n${title}`);
  console.table(rows);
};
show('Events per partition (region / accountId / eventDay), read from the Parquet objects:', await duck.rows(
  `SELECT regexp_extract(filename, 'region=([^/]+)', 1) AS region,
          regexp_extract(filename, 'accountId=([^/]+)', 1) AS "accountId",
          regexp_extract(filename, 'eventDay=([0-9]+)', 1) AS "eventDay",
          count(*) AS events, min(epoch_ms(time))::VARCHAR AS first_time
     FROM read_parquet(${files}, filename = true) GROUP BY ALL ORDER BY ALL`));
show('A few events:', await duck.rows(
  `SELECT time, time_dt, class_uid, activity_name, "user".name AS user_name, src_endpoint.ip AS src_ip,
          metadata.product.name AS product, cardinality(unmapped) AS unmapped_keys
     FROM read_parquet(${files}) ORDER BY time LIMIT 5`));
show('Parquet metadata of one object (codec, rows, row groups):', await duck.rows(
  `SELECT DISTINCT compression, row_group_num_rows AS rows, count(*) OVER () AS column_chunks
     FROM parquet_metadata(${dlit(objects[0].path)}) LIMIT 1`));
duck.close();
