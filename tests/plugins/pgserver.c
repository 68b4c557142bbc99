/* Throwaway PostgreSQL servers for tests (see pgserver.h). Uses Debian's
 * /usr/lib/postgresql/<version>/bin tools; never touches a system cluster
 * and never opens a TCP port. */
#include "pgserver.h"

#include <errno.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PGSERVER_CMD_MAX         4096
#define PGSERVER_RUN_USER        "postgres"
#define PGSERVER_TEMPLATE_RANDOM 6
#define PGSERVER_TMP_DEFAULT     "/tmp"
#define PGSERVER_SOCKET_NAME     "/.s.PGSQL.5432"

static int run(pgserver *s, const char *cmd, char *err, size_t errn)
{
    char full[PGSERVER_CMD_MAX];
    int n = snprintf(full, sizeof full, "%s%s >>'%s/setup.log' 2>&1",
                     s->as_postgres ? "runuser -u " PGSERVER_RUN_USER " -- " : "", cmd, s->dir);
    if (n < 0 || (size_t)n >= sizeof full) {
        /* A cut command line would run something else; refuse it. */
        snprintf(err, errn, "command longer than %d bytes: %.64s...", PGSERVER_CMD_MAX, cmd);
        return -1;
    }
    int rc = system(full);
    if (rc != 0) {
        /* The log path is what matters; the command is cut to keep it in view. */
        snprintf(err, errn, "command failed (%d): %.96s; see %.96s/setup.log", rc, cmd, s->dir);
        return -1;
    }
    return 0;
}

/* A shell that polls the starter once a second and, once it is gone,
 * stops the server and removes its directory. */
static int start_watcher(pgserver *s)
{
    char script[PGSERVER_CMD_MAX * 2];
    int n = snprintf(script, sizeof script,
                     "while kill -0 %ld 2>/dev/null; do sleep 1; done; "
                     "%s'%s/pg_ctl' -D '%s/data' -m immediate -w stop >/dev/null 2>&1; "
                     "rm -rf '%s'",
                     (long)getpid(), s->as_postgres ? "runuser -u " PGSERVER_RUN_USER " -- " : "",
                     s->bindir, s->dir, s->dir);
    if (n < 0 || (size_t)n >= sizeof script)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    s->watcher = (int)pid;
    return 0;
}

/* pg_ctl start on the data directory already made. */
static int pg_ctl_start(pgserver *s, char *err, size_t errn)
{
    char cmd[PGSERVER_CMD_MAX];
    snprintf(cmd, sizeof cmd,
             "'%s/pg_ctl' -D '%s/data' -l '%s/server.log' -w -t 60 -o \"-c listen_addresses='' "
             "-k '%s' -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start",
             s->bindir, s->dir, s->dir, s->dir);
    return run(s, cmd, err, errn);
}

int pgserver_halt(pgserver *s, char *err, size_t errn)
{
    char cmd[PGSERVER_CMD_MAX];
    snprintf(cmd, sizeof cmd, "'%s/pg_ctl' -D '%s/data' -m immediate -w stop", s->bindir, s->dir);
    if (run(s, cmd, err, errn))
        return -1;
    s->started = false;
    return 0;
}

int pgserver_resume(pgserver *s, char *err, size_t errn)
{
    if (pg_ctl_start(s, err, errn))
        return -1;
    s->started = true;
    return 0;
}

int pgserver_start(pgserver *s, char *err, size_t errn)
{
    memset(s, 0, sizeof *s);
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        snprintf(err, errn,
                 "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run "
                 "scripts/install-deps.sh or apt-get install postgresql");
        return -1;
    }
    /* the newest version sorts last */
    snprintf(s->bindir, sizeof s->bindir, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(s->bindir, '/') = '\0';

    /* $TMPDIR when set, so a caller can tell its servers from others'. The
     * server's socket lives in the directory, and a Unix socket path has a
     * hard length limit. mkdtemp replaces the six trailing 'X's. */
    const char *root = getenv("TMPDIR");
    root = root && *root ? root : PGSERVER_TMP_DEFAULT;
    int len = snprintf(s->dir, sizeof s->dir, "%s/td-pg-", root);
    if (len < 0 || (size_t)len + PGSERVER_TEMPLATE_RANDOM + sizeof PGSERVER_SOCKET_NAME >
                       sizeof((struct sockaddr_un *)0)->sun_path) {
        snprintf(err, errn, "TMPDIR %.200s is too long for the server's Unix socket", root);
        s->dir[0] = '\0';
        return -1;
    }
    memset(s->dir + len, 'X', PGSERVER_TEMPLATE_RANDOM);
    s->dir[len + PGSERVER_TEMPLATE_RANDOM] = '\0';
    if (!mkdtemp(s->dir)) {
        snprintf(err, errn, "mkdtemp %s: %s", s->dir, strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    s->as_postgres = geteuid() == 0;
    if (s->as_postgres) {
        struct passwd *pw = getpwnam(PGSERVER_RUN_USER);
        if (!pw) {
            snprintf(err, errn, "running as root but there is no %s user to run the server as",
                     PGSERVER_RUN_USER);
            return -1;
        }
        if (chown(s->dir, pw->pw_uid, pw->pw_gid) != 0) {
            snprintf(err, errn, "cannot chown %s", s->dir);
            return -1;
        }
    }
    char cmd[PGSERVER_CMD_MAX];
    snprintf(cmd, sizeof cmd, "'%s/initdb' -D '%s/data' -U postgres --auth=trust -N -E UTF8",
             s->bindir, s->dir);
    if (run(s, cmd, err, errn))
        return -1;
    if (pg_ctl_start(s, err, errn))
        return -1;
    s->started = true;
    snprintf(s->conninfo, sizeof s->conninfo, "host=%s dbname=postgres user=postgres", s->dir);
    if (start_watcher(s) != 0)
        fprintf(stderr, "pgserver: no watcher for %s: it outlives a crashed test\n", s->dir);
    return 0;
}

void pgserver_stop(pgserver *s)
{
    char err[256];
    char cmd[PGSERVER_CMD_MAX];
    if (s->watcher > 0) {
        kill((pid_t)s->watcher, SIGKILL);
        waitpid((pid_t)s->watcher, NULL, 0);
        s->watcher = 0;
    }
    if (s->started) {
        snprintf(cmd, sizeof cmd, "'%s/pg_ctl' -D '%s/data' -m immediate -w stop", s->bindir,
                 s->dir);
        run(s, cmd, err, sizeof err);
        s->started = false;
    }
    if (s->dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "pgserver: could not remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

int pgserver_exec(pgserver *s, const char *sql, char *err, size_t errn)
{
    PGconn *c = PQconnectdb(s->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errn, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errn, "%s", PQresultErrorMessage(r));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}
