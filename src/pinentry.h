/*
 * pinentry.h - asking the user for a token PIN through pinentry (Assuan).
 * (being written)
 */
#ifndef AE_PINENTRY_H
#define AE_PINENTRY_H
#endif
