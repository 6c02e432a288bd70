/* placeholder until the AWS client lands */
#include "postgres.h"
#include "securitylake.h"
bool sl_upload_object(SlSource *source, SlBatch *batch, const char *data, size_t len, char **error)
{ (void) source; (void) batch; (void) data; (void) len; *error = pstrdup("uploads are not implemented yet"); return false; }
