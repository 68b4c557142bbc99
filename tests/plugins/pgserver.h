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
    int watcher; /* pid of the process that stops the server if its starter dies; 0 none */
} pgserver;

/* Starts a server; on failure writes why (including a missing PostgreSQL
 * installation) into err and returns -1. pg_ctl detaches the server, so a
 * small watcher stops it and removes its directory within a second if the
 * calling process dies first (a failed assertion ends a test without its
 * teardown). */
int pgserver_start(pgserver *s, char *err, size_t errn);
/* Stops it immediately and removes the directory. */
void pgserver_stop(pgserver *s);
/* Stops the server at once (as a crash would) but keeps its directory, and
 * starts it again there: a database that goes away and comes back. -1 with
 * why in err. */
int pgserver_halt(pgserver *s, char *err, size_t errn);
int pgserver_resume(pgserver *s, char *err, size_t errn);
/* Runs SQL (several statements allowed); -1 with the server's message. */
int pgserver_exec(pgserver *s, const char *sql, char *err, size_t errn);

#endif
