/* sa-dispatcher.h: carries out an operation in the cell its caller needs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <gio/gio.h>

#include "sa-operation.h"
#include "sa-types.h"
#include "sa-version-macros.h"

G_BEGIN_DECLS

#define SA_TYPE_DISPATCHER (sa_dispatcher_get_type ())

SA_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (SaDispatcher, sa_dispatcher, SA, DISPATCHER, GObject)

SA_AVAILABLE_IN_ALL
SaDispatcher *sa_dispatcher_new             (void) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
SaDispatcher *sa_dispatcher_get_default     (void);
SA_AVAILABLE_IN_ALL
SaCallMode    sa_dispatcher_get_mode        (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_mode        (SaDispatcher         *self,
                                             SaCallMode            mode);
SA_AVAILABLE_IN_ALL
guint         sa_dispatcher_get_max_threads (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_max_threads (SaDispatcher         *self,
                                             guint                 max_threads);
SA_AVAILABLE_IN_ALL
guint         sa_dispatcher_get_timeout     (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_timeout     (SaDispatcher         *self,
                                             guint                 timeout_ms);
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_get_debug       (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_debug       (SaDispatcher         *self,
                                             gboolean              debug);
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_get_gtask_pool  (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_gtask_pool  (SaDispatcher         *self,
                                             gboolean              gtask_pool);
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_get_busy_wait   (SaDispatcher         *self);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_set_busy_wait   (SaDispatcher         *self,
                                             gboolean              busy_wait);
SA_AVAILABLE_IN_ALL
guint64       sa_dispatcher_get_n_calls     (SaDispatcher         *self,
                                             SaCell                cell);
SA_AVAILABLE_IN_ALL
SaCell        sa_dispatcher_choose_cell     (SaDispatcher         *self,
                                             SaOperation          *operation,
                                             SaCallMode            mode);
SA_AVAILABLE_IN_ALL
GTask        *sa_dispatcher_call            (SaDispatcher         *self,
                                             SaOperation          *operation,
                                             SaCallMode            mode,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
GTask        *sa_dispatcher_call_full       (SaDispatcher         *self,
                                             SaOperation          *operation,
                                             SaCallMode            mode,
                                             gpointer              source_object,
                                             gpointer              source_tag,
                                             int                   io_priority,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_call_async      (SaDispatcher         *self,
                                             SaOperation          *operation,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
SA_AVAILABLE_IN_ALL
GValue       *sa_dispatcher_call_finish     (SaDispatcher         *self,
                                             GAsyncResult         *result,
                                             GError              **error) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_call_finish_value   (SaDispatcher     *self,
                                                 GAsyncResult     *result,
                                                 GValue           *value,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gpointer      sa_dispatcher_call_finish_pointer (SaDispatcher     *self,
                                                 GAsyncResult     *result,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_call_finish_boolean (SaDispatcher     *self,
                                                 GAsyncResult     *result,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gssize        sa_dispatcher_call_finish_int     (SaDispatcher     *self,
                                                 GAsyncResult     *result,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
GValue       *sa_dispatcher_call_sync       (SaDispatcher         *self,
                                             SaOperation          *operation,
                                             GCancellable         *cancellable,
                                             GError              **error) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_call_sync_value     (SaDispatcher     *self,
                                                 SaOperation      *operation,
                                                 GCancellable     *cancellable,
                                                 GValue           *value,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gpointer      sa_dispatcher_call_sync_pointer   (SaDispatcher     *self,
                                                 SaOperation      *operation,
                                                 GCancellable     *cancellable,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gboolean      sa_dispatcher_call_sync_boolean   (SaDispatcher     *self,
                                                 SaOperation      *operation,
                                                 GCancellable     *cancellable,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
gssize        sa_dispatcher_call_sync_int       (SaDispatcher     *self,
                                                 SaOperation      *operation,
                                                 GCancellable     *cancellable,
                                                 GError          **error);
SA_AVAILABLE_IN_ALL
void          sa_dispatcher_run_in_thread   (SaDispatcher         *self,
                                             SaOperationFunc       func,
                                             gpointer              func_data,
                                             GDestroyNotify        func_data_destroy,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);

G_END_DECLS
