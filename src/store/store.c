#include "store/store.h"

#include <stdio.h>
#include <string.h>

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

const char *store_rc_name(enum store_rc rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not_found";
    case STORE_EXISTS: return "exists";
    case STORE_REPLAY: return "replay";
    case STORE_IDEM_MISMATCH: return "idempotency_mismatch";
    case STORE_STATE: return "state";
    case STORE_LIMIT: return "limit";
    case STORE_ERROR: return "error";
    }
    return "unknown";
}

store *store_open(const char *kind, const struct store_options *opt, char *err, size_t errsz)
{
    if (strcmp(kind, "sqlite") == 0)
        return sqlite_store_open(opt, err, errsz);
    if (strcmp(kind, "postgres") == 0)
        return pg_store_open(opt, err, errsz);
    snprintf(err, errsz, "unknown store '%s' (this build supports: sqlite, postgres)", kind);
    return NULL;
}

void store_close(store *s)
{
    if (s)
        s->ops->close(s);
}
