/* sa-lock.h: singleflight: concurrent callers share one execution
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <gio/gio.h>

#include "sa-dispatcher.h"
#include "sa-operation.h"
#include "sa-types.h"
#include "sa-version-macros.h"

G_BEGIN_DECLS

#define SA_TYPE_LOCK (sa_lock_get_type ())

SA_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (SaLock, sa_lock, SA, LOCK, GObject)

SA_AVAILABLE_IN_ALL
SaLock       *sa_lock_new                (SaDispatcher         *dispatcher) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
SaDispatcher *sa_lock_get_dispatcher     (SaLock               *self);
SA_AVAILABLE_IN_ALL
guint64       sa_lock_get_n_executions   (SaLock               *self);
SA_AVAILABLE_IN_ALL
guint64       sa_lock_get_n_coalesced    (SaLock               *self);
SA_AVAILABLE_IN_ALL
guint         sa_lock_get_n_in_flight    (SaLock               *self);
SA_AVAILABLE_IN_ALL
GTask        *sa_lock_call               (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          SaCallMode            mode,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
void          sa_lock_call_async         (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
SA_AVAILABLE_IN_ALL
GValue       *sa_lock_call_finish        (SaLock               *self,
                                          GAsyncResult         *result,
                                          GError              **error) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
gboolean      sa_lock_call_finish_value  (SaLock               *self,
                                          GAsyncResult         *result,
                                          GValue               *value,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gboolean      sa_lock_call_finish_boolean (SaLock              *self,
                                          GAsyncResult         *result,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gssize        sa_lock_call_finish_int    (SaLock               *self,
                                          GAsyncResult         *result,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gpointer      sa_lock_call_finish_pointer (SaLock              *self,
                                          GAsyncResult         *result,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
GValue       *sa_lock_call_sync          (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GError              **error) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
gboolean      sa_lock_call_sync_value    (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GValue               *value,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gboolean      sa_lock_call_sync_boolean  (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gssize        sa_lock_call_sync_int      (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
gpointer      sa_lock_call_sync_pointer  (SaLock               *self,
                                          const char           *key,
                                          SaOperation          *operation,
                                          GCancellable         *cancellable,
                                          GError              **error);
SA_AVAILABLE_IN_ALL
void          sa_lock_reset              (SaLock               *self);

G_END_DECLS
