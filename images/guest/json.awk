# Turn one JSON document into shell assignments for `eval`, so that the
# guest's shell scripts (the agent, /init reading meta-data) need no JSON
# library: busybox has awk but no jq.
#
# Each scalar at path a.b.c becomes J_a_b_c='value' (strings decoded,
# numbers/true/false/null as their literal token), with T_a_b_c set to
# s, n, b or z (string, number, boolean, null). Each array at path p also
# gives J_p_n (its length) and J_p_list: its scalar elements as
# shell-quoted words, for `eval "set -- $J_p_list"`. Names keep only
# [A-Za-z0-9_], everything else becomes `_`, so no input can produce
# anything but those assignments. A syntax error gives J_error='reason'.
#
# Strings are cut into runs with match() rather than read a character at a
# time: awk's string concatenation is linear, so per-character appends
# would make a 1 MB input-data quadratic.

function fail(why) {
    if (err == "")
        err = why " at offset " pos
    pos = n + 1
}

function skipws() {
    while (pos <= n && index(" \t\r\n", substr(s, pos, 1)))
        pos++
}

function shq(v) {
    gsub(/'/, "'\\''", v)
    return "'" v "'"
}

function varname(p) {
    gsub(/[^A-Za-z0-9_]/, "_", p)
    return p
}

# UTF-8 bytes of a code point, as awk's printf %c emits one byte per call.
function utf8(c) {
    if (c < 128)
        return sprintf("%c", c)
    if (c < 2048)
        return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
    if (c < 65536)
        return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
    return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64,
                   128 + int(c / 64) % 64, 128 + c % 64)
}

function hex4(h,    i, v, d) {
    v = 0
    for (i = 1; i <= 4; i++) {
        d = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (d == 0) {
            fail("bad \\u escape")
            return 0
        }
        v = v * 16 + d - 1
    }
    return v
}

function pstring(    out, c, cp, lo, rest) {
    pos++                               # the opening quote
    out = ""
    while (pos <= n) {
        rest = substr(s, pos)
        if (match(rest, /^[^"\\]+/)) {
            out = out substr(rest, 1, RLENGTH)
            pos += RLENGTH
            continue
        }
        c = substr(s, pos, 1)
        if (c == "\"") {
            pos++
            return out
        }
        # a backslash
        c = substr(s, pos + 1, 1)
        pos += 2
        if (c == "n") out = out "\n"
        else if (c == "t") out = out "\t"
        else if (c == "r") out = out "\r"
        else if (c == "b") out = out "\b"
        else if (c == "f") out = out "\f"
        else if (c == "u") {
            cp = hex4(substr(s, pos, 4))
            pos += 4
            if (cp >= 55296 && cp < 56320 && substr(s, pos, 2) == "\\u") {
                lo = hex4(substr(s, pos + 2, 4))
                if (lo >= 56320 && lo < 57344) {
                    cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
                    pos += 6
                }
            }
            out = out utf8(cp)
        } else if (c == "\"" || c == "\\" || c == "/") out = out c
        else {
            fail("bad escape")
            return out
        }
    }
    fail("unterminated string")
    return out
}

function leaf(path, v, t, parent) {
    name = varname(path)
    print "J_" name "=" shq(v)
    print "T_" name "=" t
    if (parent != "")
        list[substr(parent, 2)] = list[substr(parent, 2)] " " shq(v)
}

# Parse one value at pos; path names it. parent is "@" and the enclosing
# array's variable name when the value is an array element, else empty.
function pvalue(path, parent,    c, k, i, tok, rest, t) {
    skipws()
    c = substr(s, pos, 1)
    if (c == "{") {
        pos++
        skipws()
        if (substr(s, pos, 1) == "}") {
            pos++
            return
        }
        while (pos <= n) {
            skipws()
            if (substr(s, pos, 1) != "\"") {
                fail("expected a key")
                return
            }
            k = pstring()
            skipws()
            if (substr(s, pos, 1) != ":") {
                fail("expected ':'")
                return
            }
            pos++
            pvalue(path == "" ? k : path "_" k, "")
            skipws()
            c = substr(s, pos, 1)
            pos++
            if (c == "}")
                return
            if (c != ",") {
                fail("expected ',' or '}'")
                return
            }
        }
        fail("unterminated object")
    } else if (c == "[") {
        pos++
        i = 0
        k = varname(path)
        list[k] = ""
        skipws()
        if (substr(s, pos, 1) == "]")
            pos++
        else while (pos <= n) {
            pvalue(path "_" i, "@" k)
            i++
            skipws()
            c = substr(s, pos, 1)
            pos++
            if (c == "]")
                break
            if (c != ",") {
                fail("expected ',' or ']'")
                return
            }
        }
        print "J_" k "_n=" i
        print "J_" k "_list=" shq(list[k])
    } else if (c == "\"") {
        tok = pstring()
        if (err == "")
            leaf(path, tok, "s", parent)
    } else {
        rest = substr(s, pos, 64)
        if (match(rest, /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/))
            t = "n"
        else if (match(rest, /^(true|false)/))
            t = "b"
        else if (match(rest, /^null/))
            t = "z"
        else {
            fail("unexpected character")
            return
        }
        leaf(path, substr(rest, 1, RLENGTH), t, parent)
        pos += RLENGTH
    }
}

{ s = s (NR > 1 ? "\n" : "") $0 }

END {
    n = length(s)
    pos = 1
    err = ""
    skipws()
    if (pos > n)
        fail("empty document")
    else
        pvalue("", "")
    skipws()
    if (err == "" && pos <= n)
        fail("trailing characters")
    if (err != "")
        print "J_error=" shq(err)
}
