#include "config.h"

#include "base64.h"

#include <string.h>

#include "util.h"

static int
b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int
base64_decode(const char *s, char **out, size_t *len)
{
    size_t n = strlen(s), o = 0;
    cleanup_free char *buf = NULL;

    if (n % 4 != 0)
        return -1;
    buf = xmalloc(n / 4 * 3 + 1);
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;

        for (int j = 0; j < 4; j++) {
            unsigned char ch = (unsigned char) s[i + j];

            if (ch == '=' && i + 4 == n && j >= 2) {
                /* Padding only at the end, and "x=y=" is not padding. */
                if (j == 2 && s[i + 3] != '=')
                    return -1;
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1;
            v[j] = b64_value(ch);
            if (v[j] < 0)
                return -1;
        }
        buf[o++] = (char) (v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            buf[o++] = (char) ((v[1] & 0xf) << 4 | v[2] >> 2);
        if (pad < 1)
            buf[o++] = (char) ((v[2] & 0x3) << 6 | v[3]);
    }
    buf[o] = '\0';
    *out = steal_ptr(&buf);
    if (len)
        *len = o;
    return 0;
}
