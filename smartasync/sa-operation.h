/* sa-operation.h: an operation, written once
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

#define SA_TYPE_OPERATION (sa_operation_get_type ())

SA_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (SaOperation, sa_operation, SA, OPERATION, GObject)

/**
 * SaOperationFunc:
 * @operation: the [class@Sa.Operation] being run
 * @task: the [class@Gio.Task] to complete with `g_task_return_*()`
 * @cancellable: (nullable): the cancellable of the call
 * @user_data: the data given to the constructor
 *
 * The body of an operation made with [ctor@Sa.Operation.new_blocking] or
 * [ctor@Sa.Operation.new_non_blocking].
 *
 * A blocking body completes @task before it returns. A non-blocking body
 * starts its work and returns; the work completes @task later, from a
 * callback on the thread-default main context that was current when the
 * body ran. @task is not the body's to keep: take a reference
 * (`g_object_ref()`) to hold it across callbacks, as GIO code does. A
 * non-blocking body that lets @task go without completing it leaves the
 * call unanswered, as a `GTask` that nobody completes, until its timeout
 * or cancellable ends it; where @task is the library's own (an async
 * call with a timeout or a cancellable), the caller gets
 * `SA_ERROR_NO_RESULT` as soon as @task is freed.
 *
 * Since: 1.0
 */
typedef void (*SaOperationFunc) (SaOperation  *operation,
                                 GTask        *task,
                                 GCancellable *cancellable,
                                 gpointer      user_data);

/**
 * SaOperationClass:
 * @parent_class: the parent class
 * @run: the body of a blocking operation: complete the task before
 *   returning. Runs in the thread the dispatcher chooses.
 * @start: the body of a non-blocking operation: start the work, which
 *   completes the task later on the thread-default main context current
 *   when @start runs.
 *
 * The virtual methods of [class@Sa.Operation]. A subclass overrides the
 * one its [property@Sa.Operation:kind] calls for.
 *
 * Since: 1.0
 */
struct _SaOperationClass
{
  GObjectClass parent_class;

  void (*run)   (SaOperation  *self,
                 GTask        *task,
                 GCancellable *cancellable);
  void (*start) (SaOperation  *self,
                 GTask        *task,
                 GCancellable *cancellable);

  /*< private >*/
  gpointer _reserved[8];
};

SA_AVAILABLE_IN_ALL
SaOperation     *sa_operation_new_blocking     (SaOperationFunc  func,
                                                gpointer         user_data,
                                                GDestroyNotify   user_data_destroy) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
SaOperation     *sa_operation_new_non_blocking (SaOperationFunc  func,
                                                gpointer         user_data,
                                                GDestroyNotify   user_data_destroy) G_GNUC_WARN_UNUSED_RESULT;
SA_AVAILABLE_IN_ALL
SaOperationKind  sa_operation_get_kind         (SaOperation     *self);
SA_AVAILABLE_IN_ALL
const char      *sa_operation_get_name         (SaOperation     *self);
SA_AVAILABLE_IN_ALL
void             sa_operation_set_name         (SaOperation     *self,
                                                const char      *name);
SA_AVAILABLE_IN_ALL
void             sa_operation_run              (SaOperation     *self,
                                                GTask           *task,
                                                GCancellable    *cancellable);
SA_AVAILABLE_IN_ALL
void             sa_operation_start            (SaOperation     *self,
                                                GTask           *task,
                                                GCancellable    *cancellable);

G_END_DECLS
