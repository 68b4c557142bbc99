/* Allocation for the daemon's shell, where running out of memory ends the
 * process: td_xstrdup copies a string or aborts, so configuration and
 * supervision code reads without an error path for every copy.
 *
 * Not for the engine, which reports RESOURCE_EXHAUSTED and changes
 * nothing instead (tests/unit/test_engine_layers.sh keeps it out), nor for
 * tierd-connector, which exits with the host protocol's retry status. */
#ifndef TD_ALLOC_H
#define TD_ALLOC_H

/* A copy of s ("" for NULL); aborts when memory is out. */
char *td_xstrdup(const char *s);

#endif
