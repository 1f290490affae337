/* sa-error.c: the Sa error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-error.h"
#include "sa-task-private.h"

/**
 * sa_error_quark:
 *
 * The quark of the [error@Sa.Error] domain; in C, use `SA_ERROR`.
 *
 * Returns: the error domain
 *
 * Since: 1.0
 */
SA_DEFINE_QUARK (sa-error-quark, sa_error)
