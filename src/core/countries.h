/* ISO 3166-1 alpha-2 country codes. */
#ifndef RECOUP_CORE_COUNTRIES_H
#define RECOUP_CORE_COUNTRIES_H

/* Whether code is an assigned ISO 3166-1 alpha-2 code (upper case). */
int country_code_valid(const char *code);

#endif
