/* sa-cell-private.h: the four cells of a call, behind the dispatcher's switch (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-call-task-private.h"

G_BEGIN_DECLS

/* Each carries out @operation for its caller and returns the call's task
 * (transfer full): complete for a sync caller (@callback has run),
 * pending for an async one (@callback runs on the caller's context).
 * Each starts the operation's body in exactly one place. */

/* sa-cell-sync.c */
GTask *_sa_cell_sync_non_blocking  (const SaCallOrigin  *origin,
                                    SaOperation         *operation,
                                    GCancellable        *cancellable,
                                    guint                timeout_ms,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
GTask *_sa_cell_sync_blocking      (const SaCallOrigin  *origin,
                                    SaOperation         *operation,
                                    GCancellable        *cancellable,
                                    guint                timeout_ms,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);

/* sa-cell-async.c */
GTask *_sa_cell_async_non_blocking (const SaCallOrigin  *origin,
                                    SaOperation         *operation,
                                    GCancellable        *cancellable,
                                    guint                timeout_ms,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
GTask *_sa_cell_async_blocking     (const SaCallOrigin  *origin,
                                    SaOperation         *operation,
                                    GCancellable        *cancellable,
                                    guint                timeout_ms,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);

/* The job of the dispatcher's pool: runs an offloaded call's body on a
 * pool thread, then hands the call back (_sa_hand_back()). */
void   _sa_cell_offload_job        (gpointer             call);

G_END_DECLS
