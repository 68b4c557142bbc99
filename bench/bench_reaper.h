/* A reaper for benches that start servers: a process forked early that
 * cleans up after this one however it ends (a failure, a signal, even
 * SIGKILL), so no server and no temporary directory outlives a bench.
 *
 * The bench tells it, over a pipe, which processes and directories exist
 * now ("pid N" / "dir PATH", withdrawn with bench_reaper_forget_* once the
 * bench has stopped or removed them itself, so that a recycled pid is never
 * signalled). When the pipe closes without bench_reaper_done, the reaper
 * ends each process still listed (SIGTERM, then SIGKILL after a grace),
 * runs the cleanup callback it was started with (its own copy of the
 * bench's memory at fork time: e.g. stopping a PostgreSQL server) and
 * removes each directory still listed. The reaper ignores the stop signals
 * a Ctrl-C sends to the whole foreground group, so it outlives them. */
#ifndef TD_BENCH_REAPER_H
#define TD_BENCH_REAPER_H

#include <sys/types.h>

/* Forks the reaper; cleanup (may be NULL) runs in it after a failed run.
 * Returns 0, or -1 with errno set (nothing started). */
int bench_reaper_start(void (*cleanup)(void *ud), void *ud);

void bench_reaper_note_pid(pid_t pid);
void bench_reaper_forget_pid(pid_t pid);
void bench_reaper_note_dir(const char *dir);
void bench_reaper_forget_dir(const char *dir);

/* Everything was stopped in order: tells the reaper so and waits for it. */
void bench_reaper_done(void);

#endif
