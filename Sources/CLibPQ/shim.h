#ifndef PGWORKER_CLIBPQ_SHIM_H
#define PGWORKER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
