/* sa-bridge.h: run any GIO _async/_finish pair synchronously
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <gio/gio.h>

#include "sa-types.h"
#include "sa-version-macros.h"

G_BEGIN_DECLS

#define SA_TYPE_BRIDGE (sa_bridge_get_type ())

SA_AVAILABLE_IN_ALL
GType         sa_bridge_get_type        (void) G_GNUC_CONST;
SA_AVAILABLE_IN_ALL
SaBridge     *sa_bridge_new             (GCancellable  *cancellable,
                                         guint          timeout_ms) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
SaBridge     *sa_bridge_ref             (SaBridge      *self);
SA_AVAILABLE_IN_ALL
void          sa_bridge_unref           (SaBridge      *self);
SA_AVAILABLE_IN_ALL
GCancellable *sa_bridge_get_cancellable (SaBridge      *self);
SA_AVAILABLE_IN_ALL
void          sa_bridge_callback        (GObject       *source_object,
                                         GAsyncResult  *result,
                                         gpointer       user_data);
SA_AVAILABLE_IN_ALL
void          sa_bridge_complete        (SaBridge      *self,
                                         GAsyncResult  *result);
SA_AVAILABLE_IN_ALL
GAsyncResult *sa_bridge_wait            (SaBridge      *self,
                                         GError       **error) G_GNUC_WARN_UNUSED_RESULT;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SaBridge, sa_bridge_unref)

G_END_DECLS
