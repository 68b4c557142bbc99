/* What every test suite shares, unit and integration alike: waiting by
 * polling a condition against a deadline (never a fixed sleep), temporary
 * directories, small file helpers, child processes and the Check runner.
 *
 * It promises that a wait ends as soon as its condition holds, and that
 * nothing it creates outlives the test when the test removes its dir. It
 * does not assert: helpers return what they saw and the test decides, so a
 * failure message can say what was expected.
 *
 *   tu_deadline d = tu_deadline_in(WAIT_MS);
 *   while (!condition() && tu_poll(&d))
 *       ;
 *   ck_assert_msg(condition(), "...");
 *
 *   int main(void) { return tu_run_suite(my_suite()); } */
#ifndef TD_TESTUTIL_H
#define TD_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The step of every polling wait: short enough that a result is seen
 * within this of becoming true, long enough to leave the CPU to the
 * process being waited on. */
#define TU_POLL_MS 10

/* ---- time ----------------------------------------------------------------- */

/* Monotonic milliseconds and seconds (for measuring how long something took). */
int64_t tu_now_ms(void);
double tu_now_s(void);
/* Sleeps ms; for a pause that is part of a scenario (a kill at a random
 * moment), never for waiting on a result: use tu_poll for that. */
void tu_sleep_ms(long ms);

typedef struct tu_deadline {
    int64_t end_ms;
} tu_deadline;

tu_deadline tu_deadline_in(long ms);
/* Whether time is left; when it is, first sleeps one TU_POLL_MS step (less
 * when the deadline is nearer), so the caller can look again. */
bool tu_poll(const tu_deadline *d);

/* ---- files ---------------------------------------------------------------- */

/* Makes "$TMPDIR/<prefix>-" plus six random characters (/tmp without
 * TMPDIR), mode 0700; writes its path to out. Returns out, or NULL when it
 * does not fit or mkdtemp fails. */
char *tu_tmpdir(const char *prefix, char *out, size_t outn);
/* Removes dir and everything in it; returns 0 on success. Only a path
 * tu_tmpdir made (it must contain "-" and lie under a temp root) is
 * removed, so a mistake cannot take anything else with it. */
int tu_rm_rf(const char *dir);

/* The file's contents, NUL-terminated, at most max bytes (malloc'd, never
 * NULL: "" when it cannot be read). */
char *tu_read_file(const char *path, size_t max);
/* Writes text to path; returns 0, or -1 with errno set. */
int tu_write_file(const char *path, const char *text);
/* Newlines in the file (0 when it does not exist). */
size_t tu_count_lines(const char *path);
/* Occurrences of needle in hay. */
size_t tu_count(const char *hay, const char *needle);

/* ---- processes ------------------------------------------------------------ */

/* fork() for a child that must not outlive this process: it gets SIGKILL
 * when the test process ends, however it ends. */
pid_t tu_fork(void);
/* Starts argv[0] with argv (through tu_fork), stdin from in, stdout to out, stderr to err
 * (each a path, NULL: inherited; out and err are truncated, and may be
 * the same file). Returns the pid, or -1 when fork failed. */
pid_t tu_spawn(const char *const *argv, const char *in, const char *out, const char *err);
/* Its exit code, or 128 + N when signal N ended it (what a shell says). */
int tu_exit_status(int wstatus);
/* Waits for pid to end within timeout_ms; true and *status (as
 * tu_exit_status) when it did, false when it still runs. */
bool tu_wait_exit(pid_t pid, long timeout_ms, int *status);
/* Pids other than ours whose command line (arguments joined by spaces,
 * with a space after the last) holds needle and, when given, also. */
size_t tu_find_processes(const char *needle, const char *also, pid_t *pids, size_t max);
/* pid's parent, 0 when pid is gone. */
pid_t tu_parent_of(pid_t pid);

/* ---- running a suite ------------------------------------------------------ */

/* Runs every test of s, each in a child process (Check's default), and
 * returns main's exit status. */
int tu_run_suite(Suite *s);
/* The same, all tests in this process in order: for a suite whose tests
 * continue one story on one daemon. */
int tu_run_suite_in_order(Suite *s);

#endif
