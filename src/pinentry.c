/* pinentry.c - (being written) */
#include "config.h"
#include "pinentry.h"
