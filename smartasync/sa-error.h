/* sa-error.h: the smartasync error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <glib.h>

#include "sa-version-macros.h"

G_BEGIN_DECLS

/**
 * SA_ERROR:
 *
 * The error domain of the errors smartasync raises itself. Errors of an
 * operation, of GIO and of the cancellation and timeout machinery
 * (`G_IO_ERROR_CANCELLED`, `G_IO_ERROR_TIMED_OUT`) keep their own domains.
 *
 * Since: 1.0
 */
#define SA_ERROR (sa_error_quark ())

/**
 * SaError:
 * @SA_ERROR_FAILED: a failure with no more specific code
 * @SA_ERROR_NOT_IMPLEMENTED: the operation implements neither a function
 *   nor the virtual method its kind needs (`run` for a blocking operation,
 *   `start` for a non-blocking one)
 * @SA_ERROR_NO_RESULT: a blocking operation returned from `run` without
 *   completing the task it was handed
 * @SA_ERROR_NOT_SHAREABLE: a pointer result reached more than one caller
 *   of an [class@Sa.Lock] execution, and a pointer cannot be copied
 *
 * The codes of the [error@Sa.Error] domain.
 *
 * Since: 1.0
 */
typedef enum
{
  SA_ERROR_FAILED,
  SA_ERROR_NOT_IMPLEMENTED,
  SA_ERROR_NO_RESULT,
  SA_ERROR_NOT_SHAREABLE,
} SaError;

SA_AVAILABLE_IN_ALL
GQuark sa_error_quark (void);

G_END_DECLS
