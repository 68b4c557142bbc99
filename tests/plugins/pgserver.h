/* A throwaway PostgreSQL server for tests and benchmarks: initdb into a
 * temporary directory ($TMPDIR/td-pg-*, made by mkdtemp; /tmp without TMPDIR),
 * listening only on a Unix socket there (no TCP),
 * fsync off. As root the server runs as the `postgres` user, since initdb
 * refuses to run as root. */
#ifndef TD_PGSERVER_H
#define TD_PGSERVER_H

#include <stdbool.h>
#include <stddef.h>

#define PGSERVER_PATH_MAX 512

typedef struct pgserver {
    char dir[PGSERVER_PATH_MAX];          /* data dir, log and socket live here */
    char bindir[PGSERVER_PATH_MAX];       /* /usr/lib/postgresql/N/bin */
    char conninfo[PGSERVER_PATH_MAX * 2]; /* for libpq: host=DIR dbname=postgres user=postgres */
    bool as_postgres;                     /* commands run through runuser */
    bool started;
} pgserver;

/* Starts a server; on failure writes why (including a missing PostgreSQL
 * installation) into err and returns -1. */
int pgserver_start(pgserver *s, char *err, size_t errn);
/* Stops it immediately and removes the directory. */
void pgserver_stop(pgserver *s);
/* Runs SQL (several statements allowed); -1 with the server's message. */
int pgserver_exec(pgserver *s, const char *sql, char *err, size_t errn);

#endif
