/* banned.h - functions dto does not use.
 *
 * Each of these is either unbounded (strcpy, sprintf, gets), not re-entrant
 * (strtok, localtime, gmtime) or silently wrong on bad input (atoi, atol).
 * Including this header turns any use into a compile error that names the
 * reason.  Use the bounded or checked replacements in src/core instead.
 */
#ifndef DTO_BANNED_H
#define DTO_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_dto

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef localtime
#define localtime(x) BANNED(localtime)
#undef gmtime
#define gmtime(x) BANNED(gmtime)

#endif
