/* sa-operation.c: an operation, written once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-enum-types.h"
#include "sa-error.h"
#include "sa-operation.h"
#include "sa-operation-private.h"

/**
 * SaOperation:
 *
 * One operation, written once, that [class@Sa.Dispatcher] can carry out
 * for any caller: a sync caller gets its result directly, an async caller
 * gets a pending [class@Gio.Task].
 *
 * An operation is of one of two kinds ([property@Sa.Operation:kind]):
 *
 * - *blocking*: its body runs to completion in the thread that runs it,
 *   like a sqlite3 query or a GIO `_sync` call. The dispatcher calls it
 *   directly for a sync caller and on a worker thread for an async one.
 * - *non-blocking*: its body starts work that completes later on the
 *   thread-default main context that was current when it started, like
 *   any GIO `_async`/`_finish` pair. The dispatcher starts it on the
 *   caller's context for an async caller, and on the calling thread's
 *   private context, iterated until it completes, for a sync caller.
 *
 * Both kinds complete the same way: through the [class@Gio.Task] they are
 * handed, with `g_task_return_pointer()`, `g_task_return_boolean()`,
 * `g_task_return_int()`, `g_task_return_value()` or
 * `g_task_return_error()`. Results and errors therefore take one path in
 * all four cells. Use `g_task_return_value()` when the result is read
 * through [method@Sa.Dispatcher.call_finish] or
 * [method@Sa.Dispatcher.call_sync], and from other languages. The task's
 * task data (`g_task_set_task_data()`) is the operation's own to use.
 *
 * In C, an operation is a function with its data:
 *
 * ```c
 * static void
 * load_start (SaOperation  *operation,
 *             GTask        *task,
 *             GCancellable *cancellable,
 *             gpointer      user_data)
 * {
 *   g_file_load_bytes_async (user_data, cancellable, load_cb, g_object_ref (task));
 * }
 *
 * SaOperation *op = sa_operation_new_non_blocking (load_start,
 *                                                  g_object_ref (file),
 *                                                  g_object_unref);
 * ```
 *
 * From Python or JavaScript, subclass it and override `run` or `start`,
 * setting the kind at construction.
 *
 * The body may be run by several calls at once, on several threads; it
 * must be safe for that if the operation is shared. The object's own
 * methods are safe from any thread.
 *
 * Since: 1.0
 */

typedef struct
{
  SaOperationFunc  func;
  gpointer         user_data;
  GDestroyNotify   user_data_destroy;
  char            *name;       /* atomic: set once, from NULL, then kept */
  SaOperationKind  kind;
} SaOperationPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (SaOperation, sa_operation, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_KIND,
  PROP_NAME,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The default bodies: the function given to the constructor, if any. */
static void
call_func (SaOperation  *self,
           GTask        *task,
           GCancellable *cancellable,
           const char   *vfunc)
{
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  if (priv->func != NULL)
    priv->func (self, task, cancellable, priv->user_data);
  else
    g_task_return_new_error (task, SA_ERROR, SA_ERROR_NOT_IMPLEMENTED,
                             "Operation “%s” (%s) implements no %s()",
                             sa_operation_get_name (self),
                             G_OBJECT_TYPE_NAME (self),
                             vfunc);
}

static void
sa_operation_real_run (SaOperation  *self,
                       GTask        *task,
                       GCancellable *cancellable)
{
  call_func (self, task, cancellable, "run");
}

static void
sa_operation_real_start (SaOperation  *self,
                         GTask        *task,
                         GCancellable *cancellable)
{
  call_func (self, task, cancellable, "start");
}

static void
sa_operation_finalize (GObject *object)
{
  SaOperation *self = SA_OPERATION (object);
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  if (priv->user_data_destroy != NULL)
    priv->user_data_destroy (priv->user_data);
  g_clear_pointer (&priv->name, g_free);

  G_OBJECT_CLASS (sa_operation_parent_class)->finalize (object);
}

static void
sa_operation_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  SaOperation *self = SA_OPERATION (object);
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_KIND:
      g_value_set_enum (value, priv->kind);
      break;

    case PROP_NAME:
      g_value_set_string (value, g_atomic_pointer_get (&priv->name));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_operation_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  SaOperation *self = SA_OPERATION (object);
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_KIND:
      priv->kind = g_value_get_enum (value);
      break;

    case PROP_NAME:
      sa_operation_set_name (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_operation_class_init (SaOperationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = sa_operation_finalize;
  object_class->get_property = sa_operation_get_property;
  object_class->set_property = sa_operation_set_property;

  klass->run = sa_operation_real_run;
  klass->start = sa_operation_real_start;

  /**
   * SaOperation:kind:
   *
   * Whether the operation is blocking or non-blocking. Set once, at
   * construction.
   *
   * Since: 1.0
   */
  properties[PROP_KIND] =
    g_param_spec_enum ("kind", NULL, NULL,
                       SA_TYPE_OPERATION_KIND,
                       SA_OPERATION_KIND_NON_BLOCKING,
                       (G_PARAM_READWRITE |
                        G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * SaOperation:name:
   *
   * A name for the operation, used in debug traces and error messages.
   * When unset, the name of the operation's type.
   *
   * Since: 1.0
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
sa_operation_init (SaOperation *self)
{
}

static SaOperation *
operation_new (SaOperationKind  kind,
               SaOperationFunc  func,
               gpointer         user_data,
               GDestroyNotify   user_data_destroy)
{
  SaOperation *self = g_object_new (SA_TYPE_OPERATION, "kind", kind, NULL);
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  priv->func = func;
  priv->user_data = user_data;
  priv->user_data_destroy = user_data_destroy;

  return self;
}

/**
 * sa_operation_new_blocking:
 * @func: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   the body, which completes its task before returning
 * @user_data: data for @func
 * @user_data_destroy: (nullable): frees @user_data with the operation
 *
 * Creates a blocking operation whose body is @func.
 *
 * Returns: (transfer full): a new [class@Sa.Operation]
 *
 * Since: 1.0
 */
SaOperation *
sa_operation_new_blocking (SaOperationFunc func,
                           gpointer        user_data,
                           GDestroyNotify  user_data_destroy)
{
  g_return_val_if_fail (func != NULL, NULL);

  return operation_new (SA_OPERATION_KIND_BLOCKING, func, user_data, user_data_destroy);
}

/**
 * sa_operation_new_non_blocking:
 * @func: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   the body, which starts work that completes its task later
 * @user_data: data for @func
 * @user_data_destroy: (nullable): frees @user_data with the operation
 *
 * Creates a non-blocking operation whose body is @func.
 *
 * Returns: (transfer full): a new [class@Sa.Operation]
 *
 * Since: 1.0
 */
SaOperation *
sa_operation_new_non_blocking (SaOperationFunc func,
                               gpointer        user_data,
                               GDestroyNotify  user_data_destroy)
{
  g_return_val_if_fail (func != NULL, NULL);

  return operation_new (SA_OPERATION_KIND_NON_BLOCKING, func, user_data, user_data_destroy);
}

SaOperationKind
_sa_operation_get_kind (SaOperation *self)
{
  SaOperationPrivate *priv = sa_operation_get_instance_private (self);

  return priv->kind;
}

GError *
_sa_operation_new_no_result_error (SaOperation *self)
{
  if (_sa_operation_get_kind (self) == SA_OPERATION_KIND_NON_BLOCKING)
    return g_error_new (SA_ERROR, SA_ERROR_NO_RESULT,
                        "Non-blocking operation “%s” dropped its task without completing it",
                        sa_operation_get_name (self));

  return g_error_new (SA_ERROR, SA_ERROR_NO_RESULT,
                      "Blocking operation “%s” returned without completing its task",
                      sa_operation_get_name (self));
}

/**
 * sa_operation_get_kind:
 * @self: a [class@Sa.Operation]
 *
 * Gets whether @self is blocking or non-blocking.
 *
 * Returns: the kind of @self
 *
 * Since: 1.0
 */
SaOperationKind
sa_operation_get_kind (SaOperation *self)
{
  g_return_val_if_fail (SA_IS_OPERATION (self), SA_OPERATION_KIND_NON_BLOCKING);

  return _sa_operation_get_kind (self);
}

/**
 * sa_operation_get_name:
 * @self: a [class@Sa.Operation]
 *
 * Gets the name of @self: the one set, or its type's name.
 *
 * Returns: (transfer none): the name of @self
 *
 * Since: 1.0
 */
const char *
sa_operation_get_name (SaOperation *self)
{
  SaOperationPrivate *priv;
  const char *name;

  g_return_val_if_fail (SA_IS_OPERATION (self), NULL);

  priv = sa_operation_get_instance_private (self);

  /* A name, once set, is kept until finalize (see set_name), so the
   * pointer stays valid for the caller. */
  name = g_atomic_pointer_get (&priv->name);
  return name != NULL ? name : G_OBJECT_TYPE_NAME (self);
}

/**
 * sa_operation_set_name:
 * @self: a [class@Sa.Operation]
 * @name: (nullable): a name for debug traces and error messages
 *
 * Names @self. Meant to be called once, before the operation is used; a
 * later call is ignored with a warning, so that a name handed out by
 * [method@Sa.Operation.get_name] stays valid.
 *
 * Since: 1.0
 */
void
sa_operation_set_name (SaOperation *self,
                       const char  *name)
{
  SaOperationPrivate *priv;
  const char *current;
  char *new_name;

  g_return_if_fail (SA_IS_OPERATION (self));

  priv = sa_operation_get_instance_private (self);

  current = g_atomic_pointer_get (&priv->name);
  if (g_strcmp0 (current, name) == 0)
    return;

  new_name = g_strdup (name);
  if (current != NULL ||
      !g_atomic_pointer_compare_and_exchange (&priv->name, NULL, new_name))
    {
      g_warning ("Operation “%s” is already named", (char *) g_atomic_pointer_get (&priv->name));
      g_free (new_name);
      return;
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
}

/**
 * sa_operation_run:
 * @self: a blocking [class@Sa.Operation]
 * @task: the [class@Gio.Task] to complete
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 *
 * Runs the body of a blocking operation in the calling thread. The
 * dispatcher runs the same virtual function, with the thread marked as
 * inside a blocking body (where every caller is a sync caller); call this
 * yourself only to bypass the dispatcher.
 *
 * Since: 1.0
 */
void
sa_operation_run (SaOperation  *self,
                  GTask        *task,
                  GCancellable *cancellable)
{
  g_return_if_fail (SA_IS_OPERATION (self));
  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  SA_OPERATION_GET_CLASS (self)->run (self, task, cancellable);
}

/**
 * sa_operation_start:
 * @self: a non-blocking [class@Sa.Operation]
 * @task: the [class@Gio.Task] to complete
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 *
 * Starts the body of a non-blocking operation on the thread-default main
 * context. The dispatcher starts the same virtual function; call this
 * yourself only to bypass the dispatcher.
 *
 * Since: 1.0
 */
void
sa_operation_start (SaOperation  *self,
                    GTask        *task,
                    GCancellable *cancellable)
{
  g_return_if_fail (SA_IS_OPERATION (self));
  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  SA_OPERATION_GET_CLASS (self)->start (self, task, cancellable);
}
