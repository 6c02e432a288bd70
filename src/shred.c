/* placeholder until the encoder lands */
#include "postgres.h"
#include "securitylake.h"
struct SlEncoder { int64 rows; };
SlEncoder *sl_encoder_begin(SlSource *source) { (void) source; return palloc0(sizeof(SlEncoder)); }
bool sl_encoder_add(SlEncoder *enc, Jsonb *event, char **reason) { (void) event; (void) reason; enc->rows++; return true; }
void sl_encoder_finish(SlEncoder *enc, StringInfo out, int64 *rows) { appendStringInfoString(out, "PAR1"); *rows = enc->rows; }
void sl_encoder_abandon(SlEncoder *enc) { pfree(enc); }
