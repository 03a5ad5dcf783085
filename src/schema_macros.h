/* Shorthand for the schema tables in *_parse.c. T is the struct type. */
#ifndef VMIRS_SCHEMA_MACROS_H
#define VMIRS_SCHEMA_MACROS_H

#include <stddef.h>

#define F_STR(T, k, m, ...)                                                                        \
    {                                                                                              \
        .key = (k), .kind = YF_STR, .off = offsetof(T, m), __VA_ARGS__                             \
    }
#define F_INT(T, k, m, lo, hi, ...)                                                                \
    {                                                                                              \
        .key = (k), .kind = YF_INT, .off = offsetof(T, m), .min = (lo), .max = (hi), __VA_ARGS__   \
    }
#define F_BOOL(T, k, m, ...)                                                                       \
    {                                                                                              \
        .key = (k), .kind = YF_BOOL, .off = offsetof(T, m), __VA_ARGS__                            \
    }
#define F_QTY(T, k, m, ...)                                                                        \
    {                                                                                              \
        .key = (k), .kind = YF_QTY, .off = offsetof(T, m), __VA_ARGS__                             \
    }
#define F_ENUM(T, k, m, names, ...)                                                                \
    {                                                                                              \
        .key = (k), .kind = YF_ENUM, .off = offsetof(T, m), .arg = (names), __VA_ARGS__            \
    }
#define F_STRUCT(T, k, m, sch, ...)                                                                \
    {                                                                                              \
        .key = (k), .kind = YF_STRUCT, .off = offsetof(T, m), .arg = &(sch), __VA_ARGS__           \
    }
#define F_PSTRUCT(T, k, m, sch, ...)                                                               \
    {                                                                                              \
        .key = (k), .kind = YF_PSTRUCT, .off = offsetof(T, m), .arg = &(sch), __VA_ARGS__          \
    }
#define F_ARRAY(T, k, m, sch, ...)                                                                 \
    {                                                                                              \
        .key = (k), .kind = YF_ARRAY, .off = offsetof(T, m), .arg = &(sch), __VA_ARGS__            \
    }
#define F_STRARRAY(T, k, m, ...)                                                                   \
    {                                                                                              \
        .key = (k), .kind = YF_STRARRAY, .off = offsetof(T, m), __VA_ARGS__                        \
    }
#define F_STRMAP(T, k, m, ...)                                                                     \
    {                                                                                              \
        .key = (k), .kind = YF_STRMAP, .off = offsetof(T, m), __VA_ARGS__                          \
    }
#define F_INTORSTR(T, k, m, ...)                                                                   \
    {                                                                                              \
        .key = (k), .kind = YF_INTORSTR, .off = offsetof(T, m), __VA_ARGS__                        \
    }
#define F_ACCEPT(k, ...)                                                                           \
    {                                                                                              \
        .key = (k), .kind = YF_ACCEPT, __VA_ARGS__                                                 \
    }
#define F_IGNORE(k, ...)                                                                           \
    {                                                                                              \
        .key = (k), .kind = YF_IGNORE, __VA_ARGS__                                                 \
    }
#define F_REJECT(k, why, ...)                                                                      \
    {                                                                                              \
        .key = (k), .kind = YF_REJECT, .arg = (why), __VA_ARGS__                                   \
    }

#endif
