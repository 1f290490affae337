/* sa-error.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-error.h"

G_DEFINE_QUARK (sa-error-quark, sa_error)
