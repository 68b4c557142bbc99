/* Backup RPC (docs/rpc.md, "Backup and export"): a compacted copy of the
 * store made off the loop into the state dir while tierd keeps serving,
 * then handed out in chunks. One backup at a time; its copy is removed
 * when the caller says done, when nobody asked for it for
 * BACKUP_IDLE_TIMEOUT_MS, or when tierd stops. */
#ifndef TD_BACKUP_H
#define TD_BACKUP_H

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"
#include "tierd/status.h"

#define BACKUP_IDLE_TIMEOUT_MS 60000u
#define BACKUP_CHUNK_DEFAULT   (1u << 20)
#define BACKUP_CHUNK_MAX       (4u << 20)
#define BACKUP_FILE_PREFIX     "backup-" /* in the state dir: backup-XXXXXX.tmp */

int handle_backup(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err);
/* At stop: removes the backup's copy now, or as soon as the copy being
 * made ends (the loop runs until then). */
void backup_close(tierd *d);

#endif
