/* bench_peer: tierd beside what an operator would run instead, a SQL job.
 *
 * Generates reseller partners and their events as NDJSON with fixed seeds:
 * N partners and M events whose partner is drawn uniformly ("uniform") or
 * in proportion to Pareto weights, alpha 1.2 ("pareto": at 100k/1M the
 * biggest partner gets about 40% of the events), dated over the ~2 years
 * before a fixed clock and arriving late and out of order. On the same
 * files it then runs:
 *   PostgreSQL  a throwaway server (tests/plugins/pgserver.c): COPY both
 *               files into UNLOGGED tables of one jsonb column, then ONE
 *               query computing every partner's reseller-ladder metrics at
 *               the clock and its tier, GROUP BY tier;
 *   tierd       the real daemon on a fresh state dir with --fake-clock at
 *               the clock, end to end through tierctl processes: program
 *               load (bench/peer_program.yaml), partner import, event
 *               import, a one-second clock advance (below), then
 *               `tierctl --json stats`.
 * Both must give the same tier distribution (else it prints both and
 * MISMATCH, exit status 1). It prints the times, PostgreSQL total / tierd
 * total (>= 1.0: tierd is no slower) and tierd's heavy-tail / uniform
 * ratio. Targets (issue 10), at 100k/1M: ratio >= 1.0 on both workloads,
 * heavy tail within 1.5x of uniform. A missed target is a measurement, not
 * a failure. --big also runs 1M/10M, each tierd step bounded by --limit
 * seconds, and says how far it got.
 *
 * Why the clock advance: the program's policy (immediate review, no grace,
 * no approval, no limit on tiers lost) makes the held tier the qualifying
 * one, except that the lifecycle demotes a partner at most once per
 * instant (lifecycle.c: "one drop per review point"). Under a frozen clock
 * a partner promoted and then pushed back down by a late event in the same
 * second keeps the higher tier until one second later. So the bench moves
 * the clock one second (timed, part of tierd's total). Event times are
 * whole minutes and none lies after the clock, so that second moves no
 * window edge and the SQL query at the clock stays the reference.
 *
 * What the SQL reproduces (engine semantics, 0.1 non-cumulative ladders):
 * rolling windows are (t - N days, t]; `latest` is the value with the
 * greatest event time, the later arrival on a tie; `distinct` counts keys
 * whose latest time lies in the window; a missing value fails every
 * comparison and adds nothing to a score; score terms are
 * weight * min(1, max(0, value / target)), summed in program order and
 * capped at 100; the qualifying tier is the highest whose `when` holds,
 * above the first tier only with the gate.
 *
 * It stops what it starts however it ends (bench_reaper.h). Its files live
 * in one mkdtemp directory under $TMPDIR (else /tmp), removed at the end.
 * It does not tune either side beyond what is written here. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_reaper.h"
#include "pgserver.h"

/* ---- what is measured ---------------------------------------------------- */

#define PEER_CLOCK            "2026-11-15T00:00:00Z"
#define PEER_DEFAULT_PARTNERS 100000L
#define PEER_DEFAULT_EVENTS   1000000L
#define PEER_BIG_PARTNERS     1000000L
#define PEER_BIG_EVENTS       10000000L
#define PEER_DEFAULT_LIMIT_S  1200.0 /* per tierd step and per SQL statement */
#define PEER_TARGET_RATIO     1.0    /* PostgreSQL total / tierd total, at least */
#define PEER_TARGET_HEAVY     1.5    /* tierd pareto total / uniform total, at most */
#define PEER_MAX_SCALES       2

/* The reseller ladder of bench/peer_program.yaml, as the query needs it. */
#define PEER_ARR_DAYS   365
#define PEER_CERTS_DAYS 730
#define PEER_LADDER     "reseller"
#define PEER_N_TIERS    5
static const char *const tier_names[PEER_N_TIERS] = {"unranked", "Registered", "Selling",
                                                     "Specialist", "Strategic"};

/* ---- the generator ------------------------------------------------------- */

#define GEN_WEIGHT_SEED   UINT64_C(3258) /* 100k partners: the top two get ~40% and ~12% */
#define GEN_EVENT_SEED    UINT64_C(20261115)
#define GEN_PROFILE_SEED  UINT64_C(0x7065657270726f66)
#define GEN_PARETO_ALPHA  1.2
#define GEN_SPAN_DAYS     760 /* events fall in the ~2 years before the clock */
#define GEN_JITTER_DAYS   3   /* arrival order is time order shuffled this much */
#define GEN_LATE_SHARE    0.02
#define GEN_LATE_MAX_DAYS 365 /* how late the very late ones are, at most */
#define GEN_P_DEAL        0.50
#define GEN_P_SELLERS     0.15
#define GEN_P_CERT        0.25 /* the rest: contract_signed */
#define GEN_DEAL_BASE     1000.0
#define GEN_DEAL_GROWTH   7.0 /* the best partners' deals run e^7 times larger */
#define GEN_DEAL_SIGMA    0.5
#define GEN_DEAL_MAX      1e12
#define GEN_SELLERS_SCALE 14.0
#define GEN_SELLERS_SIGMA 1.5
#define GEN_CERT_KINDS    8
#define GEN_P_UNSIGNED    0.10 /* contract_signed with value 0: a lapsed contract */
#define GEN_IO_BUFFER     (4 << 20)

#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_DAY    86400L
#define MINUTES_PER_DAY    1440L

/* ---- running things ------------------------------------------------------ */

#define PEER_PATH_MAX       1024
#define PEER_SQL_MAX        8192
#define PEER_ERR_MAX        1024
#define PEER_START_LIMIT_S  30.0
#define PEER_CLIENT_TIMEOUT "600000" /* tierctl --timeout, ms: one batch of the heavy tail */
#define PEER_POLL_US        2000
#define PEER_STOP_GRACE_S   10.0
#define PEER_COPY_CHUNK     (1 << 20)
#define PEER_SHOW_LINES     20
#define PEER_TIME_STRLEN    32
#define PEER_DATE_LEN       11 /* "YYYY-MM-DDT" */
#define RUN_TIMED_OUT       (-2)
#define RUN_FAILED          (-1)

typedef enum draw_kind { DRAW_UNIFORM, DRAW_PARETO } draw_kind;
static const char *const draw_names[] = {"uniform", "pareto"};

typedef struct dist {
    long n[PEER_N_TIERS];
} dist;

typedef struct workload {
    draw_kind draw;
    long partners, events;
    char label[64];
    char partners_path[PEER_PATH_MAX], events_path[PEER_PATH_MAX];
    double gen_s;
    long top[2]; /* events of the two biggest partners */
    bool pg_ok;
    double pg_copy, pg_query;
    dist pg_dist;
    bool td_ok, td_complete;
    double td_program, td_partners, td_events, td_settle;
    long td_settle_changes, td_events_seen;
    double tierctl_cpu, tierd_cpu; /* during the event import */
    double tierd_written;          /* bytes, during the event import */
    off_t events_bytes;            /* the NDJSON file's size */
    dist td_dist;
} workload;

static double pg_total(const workload *w)
{
    return w->pg_copy + w->pg_query;
}

static double td_total(const workload *w)
{
    return w->td_program + w->td_partners + w->td_events + w->td_settle;
}

static char tmp_dir[PEER_PATH_MAX / 4];
static double step_limit = PEER_DEFAULT_LIMIT_S;

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_peer: %s: %s\n", what, why);
}

/* ---- generator ----------------------------------------------------------- */

/* splitmix64: fast, and the same stream on every machine. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    return mix64(*s += UINT64_C(0x9E3779B97F4A7C15));
}

/* Uniform in (0, 1]. */
static double rng_unit(uint64_t *s)
{
    return (double)((rng_next(s) >> 11) + 1) * 0x1p-53;
}

static double rng_normal(uint64_t *s)
{
    double u = rng_unit(s), v = rng_unit(s);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* A partner's quality in [0, 1): how big its deals, how many sellers, how
 * many certifications. Stateless so both draws give partner p the same. */
static double partner_quality(long p)
{
    uint64_t s = GEN_PROFILE_SEED ^ mix64((uint64_t)p);
    return rng_unit(&s) - 0x1p-53;
}

static int parse_clock(const char *text, time_t *out)
{
    struct tm tm = {0};
    if (sscanf(text, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return 0;
}

static void format_time(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* format_time for the generator's whole minutes, with the date kept from
 * the last call on the same day (gmtime per event would dominate). */
static void format_minute(time_t t, char *out)
{
    static time_t day = -1;
    static char date[PEER_TIME_STRLEN];
    if (t / SECONDS_PER_DAY != day) {
        day = t / SECONDS_PER_DAY;
        format_time(day * SECONDS_PER_DAY, date, sizeof date);
    }
    long sec = (long)(t % SECONDS_PER_DAY);
    memcpy(out, date, PEER_DATE_LEN);
    out[PEER_DATE_LEN] = (char)('0' + sec / 36000);
    out[PEER_DATE_LEN + 1] = (char)('0' + sec / 3600 % 10);
    out[PEER_DATE_LEN + 2] = ':';
    out[PEER_DATE_LEN + 3] = (char)('0' + sec / 60 % 60 / 10);
    out[PEER_DATE_LEN + 4] = (char)('0' + sec / 60 % 10);
    memcpy(out + PEER_DATE_LEN + 5, ":00Z", sizeof ":00Z");
}

/* Cumulative Pareto weights over the partners; NULL on OOM. */
static double *pareto_cumulative(long n)
{
    double *cum = malloc((size_t)n * sizeof *cum);
    if (!cum)
        return NULL;
    uint64_t s = GEN_WEIGHT_SEED;
    double total = 0;
    for (long i = 0; i < n; i++) {
        total += pow(rng_unit(&s), -1.0 / GEN_PARETO_ALPHA);
        cum[i] = total;
    }
    return cum;
}

static long pareto_draw(const double *cum, long n, uint64_t *s)
{
    double x = rng_unit(s) * cum[n - 1];
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (cum[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static FILE *open_out(const char *path, char **buf)
{
    FILE *f = fopen(path, "w");
    *buf = f ? malloc(GEN_IO_BUFFER) : NULL;
    if (f && *buf)
        setvbuf(f, *buf, _IOFBF, GEN_IO_BUFFER);
    return f;
}

static int close_out(FILE *f, char *buf)
{
    int rc = ferror(f) | fclose(f);
    free(buf);
    return rc ? -1 : 0;
}

static void write_event(FILE *f, long i, long p, double q, time_t at, uint64_t *s)
{
    char when[PEER_TIME_STRLEN];
    format_minute(at, when);
    double u = rng_unit(s);
    if (u <= GEN_P_DEAL) {
        double amount =
            round(GEN_DEAL_BASE * exp(q * GEN_DEAL_GROWTH + GEN_DEAL_SIGMA * rng_normal(s)));
        fprintf(f,
                "{\"id\":\"e-%09ld\",\"source\":\"crm\",\"partner\":\"p-%07ld\",\"metric\":"
                "\"deal_closed\",\"value\":%.0f,\"at\":\"%s\",\"key\":\"opp-%09ld\"}\n",
                i, p + 1, fmin(amount, GEN_DEAL_MAX), when, i);
    } else if (u <= GEN_P_DEAL + GEN_P_SELLERS) {
        double sellers = round(q * GEN_SELLERS_SCALE + GEN_SELLERS_SIGMA * rng_normal(s));
        fprintf(f,
                "{\"id\":\"e-%09ld\",\"source\":\"crm\",\"partner\":\"p-%07ld\",\"metric\":"
                "\"active_sellers\",\"value\":%.0f,\"at\":\"%s\"}\n",
                i, p + 1, fmax(sellers, 0), when);
    } else if (u <= GEN_P_DEAL + GEN_P_SELLERS + GEN_P_CERT) {
        long kinds = 1 + (long)(q * (GEN_CERT_KINDS - 1));
        long cert = 1 + (long)((rng_unit(s) - 0x1p-53) * (double)kinds);
        fprintf(f,
                "{\"id\":\"e-%09ld\",\"source\":\"lms\",\"partner\":\"p-%07ld\",\"metric\":"
                "\"certification\",\"at\":\"%s\",\"key\":\"cert-%02ld\"}\n",
                i, p + 1, when, cert);
    } else {
        /* value omitted = 1: the default both sides must apply */
        bool lapsed = rng_unit(s) <= GEN_P_UNSIGNED;
        fprintf(f,
                "{\"id\":\"e-%09ld\",\"source\":\"crm\",\"partner\":\"p-%07ld\",\"metric\":"
                "\"contract_signed\"%s,\"at\":\"%s\"}\n",
                i, p + 1, lapsed ? ",\"value\":0" : "", when);
    }
}

/* Minutes after the span's start for event i of m: time order, shuffled
 * within a sliding window of +-GEN_JITTER_DAYS, and a few very late. */
static long event_minute(long i, long m, uint64_t *s)
{
    const long span = GEN_SPAN_DAYS * MINUTES_PER_DAY;
    double x = (double)i / (double)m * (double)span;
    x += (rng_unit(s) * 2.0 - 1.0) * GEN_JITTER_DAYS * MINUTES_PER_DAY;
    if (rng_unit(s) <= GEN_LATE_SHARE)
        x -= rng_unit(s) * GEN_LATE_MAX_DAYS * MINUTES_PER_DAY;
    long min = (long)floor(x);
    return min < 0 ? 0 : min >= span ? span - 1 : min;
}

static int generate(workload *w, time_t clock)
{
    double t0 = bench_now_s();
    snprintf(w->partners_path, sizeof w->partners_path, "%s/partners-%s.ndjson", tmp_dir,
             draw_names[w->draw]);
    snprintf(w->events_path, sizeof w->events_path, "%s/events-%s.ndjson", tmp_dir,
             draw_names[w->draw]);
    char *buf;
    FILE *f = open_out(w->partners_path, &buf);
    if (!f) {
        fail(w->partners_path, strerror(errno));
        return -1;
    }
    for (long p = 0; p < w->partners; p++)
        fprintf(f, "{\"partner\":\"p-%07ld\",\"name\":\"Partner %ld\",\"types\":[\"reseller\"]}\n",
                p + 1, p + 1);
    if (close_out(f, buf) != 0) {
        fail(w->partners_path, "write failed");
        return -1;
    }

    double *cum = w->draw == DRAW_PARETO ? pareto_cumulative(w->partners) : NULL;
    uint32_t *count = calloc((size_t)w->partners, sizeof *count);
    f = open_out(w->events_path, &buf);
    if ((w->draw == DRAW_PARETO && !cum) || !count || !f) {
        fail(w->events_path, f ? "out of memory" : strerror(errno));
        free(cum);
        free(count);
        if (f)
            close_out(f, buf);
        return -1;
    }
    uint64_t s = GEN_EVENT_SEED;
    const long span = GEN_SPAN_DAYS * MINUTES_PER_DAY;
    for (long i = 0; i < w->events; i++) {
        long p =
            cum ? pareto_draw(cum, w->partners, &s) : (long)(rng_next(&s) % (uint64_t)w->partners);
        count[p]++;
        time_t at = clock - (time_t)(span - event_minute(i, w->events, &s)) * SECONDS_PER_MINUTE;
        write_event(f, i + 1, p, partner_quality(p), at, &s);
    }
    int rc = close_out(f, buf);
    struct stat st;
    w->events_bytes = stat(w->events_path, &st) == 0 ? st.st_size : 0;
    w->top[0] = w->top[1] = 0;
    for (long p = 0; p < w->partners; p++) {
        if (count[p] > w->top[0]) {
            w->top[1] = w->top[0];
            w->top[0] = count[p];
        } else if (count[p] > w->top[1]) {
            w->top[1] = count[p];
        }
    }
    free(cum);
    free(count);
    if (rc != 0) {
        fail(w->events_path, "write failed");
        return -1;
    }
    w->gen_s = bench_now_s() - t0;
    return 0;
}

/* ---- processes ----------------------------------------------------------- */

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

/* Forks argv with stdout and stderr into files (NULL: /dev/null). Stop
 * signals wait until the reaper knows the pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
    sigset_t stops = stop_signals(), before;
    sigprocmask(SIG_BLOCK, &stops, &before);
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &before, NULL);
        int in = open("/dev/null", O_RDONLY);
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, STDIN_FILENO);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        bench_reaper_note_pid(pid);
    sigprocmask(SIG_SETMASK, &before, NULL);
    return pid;
}

/* SIGTERM, then SIGKILL after PEER_STOP_GRACE_S; reaps it. */
static void stop_process(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    double t0 = bench_now_s();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (bench_now_s() - t0 > PEER_STOP_GRACE_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(PEER_POLL_US);
    }
    bench_reaper_forget_pid(pid);
}

/* CPU seconds (user + system) the last process run_timed waited for used. */
static double last_child_cpu;

static double rusage_cpu(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* CPU seconds a running process has used so far (0 when unreadable). */
static double process_cpu(pid_t pid)
{
    char path[64], text[PEER_PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    /* Fields after the command (which may hold spaces), from field 3 on:
     * utime and stime are fields 14 and 15. */
    const char *p = strrchr(text, ')');
    unsigned long utime, stime;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Bytes a running process has caused to be written to storage so far
 * (/proc/PID/io write_bytes; 0 when unreadable). */
static double process_written(pid_t pid)
{
    char path[64], line[PEER_PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/io", (long)pid);
    FILE *f = fopen(path, "r");
    double bytes = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "write_bytes:", strlen("write_bytes:")) == 0)
            bytes = strtod(line + strlen("write_bytes:"), NULL);
    if (f)
        fclose(f);
    return bytes;
}

/* Runs argv to its end or for limit_s at most; its exit status, or
 * RUN_FAILED (could not run, or a signal), or RUN_TIMED_OUT (stopped). */
static int run_timed(char *const argv[], const char *out, const char *err, double limit_s,
                     double *secs)
{
    struct rusage ru;
    last_child_cpu = 0;
    double t0 = bench_now_s();
    pid_t pid = spawn(argv, out, err);
    if (pid < 0)
        return RUN_FAILED;
    int status;
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        if (r == pid) {
            last_child_cpu = rusage_cpu(&ru);
            break;
        }
        if (r < 0 && errno != EINTR) {
            *secs = bench_now_s() - t0;
            return RUN_FAILED;
        }
        if (bench_now_s() - t0 > limit_s) {
            *secs = bench_now_s() - t0;
            stop_process(pid);
            return RUN_TIMED_OUT;
        }
        usleep(PEER_POLL_US);
    }
    *secs = bench_now_s() - t0;
    bench_reaper_forget_pid(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : RUN_FAILED;
}

/* The first lines of a tool's output, to say why it failed. */
static void show_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[PEER_PATH_MAX];
    for (int n = 0; n < PEER_SHOW_LINES && fgets(line, sizeof line, f); n++)
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* ---- PostgreSQL ---------------------------------------------------------- */

static void pg_cleanup(void *ud)
{
    pgserver_stop(ud);
}

static int pg_exec(PGconn *c, const char *sql, char *err, size_t n)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc)
        snprintf(err, n, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* COPY path's lines, each one jsonb value: CSV with delimiter and quote
 * bytes that no JSON text here contains, so a line is taken as it is. */
static int pg_copy(PGconn *c, const char *table, const char *path, char *err, size_t n)
{
    char sql[PEER_PATH_MAX];
    snprintf(sql, sizeof sql,
             "COPY %s (doc) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')",
             table);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, n, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        PQputCopyEnd(c, "cannot read the file");
    } else {
        static char chunk[PEER_COPY_CHUNK];
        ssize_t got;
        while ((got = read(fd, chunk, sizeof chunk)) > 0)
            if (PQputCopyData(c, chunk, (int)got) != 1)
                break;
        close(fd);
        PQputCopyEnd(c, got < 0 ? "read failed" : NULL);
    }
    int rc = fd < 0 ? -1 : 0;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(err, n, "%s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* The reseller ladder of bench/peer_program.yaml at the clock, in one
 * statement: partners and events in one GROUP BY partner (a partner with
 * no events is a group of its own row, so it counts as unranked), each
 * metric an aggregate over the group's events (ties of `latest` go to the
 * later arrival, the larger id), the fit score term by term in program
 * order, the tier from the top down. One GROUP BY rather than a join of
 * partners with per-partner metrics: PostgreSQL cannot estimate how many
 * groups doc->>'partner' makes and chose a nested loop over that join
 * (100k x 100k, minutes where the rest takes seconds). */
static void ladder_query(char *sql, size_t n, time_t clock)
{
    char t[PEER_TIME_STRLEN], arr_lo[PEER_TIME_STRLEN], certs_lo[PEER_TIME_STRLEN];
    format_time(clock, t, sizeof t);
    format_time(clock - PEER_ARR_DAYS * SECONDS_PER_DAY, arr_lo, sizeof arr_lo);
    format_time(clock - PEER_CERTS_DAYS * SECONDS_PER_DAY, certs_lo, sizeof certs_lo);
    snprintf(
        sql, n,
        "WITH rows AS ("
        "  SELECT doc->>'partner' AS partner, doc->'types' ? '" PEER_LADDER "' AS on_ladder,"
        "         NULL::text AS metric, NULL::float8 AS value, NULL::timestamptz AS at,"
        "         NULL::text AS key, NULL::bigint AS id"
        "  FROM peer_partners"
        "  UNION ALL"
        "  SELECT doc->>'partner', false, doc->>'metric', coalesce((doc->>'value')::float8, 1),"
        "         (doc->>'at')::timestamptz, doc->>'key', id"
        "  FROM peer_events),"
        " m AS ("
        "  SELECT bool_or(on_ladder) AS on_ladder,"
        "   coalesce(sum(value) FILTER (WHERE metric = 'deal_closed'"
        "            AND at > '%s' AND at <= '%s'), 0) AS arr,"
        "   (array_agg(value ORDER BY at DESC, id DESC)"
        "     FILTER (WHERE metric = 'active_sellers' AND at <= '%s'))[1] AS active_sellers,"
        "   count(DISTINCT key) FILTER (WHERE metric = 'certification'"
        "         AND at > '%s' AND at <= '%s')::float8 AS sales_certs,"
        "   (array_agg(value ORDER BY at DESC, id DESC)"
        "     FILTER (WHERE metric = 'contract_signed' AND at <= '%s'))[1] AS contract_signed"
        "  FROM rows GROUP BY partner),"
        " f AS ("
        "  SELECT m.*, least(100::float8,"
        "     50 * least(1::float8, greatest(0::float8, arr / 1000000))"
        "     + coalesce(30 * least(1::float8, greatest(0::float8, active_sellers / 10)), 0)"
        "     + 20 * least(1::float8, greatest(0::float8, sales_certs / 4))) AS fit"
        "  FROM m WHERE on_ladder)"
        " SELECT CASE"
        "   WHEN active_sellers >= 1 AND arr >= 1000000 AND sales_certs >= 3 AND fit >= 80"
        "     THEN 'Strategic'"
        "   WHEN active_sellers >= 1 AND arr >= 250000 AND active_sellers >= 3"
        "     AND sales_certs >= 2 THEN 'Specialist'"
        "   WHEN active_sellers >= 1 AND arr >= 50000 AND active_sellers >= 3 THEN 'Selling'"
        "   WHEN contract_signed >= 1 AND sales_certs >= 1 THEN 'Registered'"
        "   ELSE 'unranked' END AS tier, count(*)"
        " FROM f GROUP BY 1",
        arr_lo, t, t, certs_lo, t, t);
}

static int tier_index(const char *name)
{
    for (int i = 0; i < PEER_N_TIERS; i++)
        if (strcmp(name, tier_names[i]) == 0)
            return i;
    return -1;
}

static int pg_run(PGconn *c, workload *w, time_t clock)
{
    char err[PEER_ERR_MAX], sql[PEER_SQL_MAX];
    snprintf(sql, sizeof sql,
             "SET statement_timeout = %.0f; SET client_min_messages = warning;"
             "DROP TABLE IF EXISTS peer_events, peer_partners;"
             "CREATE UNLOGGED TABLE peer_partners (doc jsonb NOT NULL);"
             "CREATE UNLOGGED TABLE peer_events (id bigint GENERATED ALWAYS AS IDENTITY,"
             " doc jsonb NOT NULL)",
             step_limit * 1000);
    double t0 = bench_now_s();
    if (pg_exec(c, sql, err, sizeof err) ||
        pg_copy(c, "peer_partners", w->partners_path, err, sizeof err) ||
        pg_copy(c, "peer_events", w->events_path, err, sizeof err)) {
        fail("PostgreSQL COPY", err);
        return -1;
    }
    double t1 = bench_now_s();
    ladder_query(sql, sizeof sql, clock);
    PGresult *r = PQexec(c, sql);
    double t2 = bench_now_s();
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail("PostgreSQL query", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    memset(&w->pg_dist, 0, sizeof w->pg_dist);
    for (int i = 0; i < PQntuples(r); i++) {
        int t = tier_index(PQgetvalue(r, i, 0));
        if (t < 0) {
            fail("PostgreSQL query", "answered a tier the ladder does not have");
            PQclear(r);
            return -1;
        }
        w->pg_dist.n[t] = atol(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    w->pg_copy = t1 - t0;
    w->pg_query = t2 - t1;
    w->pg_ok = true;
    if (pg_exec(c, "DROP TABLE peer_events, peer_partners", err, sizeof err))
        fail("PostgreSQL DROP", err);
    return 0;
}

/* ---- tierd --------------------------------------------------------------- */

typedef struct tierd_run {
    char state[PEER_PATH_MAX], url[PEER_PATH_MAX], pub[PEER_PATH_MAX];
    char log[PEER_PATH_MAX], out[PEER_PATH_MAX], err[PEER_PATH_MAX];
    pid_t pid;
} tierd_run;

/* tierctl --url URL --timeout MS [--json] args...; its exit status or
 * RUN_FAILED / RUN_TIMED_OUT, with its output in r->out and r->err. */
static int tierctl(tierd_run *r, bool json, const char *const args[], double limit_s, double *secs)
{
    char *argv[16];
    size_t n = 0;
    argv[n++] = BENCH_TIERCTL_BIN;
    argv[n++] = "--url";
    argv[n++] = r->url;
    argv[n++] = "--timeout";
    argv[n++] = PEER_CLIENT_TIMEOUT;
    if (json)
        argv[n++] = "--json";
    for (size_t i = 0; args[i] && n < sizeof argv / sizeof *argv - 1; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    double ignored;
    int rc = run_timed(argv, r->out, r->err, limit_s, secs ? secs : &ignored);
    if (rc != 0 && rc != RUN_TIMED_OUT) {
        fprintf(stderr, "bench_peer: tierctl %s %s failed (%d); it said:\n", args[0],
                args[1] ? args[1] : "", rc);
        show_file(r->err);
        show_file(r->out);
    }
    return rc;
}

/* `tierctl --json stats`: the reseller distribution and the event count. */
static int read_stats(tierd_run *r, dist *d, long *events)
{
    const char *args[] = {"stats", NULL};
    if (tierctl(r, true, args, PEER_START_LIMIT_S, NULL) != 0)
        return -1;
    json_error_t jerr;
    json_t *doc = json_load_file(r->out, 0, &jerr);
    json_t *ladder = json_object_get(json_object_get(doc, "ladders"), PEER_LADDER);
    if (!json_is_object(ladder)) {
        fail("tierctl --json stats", "no reseller ladder in its answer");
        json_decref(doc);
        return -1;
    }
    memset(d, 0, sizeof *d);
    const char *tier;
    json_t *count;
    int rc = 0;
    json_object_foreach(ladder, tier, count)
    {
        int t = tier_index(tier);
        if (t < 0) {
            fail("tierctl --json stats", "a tier the bench does not know");
            rc = -1;
        } else {
            d->n[t] = (long)json_integer_value(count);
        }
    }
    *events = (long)json_integer_value(json_object_get(doc, "events"));
    json_decref(doc);
    return rc;
}

static int tierd_start(tierd_run *r, const workload *w)
{
    const char *name = draw_names[w->draw];
    snprintf(r->state, sizeof r->state, "%s/state-%s", tmp_dir, name);
    snprintf(r->url, sizeof r->url, "ipc://%s/%s-rpc.sock", tmp_dir, name);
    snprintf(r->pub, sizeof r->pub, "ipc://%s/%s-pub.sock", tmp_dir, name);
    snprintf(r->log, sizeof r->log, "%s/tierd-%s.log", tmp_dir, name);
    snprintf(r->out, sizeof r->out, "%s/tierctl.out", tmp_dir);
    snprintf(r->err, sizeof r->err, "%s/tierctl.err", tmp_dir);
    if (mkdir(r->state, 0700) != 0) {
        fail(r->state, strerror(errno));
        return -1;
    }
    char *argv[] = {BENCH_TIERD_BIN, "--state-dir", r->state,  "--listen",
                    r->url,          "--publish",   r->pub,    "--fake-clock",
                    PEER_CLOCK,      "--log-level", "warning", NULL};
    r->pid = spawn(argv, r->log, r->log);
    if (r->pid < 0 || bench_wait_ready(r->url, PEER_START_LIMIT_S) < 0) {
        fail(BENCH_TIERD_BIN, "did not start; its log:");
        show_file(r->log);
        return -1;
    }
    return 0;
}

static void tierd_stop(tierd_run *r)
{
    if (r->pid > 0)
        stop_process(r->pid);
    r->pid = 0;
    char cmd[PEER_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->state);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_peer: could not remove %s\n", r->state);
}

static int tierd_steps(tierd_run *r, workload *w)
{
    const char *load[] = {"program", "load", BENCH_PEER_PROGRAM, NULL};
    const char *partners[] = {"partner", "import", w->partners_path, NULL};
    const char *events[] = {"event", "import", w->events_path, NULL};
    const char *settle[] = {"clock", "advance", "1s", NULL};
    if (tierctl(r, false, load, step_limit, &w->td_program) != 0 ||
        tierctl(r, false, partners, step_limit, &w->td_partners) != 0)
        return -1;
    double cpu0 = process_cpu(r->pid), written0 = process_written(r->pid);
    int rc = tierctl(r, false, events, step_limit, &w->td_events);
    w->tierctl_cpu = last_child_cpu;
    w->tierd_cpu = process_cpu(r->pid) - cpu0;
    w->tierd_written = process_written(r->pid) - written0;
    dist seen;
    if (rc == RUN_TIMED_OUT) {
        /* How far it got: what the daemon has committed. */
        read_stats(r, &seen, &w->td_events_seen);
        return 0;
    }
    if (rc != 0)
        return -1;
    if (tierctl(r, true, settle, step_limit, &w->td_settle) != 0)
        return -1;
    json_t *doc = json_load_file(r->out, 0, NULL);
    w->td_settle_changes = (long)json_integer_value(json_object_get(doc, "changes"));
    json_decref(doc);
    if (read_stats(r, &w->td_dist, &w->td_events_seen) != 0)
        return -1;
    w->td_complete = true;
    w->td_ok = true;
    return 0;
}

static int tierd_run_all(workload *w)
{
    tierd_run r = {0};
    int rc = tierd_start(&r, w);
    if (rc == 0)
        rc = tierd_steps(&r, w);
    tierd_stop(&r);
    return rc;
}

/* ---- report -------------------------------------------------------------- */

static bool same_dist(const workload *w)
{
    return w->pg_ok && w->td_ok && memcmp(&w->pg_dist, &w->td_dist, sizeof w->pg_dist) == 0;
}

static void print_dist(const char *who, const dist *d)
{
    printf("    %-10s", who);
    for (int i = 0; i < PEER_N_TIERS; i++)
        printf(" %s=%ld", tier_names[i], d->n[i]);
    printf("\n");
}

static void print_header(void)
{
    printf("%-22s | %7s %7s %7s | %7s %8s %8s %6s %8s | %8s | %s\n", "workload", "PG copy", "query",
           "total", "program", "partners", "events", "settle", "total", "PG/tierd", "distribution");
}

static void print_row(const workload *w)
{
    printf("%-22s | ", w->label);
    if (w->pg_ok)
        printf("%7.2f %7.2f %7.2f | ", w->pg_copy, w->pg_query, pg_total(w));
    else
        printf("%7s %7s %7s | ", "-", "-", "failed");
    if (w->td_ok) {
        printf("%7.2f %8.2f %8.2f %6.2f %8.2f | ", w->td_program, w->td_partners, w->td_events,
               w->td_settle, td_total(w));
        if (w->pg_ok)
            printf("%8.2f | ", pg_total(w) / td_total(w));
        else
            printf("%8s | ", "-");
        printf("%s\n", same_dist(w) ? "same" : "MISMATCH");
    } else if (w->td_events_seen > 0 && !w->td_complete && w->td_events > 0) {
        printf("%7.2f %8.2f %8s %6s %8s | %8s | stopped after %.0f s: %ld of %ld events "
               "(%.0f/s)\n",
               w->td_program, w->td_partners, ">limit", "-", "-", "-", w->td_events,
               w->td_events_seen, w->events, (double)w->td_events_seen / w->td_events);
    } else {
        printf("%7s %8s %8s %6s %8s | %8s | tierd failed\n", "-", "-", "-", "-", "-", "-");
    }
    fflush(stdout);
}

static void print_details(const workload *w)
{
    printf("  %s: generated in %.1f s; biggest partners %ld and %ld events", w->label, w->gen_s,
           w->top[0], w->top[1]);
    if (w->td_ok)
        printf("; tierd committed %ld events, settle made %ld tier changes", w->td_events_seen,
               w->td_settle_changes);
    if (w->td_ok && w->td_events > 0)
        printf(
            "\n    tierd event import: %.0f events/s over %.1f s; CPU in it: tierd %.1f s, tierctl "
            "%.1f s; tierd wrote %.0f MB to storage for a %.0f MB file",
            (double)w->events / w->td_events, w->td_events, w->tierd_cpu, w->tierctl_cpu,
            w->tierd_written / 1e6, (double)w->events_bytes / 1e6);
    printf("\n");
    if (w->pg_ok)
        print_dist("PostgreSQL", &w->pg_dist);
    if (w->td_ok && !same_dist(w))
        print_dist("tierd", &w->td_dist);
    fflush(stdout);
}

static void scale_label(char *out, size_t n, long v)
{
    if (v % 1000000 == 0)
        snprintf(out, n, "%ldM", v / 1000000);
    else if (v % 1000 == 0)
        snprintf(out, n, "%ldk", v / 1000);
    else
        snprintf(out, n, "%ld", v);
}

/* Both workloads at one scale; false when something failed or differed. */
static bool run_scale(PGconn *c, long partners, long events, time_t clock, workload out[2])
{
    bool ok = true;
    char pl[24], el[24];
    scale_label(pl, sizeof pl, partners);
    scale_label(el, sizeof el, events);
    for (int d = 0; d < 2; d++) {
        workload *w = &out[d];
        memset(w, 0, sizeof *w);
        w->draw = (draw_kind)d;
        w->partners = partners;
        w->events = events;
        snprintf(w->label, sizeof w->label, "%s %s/%s", draw_names[d], pl, el);
        if (generate(w, clock) != 0)
            return false;
        if (pg_run(c, w, clock) != 0)
            ok = false;
        if (tierd_run_all(w) != 0)
            ok = false;
        print_row(w);
        unlink(w->partners_path);
        unlink(w->events_path);
        ok = ok && (!w->td_complete || same_dist(w));
    }
    return ok;
}

static void print_verdict(const workload s[2], bool targets)
{
    const workload *u = &s[DRAW_UNIFORM], *p = &s[DRAW_PARETO];
    if (u->td_ok && p->td_ok)
        printf("  tierd heavy/uniform %.2f%s; PostgreSQL heavy/uniform %.2f\n",
               td_total(p) / td_total(u),
               targets
                   ? (td_total(p) / td_total(u) <= PEER_TARGET_HEAVY ? " (target <= 1.5: MET)"
                                                                     : " (target <= 1.5: MISSED)")
                   : "",
               pg_total(p) / pg_total(u));
    if (targets && u->td_ok && p->td_ok && u->pg_ok && p->pg_ok) {
        bool met = pg_total(u) / td_total(u) >= PEER_TARGET_RATIO &&
                   pg_total(p) / td_total(p) >= PEER_TARGET_RATIO;
        printf("  PG/tierd >= 1.0 on both workloads: %s\n", met ? "MET" : "MISSED");
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_peer [--partners N --events M] [--big] [--limit SECONDS]\n"
            "  default: both workloads at 100k partners / 1M events;\n"
            "  --big: then at 1M / 10M, each tierd step and SQL statement bounded by\n"
            "  --limit seconds (default %.0f)\n",
            PEER_DEFAULT_LIMIT_S);
}

int main(int argc, char **argv)
{
    long partners = PEER_DEFAULT_PARTNERS, events = PEER_DEFAULT_EVENTS;
    bool big = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--big") == 0) {
            big = true;
        } else if (strcmp(argv[i], "--partners") == 0 && i + 1 < argc) {
            partners = strtol(argv[++i], &end, 10);
        } else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
            events = strtol(argv[++i], &end, 10);
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            step_limit = strtod(argv[++i], &end);
            if (step_limit <= 0)
                end = argv[i];
        } else {
            usage();
            return 2;
        }
        if (end && (*end || end == argv[i] || partners <= 0 || events <= 0)) {
            fprintf(stderr, "bench_peer: %s: expected a positive number\n", argv[i]);
            return 2;
        }
    }
    time_t clock;
    if (parse_clock(PEER_CLOCK, &clock) != 0)
        return 1;

    pgserver pg;
    char err[PEER_ERR_MAX];
    sigset_t stops = stop_signals(), before;
    sigprocmask(SIG_BLOCK, &stops, &before);
    if (pgserver_start(&pg, err, sizeof err) != 0) {
        pgserver_stop(&pg);
        fail("PostgreSQL", err);
        return 1;
    }
    if (bench_reaper_start(pg_cleanup, &pg) != 0) {
        pgserver_stop(&pg);
        fail("reaper", strerror(errno));
        return 1;
    }
    if (bench_mkdtemp(getenv("TMPDIR"), "peer", tmp_dir, sizeof tmp_dir) != 0) {
        fail("mkdtemp",
             errno == ENAMETOOLONG ? "TMPDIR too long for a temporary dir name" : strerror(errno));
        return 1; /* the reaper stops PostgreSQL */
    }
    bench_reaper_note_dir(tmp_dir);
    sigprocmask(SIG_SETMASK, &before, NULL);

    PGconn *c = PQconnectdb(pg.conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fail("PostgreSQL connect", PQerrorMessage(c));
        return 1;
    }
    printf("bench_peer: clock %s; PostgreSQL %d (COPY into UNLOGGED jsonb tables + one query) vs "
           "tierd through tierctl (%s); seconds; limit %.0f s a step\n",
           PEER_CLOCK, PQserverVersion(c) / 10000, BENCH_PEER_PROGRAM, step_limit);
    print_header();

    long scales[PEER_MAX_SCALES][2] = {{partners, events}, {PEER_BIG_PARTNERS, PEER_BIG_EVENTS}};
    size_t n_scales = big ? 2 : 1;
    workload results[PEER_MAX_SCALES][2];
    bool ok = true;
    for (size_t s = 0; s < n_scales; s++)
        ok = run_scale(c, scales[s][0], scales[s][1], clock, results[s]) && ok;
    printf("\n");
    for (size_t s = 0; s < n_scales; s++) {
        for (int d = 0; d < 2; d++)
            print_details(&results[s][d]);
        bool targets = scales[s][0] == PEER_DEFAULT_PARTNERS && scales[s][1] == PEER_DEFAULT_EVENTS;
        print_verdict(results[s], targets);
    }
    for (size_t s = 0; s < n_scales; s++)
        for (int d = 0; d < 2; d++)
            if (results[s][d].td_complete && !same_dist(&results[s][d]))
                printf("MISMATCH: %s: tierd and PostgreSQL give different distributions\n",
                       results[s][d].label);

    PQfinish(c);
    pgserver_stop(&pg);
    char cmd[PEER_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_peer: could not remove %s\n", tmp_dir);
    bench_reaper_done();
    return ok ? 0 : 1;
}
