/* sa-application.h: tie calls to an application's and a window's lifetime
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <gio/gio.h>

#include "sa-version-macros.h"

G_BEGIN_DECLS

SA_AVAILABLE_IN_ALL
GCancellable *sa_object_get_cancellable (gpointer      object);

SA_AVAILABLE_IN_ALL
void          sa_application_hold_task  (GApplication *application,
                                         GTask        *task);

G_END_DECLS
