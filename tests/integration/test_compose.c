/*
 * docker/compose.yaml and Dockerfile agree with the repository and the binary.
 *
 * No Docker engine is needed: both files are read as text (the few YAML
 * shapes compose.yaml uses are parsed by hand below) and checked against
 * the tree and against `stakha-lever --help` (SL_TEST_BIN, default
 * build/stakha-lever). Runs with the repository root as cwd.
 *
 *   - every path compose names (build context, dockerfile, bind mounts,
 *     env files) exists, relative to docker/; named volumes are declared;
 *   - the service's DATABASE_URL names the db service's host, user,
 *     password and database; it waits for the db's pg_isready healthcheck;
 *   - every SL_* variable set (compose, Dockerfile ENV) is a real setting,
 *     secrets come only from the caller's environment, and `${X:-default}`
 *     defaults equal the binary's;
 *   - the published container port is the SL_HTTP_ADDR port and EXPOSEd;
 *   - the Dockerfile: build stage builds build/stakha-lever from every source
 *     directory the Makefile compiles; runtime stage is debian:12-slim, runs
 *     as a non-root USER, has a HEALTHCHECK on /health and copies the binary.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "tap.h"

#define COMPOSE "docker/compose.yaml"
#define COMPOSE_DIR "docker"
#define DOCKERFILE "Dockerfile"
#define MAKEFILE "Makefile"

/* ------------------------------------------------------------------ utils */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        BAIL_OUT("out of memory reading %s", path);
    buf[len] = '\0';
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* strlcpy: truncates to n-1 bytes, always terminated. */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

static bool path_exists(const char *path, bool want_dir)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    return want_dir ? S_ISDIR(st.st_mode) : true;
}

/* `rel` resolved against directory `base` (unless absolute). */
static void join_path(char *out, size_t n, const char *base, const char *rel)
{
    if (rel[0] == '/')
        copy_str(out, n, rel);
    else
        snprintf(out, n, "%s/%s", base, rel);
}

/* --------------------------------------------------- a small YAML reader */

/*
 * Every scalar of the file as (path, value): "services.db.image" ->
 * "postgres:15"; a block-sequence item appends "[]" ("services.db.volumes[]"),
 * and a mapping inside an item continues under it
 * ("services.x.volumes[].source"). Keys that open a block have an empty
 * value. Flow collections ([...], {...}) stay one string. Enough for
 * compose files written in the usual block style.
 */
struct yentry {
    char path[256];
    char value[512];
    int line;
};

struct ydoc {
    struct yentry *e;
    size_t n, cap;
};

static void ydoc_add(struct ydoc *d, const char *path, const char *value, int line)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->e = realloc(d->e, d->cap * sizeof(*d->e));
        if (!d->e)
            BAIL_OUT("out of memory");
    }
    copy_str(d->e[d->n].path, sizeof(d->e[d->n].path), path);
    copy_str(d->e[d->n].value, sizeof(d->e[d->n].value), value);
    d->e[d->n].line = line;
    d->n++;
}

/* Removes a trailing " # comment" outside quotes, then surrounding quotes. */
static char *yaml_scalar(char *s)
{
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
        } else if (*p == '"' || *p == '\'') {
            q = *p;
        } else if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Splits "key: value" / "key:"; returns false when the text is not a mapping entry. */
static bool yaml_split_key(char *s, char **key, char **value)
{
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            q = *p;
            continue;
        }
        if (*p == '[' || *p == '{')
            return false; /* a flow collection, not a key */
        if (*p == ':' && (p[1] == '\0' || p[1] == ' ' || p[1] == '\t')) {
            *p = '\0';
            *key = yaml_scalar(s);
            *value = yaml_scalar(p + 1);
            return **key != '\0';
        }
    }
    return false;
}

struct yframe {
    int indent;
    bool item;
    char key[128];
};

static void frames_path(const struct yframe *st, int depth, const char *leaf, char *out, size_t n)
{
    out[0] = '\0';
    size_t len = 0;
    for (int i = 0; i <= depth; i++) {
        const char *k = i < depth ? st[i].key : leaf;
        if (!k)
            break;
        bool brackets = strcmp(k, "[]") == 0;
        int w = snprintf(out + len, n - len, "%s%s", (len && !brackets) ? "." : "", k);
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
}

static bool yaml_parse(const char *text, struct ydoc *d)
{
    struct yframe st[32];
    int depth = 0, lineno = 0;
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        BAIL_OUT("out of memory");
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++; /* blank lines are skipped by strtok: numbers are approximate */
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        char *s = trim(line + indent);
        if (*s == '\0' || *s == '#' || strcmp(s, "---") == 0)
            continue;
        if (line[indent] == '\t')
            return false; /* YAML forbids tabs in indentation */
        char path[256], *key, *value;
        if (s[0] == '-' && (s[1] == ' ' || s[1] == '\0')) {
            /* A sequence item; may sit at its parent key's indentation. */
            while (depth > 0 && (st[depth - 1].indent > indent ||
                                 (st[depth - 1].indent == indent && st[depth - 1].item)))
                depth--;
            char *rest = trim(s + 1);
            if (depth >= 30)
                return false;
            st[depth].indent = indent;
            st[depth].item = true;
            copy_str(st[depth].key, sizeof(st[depth].key), "[]");
            if (yaml_split_key(rest, &key, &value)) {
                /* "- key: value": a mapping inside the item. */
                frames_path(st, depth + 1, NULL, path, sizeof(path));
                ydoc_add(d, path, "", lineno);
                depth++;
                int child = indent + 2;
                frames_path(st, depth, key, path, sizeof(path));
                ydoc_add(d, path, value, lineno);
                if (*value == '\0') {
                    st[depth].indent = child;
                    st[depth].item = false;
                    copy_str(st[depth].key, sizeof(st[depth].key), key);
                    depth++;
                }
            } else {
                frames_path(st, depth, "[]", path, sizeof(path));
                ydoc_add(d, path, yaml_scalar(rest), lineno);
            }
            continue;
        }
        if (!yaml_split_key(s, &key, &value))
            return false;
        while (depth > 0 && st[depth - 1].indent >= indent)
            depth--;
        frames_path(st, depth, key, path, sizeof(path));
        ydoc_add(d, path, value, lineno);
        if (*value == '\0' || strcmp(value, "|") == 0 || strcmp(value, ">") == 0) {
            if (depth >= 30)
                return false;
            st[depth].indent = indent;
            st[depth].item = false;
            copy_str(st[depth].key, sizeof(st[depth].key), key);
            depth++;
        }
    }
    free(copy);
    return true;
}

static const char *yget(const struct ydoc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *yget(const struct ydoc *d, const char *fmt, ...)
{
    char path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].path, path) == 0)
            return d->e[i].value;
    return NULL;
}

/* The direct children keys of `parent` ("services" -> "db", "stakha-lever"). */
static size_t ychildren(const struct ydoc *d, const char *parent, char out[][128], size_t max)
{
    size_t plen = strlen(parent), n = 0;
    for (size_t i = 0; i < d->n && n < max; i++) {
        const char *p = d->e[i].path;
        if (strncmp(p, parent, plen) != 0 || p[plen] != '.')
            continue;
        const char *k = p + plen + 1;
        if (strchr(k, '.') || strchr(k, '['))
            continue;
        out[n][0] = '\0';
        copy_str(out[n], 128, k);
        n++;
    }
    return n;
}

/* A service's environment as NAME=value pairs, map or list form. */
struct envvar {
    char name[128];
    char value[512];
    int line;
};

static size_t service_env(const struct ydoc *d, const char *svc, struct envvar *out, size_t max)
{
    char map[256], list[256];
    snprintf(map, sizeof(map), "services.%s.environment.", svc);
    snprintf(list, sizeof(list), "services.%s.environment[]", svc);
    size_t n = 0;
    for (size_t i = 0; i < d->n && n < max; i++) {
        const char *p = d->e[i].path;
        if (strncmp(p, map, strlen(map)) == 0 && !strchr(p + strlen(map), '.')) {
            copy_str(out[n].name, sizeof(out[n].name), p + strlen(map));
            copy_str(out[n].value, sizeof(out[n].value), d->e[i].value);
            out[n++].line = d->e[i].line;
        } else if (strcmp(p, list) == 0) {
            const char *v = d->e[i].value, *eq = strchr(v, '=');
            size_t kl = eq ? (size_t)(eq - v) : strlen(v);
            snprintf(out[n].name, sizeof(out[n].name), "%.*s", (int)kl, v);
            copy_str(out[n].value, sizeof(out[n].value), eq ? eq + 1 : "");
            out[n++].line = d->e[i].line;
        }
    }
    return n;
}

static const char *env_find(const struct envvar *env, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    return NULL;
}

/* ------------------------------------------------------ the binary's settings */

struct setting {
    char name[64];
    char def[256];
    bool secret;
};

static size_t load_settings(const char *bin, struct setting *out, size_t max)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[1024];
    size_t n = 0;
    struct setting *cur = NULL;
    while (fgets(line, sizeof(line), p)) {
        /* "  NAME        meaning" then "              default: X". */
        char *s = line;
        if (s[0] != ' ' || s[1] != ' ')
            continue;
        s = trim(s);
        if (strncmp(s, "default:", 8) == 0) {
            if (cur) {
                copy_str(cur->def, sizeof(cur->def), trim(s + 8));
                cur->secret = strstr(cur->def, "secret") != NULL;
                cur = NULL;
            }
            continue;
        }
        size_t k = 0;
        while (isupper((unsigned char)s[k]) || isdigit((unsigned char)s[k]) || s[k] == '_')
            k++;
        if (k < 3 || (s[k] != ' ' && s[k] != '\0') || n == max)
            continue;
        snprintf(out[n].name, sizeof(out[n].name), "%.*s", (int)k, s);
        out[n].def[0] = '\0';
        out[n].secret = false;
        cur = &out[n++];
    }
    int rc = pclose(p);
    if (rc != 0)
        diag("%s --help: exit status %d", bin, rc);
    return rc == 0 ? n : 0;
}

static const struct setting *setting_find(const struct setting *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

/* ------------------------------------------------------------- Dockerfile */

struct dinstr {
    char op[16]; /* upper case */
    char *args;  /* continuation lines joined */
    int stage;   /* index of the FROM it follows, -1 before any */
};

struct dstage {
    char image[128];
    char name[64];
};

struct dfile {
    struct dinstr ins[256];
    size_t n;
    struct dstage stages[8];
    int nstages;
};

static bool dockerfile_parse(char *text, struct dfile *df)
{
    df->n = 0;
    df->nstages = 0;
    char *save = NULL, *acc = NULL;
    size_t acclen = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *s = trim(line);
        if (*s == '#' || (*s == '\0' && !acc))
            continue; /* comments are dropped, also inside continuations */
        size_t l = strlen(s);
        bool cont = l && s[l - 1] == '\\';
        if (cont)
            s[--l] = '\0';
        char *nb = realloc(acc, acclen + l + 2);
        if (!nb)
            BAIL_OUT("out of memory");
        acc = nb;
        memcpy(acc + acclen, s, l);
        acclen += l;
        acc[acclen++] = ' ';
        acc[acclen] = '\0';
        if (cont)
            continue;
        char *a = trim(acc);
        size_t k = 0;
        while (a[k] && !isspace((unsigned char)a[k]))
            k++;
        if (df->n == sizeof(df->ins) / sizeof(df->ins[0]) || k >= sizeof(df->ins[0].op))
            return false;
        struct dinstr *in = &df->ins[df->n++];
        for (size_t i = 0; i < k; i++)
            in->op[i] = (char)toupper((unsigned char)a[i]);
        in->op[k] = '\0';
        in->args = strdup(trim(a + k));
        if (!in->args)
            BAIL_OUT("out of memory");
        if (strcmp(in->op, "FROM") == 0) {
            if (df->nstages == 8)
                return false;
            struct dstage *st = &df->stages[df->nstages];
            char img[128] = "", as[8] = "", name[64] = "";
            const char *args = in->args;
            while (strncmp(args, "--", 2) == 0) { /* --platform=... */
                args += strcspn(args, " ");
                args += strspn(args, " ");
            }
            sscanf(args, "%127s %7s %63s", img, as, name);
            copy_str(st->image, sizeof(st->image), img);
            copy_str(st->name, sizeof(st->name), strcasecmp(as, "AS") == 0 ? name : "");
            df->nstages++;
        }
        in->stage = df->nstages - 1;
        acclen = 0;
        acc[0] = '\0';
    }
    free(acc);
    return df->nstages > 0;
}

/* The last value of instruction `op` in `stage` (NULL when absent). */
static const char *df_last(const struct dfile *df, int stage, const char *op)
{
    const char *v = NULL;
    for (size_t i = 0; i < df->n; i++)
        if (df->ins[i].stage == stage && strcmp(df->ins[i].op, op) == 0)
            v = df->ins[i].args;
    return v;
}

/* Dockerfile ENV values: "K=V K2=V2" or the legacy "K V". */
static size_t df_env(const struct dfile *df, int stage, struct envvar *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < df->n; i++) {
        if (df->ins[i].stage != stage || strcmp(df->ins[i].op, "ENV") != 0)
            continue;
        char *copy = strdup(df->ins[i].args), *save = NULL;
        if (!copy)
            BAIL_OUT("out of memory");
        if (!strchr(copy, '=')) {
            char *sp = copy + strcspn(copy, " \t");
            if (*sp)
                *sp++ = '\0';
            if (n < max) {
                copy_str(out[n].name, sizeof(out[n].name), copy);
                copy_str(out[n].value, sizeof(out[n].value), trim(sp));
                out[n++].line = 0;
            }
        } else {
            for (char *t = strtok_r(copy, " \t", &save); t && n < max;
                 t = strtok_r(NULL, " \t", &save)) {
                char *eq = strchr(t, '=');
                if (!eq)
                    continue;
                *eq = '\0';
                copy_str(out[n].name, sizeof(out[n].name), t);
                char *v = eq + 1;
                size_t vl = strlen(v);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v[vl - 1] = '\0';
                    v++;
                }
                copy_str(out[n].value, sizeof(out[n].value), v);
                out[n++].line = 0;
            }
        }
        free(copy);
    }
    return n;
}

/* The top-level directories the Makefile compiles the service from. */
static size_t makefile_source_dirs(char *text, char dirs[][64], size_t max)
{
    static const char *const vars[] = {"SERVER_SRCS", "HANDLER_SRCS", "MAIN_SRC", "MIGRATIONS",
                                       NULL};
    size_t n = 0;
    bool in_var = false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!in_var) {
            for (int v = 0; vars[v]; v++) {
                size_t vl = strlen(vars[v]);
                const char *r = line + vl;
                if (strncmp(line, vars[v], vl) == 0 && (*r == ' ' || *r == ':' || *r == '=')) {
                    in_var = true;
                    line = strchr(line, '=') ? strchr(line, '=') + 1 : line + vl;
                    break;
                }
            }
            if (!in_var)
                continue;
        }
        size_t l = strlen(line);
        bool cont = l && line[l - 1] == '\\';
        char *tsave = NULL;
        for (char *t = strtok_r(line, " \t()\\", &tsave); t;
             t = strtok_r(NULL, " \t()\\", &tsave)) {
            char *slash = strchr(t, '/');
            if (!slash || slash == t || strchr(t, '$'))
                continue;
            *slash = '\0';
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup = dup || strcmp(dirs[i], t) == 0;
            if (!dup && n < max)
                copy_str(dirs[n++], 64, t);
        }
        in_var = cont;
    }
    return n;
}

/* True when a shell command in `run` is `make ... target ...` (the target a
 * word of the make command itself, before any &&, ||, ; or |). */
static bool runs_make_target(const char *run, const char *target)
{
    char *copy = strdup(run), *save = NULL;
    if (!copy)
        BAIL_OUT("out of memory");
    bool in_make = false, found = false, first = true;
    for (char *t = strtok_r(copy, " \t", &save); t && !found; t = strtok_r(NULL, " \t", &save)) {
        if (strcmp(t, "&&") == 0 || strcmp(t, "||") == 0 || strcmp(t, ";") == 0 ||
            strcmp(t, "|") == 0) {
            in_make = false;
            first = true;
            continue;
        }
        if (first)
            in_make = strcmp(t, "make") == 0 || strcmp(t, "/usr/bin/make") == 0;
        else if (in_make)
            found = strcmp(t, target) == 0;
        first = false;
    }
    free(copy);
    return found;
}

/* True when a COPY (not --from) in `stage` brings `dir` into the image. */
static bool df_copies(const struct dfile *df, int stage, const char *dir)
{
    for (size_t i = 0; i < df->n; i++) {
        if (df->ins[i].stage != stage || strcmp(df->ins[i].op, "COPY") != 0 ||
            strstr(df->ins[i].args, "--from"))
            continue;
        char *copy = strdup(df->ins[i].args), *save = NULL;
        if (!copy)
            BAIL_OUT("out of memory");
        char *tok[32];
        int nt = 0;
        for (char *t = strtok_r(copy, " \t", &save); t && nt < 32; t = strtok_r(NULL, " \t", &save))
            if (strncmp(t, "--", 2) != 0)
                tok[nt++] = t;
        bool found = false;
        for (int k = 0; k + 1 < nt && !found; k++) { /* the last token is the destination */
            char *src = tok[k];
            if (strncmp(src, "./", 2) == 0)
                src += 2;
            size_t sl = strlen(src);
            while (sl > 1 && src[sl - 1] == '/')
                src[--sl] = '\0';
            found = strcmp(src, ".") == 0 || strcmp(src, "") == 0 || strcmp(src, dir) == 0;
        }
        free(copy);
        if (found)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ checks */

/* The port of "host:port" (or "[v6]:port"); -1 when there is none. */
static long addr_port(const char *addr)
{
    const char *c = addr ? strrchr(addr, ':') : NULL;
    if (!c || !c[1])
        return -1;
    char *end;
    long p = strtol(c + 1, &end, 10);
    return *end ? -1 : p;
}

/* "8080:8080", "127.0.0.1:8080:8080/tcp", "8080" -> the container port. */
static long published_container_port(const char *spec)
{
    char buf[128];
    copy_str(buf, sizeof(buf), spec);
    buf[strcspn(buf, "/")] = '\0';
    const char *c = strrchr(buf, ':');
    return strtol(c ? c + 1 : buf, NULL, 10);
}

/* postgres://user:password@host:port/db?params */
struct pgurl {
    char user[128], password[128], host[128], db[128];
    long port;
};

static bool parse_pgurl(const char *url, struct pgurl *u)
{
    memset(u, 0, sizeof(*u));
    u->port = 5432;
    const char *p;
    if (strncmp(url, "postgres://", 11) == 0)
        p = url + 11;
    else if (strncmp(url, "postgresql://", 13) == 0)
        p = url + 13;
    else
        return false;
    const char *at = strchr(p, '@');
    if (!at)
        return false;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon)
        return false;
    snprintf(u->user, sizeof(u->user), "%.*s", (int)(colon - p), p);
    snprintf(u->password, sizeof(u->password), "%.*s", (int)(at - colon - 1), colon + 1);
    const char *h = at + 1, *slash = strchr(h, '/');
    if (!slash)
        return false;
    const char *hc = memchr(h, ':', (size_t)(slash - h));
    snprintf(u->host, sizeof(u->host), "%.*s", (int)((hc ? hc : slash) - h), h);
    if (hc)
        u->port = strtol(hc + 1, NULL, 10);
    snprintf(u->db, sizeof(u->db), "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    return u->user[0] && u->host[0] && u->db[0];
}

/* "${NAME...}" exactly (one interpolation, no literal around it): the
 * variable's name in `name`, what follows it (":?msg", ":-def", "") in `rest`. */
static bool interpolation_only(const char *v, char *name, size_t nn, char *rest, size_t rn)
{
    size_t l = strlen(v);
    if (l < 4 || strncmp(v, "${", 2) != 0 || v[l - 1] != '}' || strchr(v + 2, '$'))
        return false;
    size_t k = strspn(v + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    snprintf(name, nn, "%.*s", (int)k, v + 2);
    snprintf(rest, rn, "%.*s", (int)(l - 3 - k), v + 2 + k);
    return k > 0 && !strchr(rest, '}');
}

static void check_paths(const struct ydoc *y, char services[][128], size_t nsvc)
{
    char named[16][128];
    size_t nnamed = ychildren(y, "volumes", named, 16);
    for (size_t s = 0; s < nsvc; s++) {
        const char *svc = services[s];
        const char *ctx = yget(y, "services.%s.build.context", svc);
        if (!ctx) {
            const char *b = yget(y, "services.%s.build", svc);
            ctx = (b && *b) ? b : NULL;
        }
        if (ctx) {
            char dir[512], file[1024];
            join_path(dir, sizeof(dir), COMPOSE_DIR, ctx);
            ok(path_exists(dir, true), "%s: build context %s exists (%s)", svc, ctx, dir);
            const char *dfn = yget(y, "services.%s.build.dockerfile", svc);
            if (!dfn)
                dfn = "Dockerfile";
            join_path(file, sizeof(file), dir, dfn);
            ok(path_exists(file, false), "%s: dockerfile %s exists (%s)", svc, dfn, file);
        }
        for (size_t i = 0; i < y->n; i++) {
            char vol[256], envf[256], src[256];
            snprintf(vol, sizeof(vol), "services.%s.volumes[]", svc);
            snprintf(envf, sizeof(envf), "services.%s.env_file", svc);
            const char *p = y->e[i].path, *v = y->e[i].value;
            src[0] = '\0';
            bool bind = false;
            if (strcmp(p, vol) == 0 && *v) { /* short syntax source:target[:mode] */
                snprintf(src, sizeof(src), "%.*s", (int)strcspn(v, ":"), v);
                bind = src[0] == '.' || src[0] == '/' || src[0] == '~';
            } else if (strncmp(p, vol, strlen(vol)) == 0 &&
                       strcmp(p + strlen(vol), ".source") == 0) {
                copy_str(src, sizeof(src), v);
                bind = src[0] == '.' || src[0] == '/' || src[0] == '~';
            } else if ((strcmp(p, envf) == 0 && *v) ||
                       (strncmp(p, envf, strlen(envf)) == 0 &&
                        strcmp(p + strlen(envf), "[]") == 0) ||
                       (strncmp(p, envf, strlen(envf)) == 0 &&
                        strcmp(p + strlen(envf), "[].path") == 0)) {
                copy_str(src, sizeof(src), v);
                bind = true;
            } else {
                continue;
            }
            if (!src[0])
                continue;
            if (bind) {
                char full[512];
                join_path(full, sizeof(full), COMPOSE_DIR, src);
                ok(src[0] != '~' && path_exists(full, false), "%s: path %s exists (%s)", svc, src,
                   full);
            } else {
                bool declared = false;
                for (size_t k = 0; k < nnamed; k++)
                    declared = declared || strcmp(named[k], src) == 0;
                ok(declared, "%s: named volume %s is declared under top-level volumes", svc, src);
            }
        }
    }
    /* Top-level secrets/configs backed by files. */
    static const char *const tops[] = {"secrets", "configs"};
    for (int t = 0; t < 2; t++) {
        char names[16][128];
        size_t n = ychildren(y, tops[t], names, 16);
        for (size_t i = 0; i < n; i++) {
            const char *f = yget(y, "%s.%s.file", tops[t], names[i]);
            if (!f)
                continue;
            char full[512];
            join_path(full, sizeof(full), COMPOSE_DIR, f);
            ok(path_exists(full, false), "%s.%s: file %s exists", tops[t], names[i], f);
        }
    }
}

int main(void)
{
    plan_lazy();
    const char *bin = getenv("SL_TEST_BIN");
    if (!bin || !*bin)
        bin = "build/stakha-lever";

    static struct setting settings[128];
    size_t nsettings = load_settings(bin, settings, 128);
    if (nsettings < 5)
        BAIL_OUT("cannot read the settings from `%s --help` (build it first)", bin);
    ok(setting_find(settings, nsettings, "DATABASE_URL") &&
           setting_find(settings, nsettings, "SL_HTTP_ADDR"),
       "--help lists %zu settings, DATABASE_URL and SL_HTTP_ADDR among them", nsettings);

    /* ---- compose ---- */
    char *ytext = read_file(COMPOSE);
    if (!ytext)
        BAIL_OUT("cannot read %s (run from the repository root)", COMPOSE);
    static struct ydoc y;
    if (!yaml_parse(ytext, &y))
        BAIL_OUT("%s: not in the block-style YAML this test reads", COMPOSE);

    char services[16][128];
    size_t nsvc = ychildren(&y, "services", services, 16);
    const char *dbsvc = NULL, *app = NULL;
    for (size_t i = 0; i < nsvc; i++) {
        const char *img = yget(&y, "services.%s.image", services[i]);
        if (img && strncmp(img, "postgres:", 9) == 0)
            dbsvc = services[i];
        if (yget(&y, "services.%s.build", services[i]))
            app = services[i];
    }
    ok(dbsvc != NULL, "a PostgreSQL service (image postgres:*)");
    ok(app != NULL, "a service built from the repository");
    if (!dbsvc || !app)
        BAIL_OUT("compose services not found");
    is_str(yget(&y, "services.%s.image", dbsvc), "postgres:15", "db image is postgres:15");

    check_paths(&y, services, nsvc);

    /* DATABASE_URL against the db service. */
    static struct envvar dbenv[64], appenv[64];
    size_t ndbenv = service_env(&y, dbsvc, dbenv, 64);
    size_t nappenv = service_env(&y, app, appenv, 64);
    const char *url = env_find(appenv, nappenv, "DATABASE_URL");
    struct pgurl u;
    ok(url && parse_pgurl(url, &u),
       "%s: DATABASE_URL is a postgres:// URL with user, password, "
       "host and database",
       app);
    if (url && parse_pgurl(url, &u)) {
        const char *pu = env_find(dbenv, ndbenv, "POSTGRES_USER");
        const char *pp = env_find(dbenv, ndbenv, "POSTGRES_PASSWORD");
        const char *pd = env_find(dbenv, ndbenv, "POSTGRES_DB");
        if (!pu)
            pu = "postgres"; /* the image's defaults */
        if (!pd)
            pd = pu;
        is_str(u.host, dbsvc, "DATABASE_URL host is the db service");
        is_int(u.port, 5432, "DATABASE_URL port is the db's 5432");
        is_str(u.user, pu, "DATABASE_URL user is the db's POSTGRES_USER");
        is_str(u.password, pp, "DATABASE_URL password is the db's POSTGRES_PASSWORD");
        is_str(u.db, pd, "DATABASE_URL database is the db's POSTGRES_DB");
    }
    is_str(yget(&y, "services.%s.depends_on.%s.condition", app, dbsvc), "service_healthy",
           "%s waits for %s to be healthy", app, dbsvc);
    const char *hc = yget(&y, "services.%s.healthcheck.test", dbsvc);
    ok(hc && strstr(hc, "pg_isready"), "%s healthcheck runs pg_isready", dbsvc);

    /* SL_* settings. */
    size_t nsl = 0;
    for (size_t i = 0; i < nappenv; i++) {
        const char *name = appenv[i].name, *v = appenv[i].value;
        if (strncmp(name, "SL_", 3) != 0)
            continue;
        nsl++;
        const struct setting *s = setting_find(settings, nsettings, name);
        ok(s != NULL, "compose sets %s, a setting of the binary", name);
        char ref[128], rest[256];
        bool interp = interpolation_only(v, ref, sizeof(ref), rest, sizeof(rest));
        if (s && s->secret &&
            !ok(interp && strcmp(ref, name) == 0 && strncmp(rest, ":-", 2) != 0 &&
                    strncmp(rest, "-", 1) != 0,
                "secret %s comes only from the caller's environment", name))
            diag("  want ${%s:?message}, got %s (line %d)", name, v, appenv[i].line);
        else if (s && interp && strcmp(ref, name) == 0 && strncmp(rest, ":-", 2) == 0)
            is_str(rest + 2, s->def, "%s: compose's fallback is the binary's default", name);
    }
    ok(nsl > 0, "compose sets SL_* settings (%zu)", nsl);

    /* ---- Dockerfile ---- */
    char *dtext = read_file(DOCKERFILE);
    if (!dtext)
        BAIL_OUT("cannot read %s", DOCKERFILE);
    static struct dfile df;
    if (!dockerfile_parse(dtext, &df))
        BAIL_OUT("%s: no stage found", DOCKERFILE);
    int rt = df.nstages - 1;
    ok(df.nstages >= 2, "Dockerfile is multi-stage (%d stages)", df.nstages);
    is_str(df.stages[rt].image, "debian:12-slim", "runtime stage is debian:12-slim");

    const char *user = df_last(&df, rt, "USER");
    ok(user && strcmp(user, "root") != 0 && strcmp(user, "0") != 0 &&
           strncmp(user, "root:", 5) != 0 && strncmp(user, "0:", 2) != 0,
       "runtime stage runs as a non-root USER (%s)", user ? user : "none");
    const char *health = df_last(&df, rt, "HEALTHCHECK");
    ok(health && strstr(health, "/health") && strncasecmp(health, "NONE", 4) != 0,
       "runtime HEALTHCHECK requests /health");
    const char *entry = df_last(&df, rt, "ENTRYPOINT");
    ok(entry && strstr(entry, "stakha-lever"), "ENTRYPOINT runs stakha-lever");

    int build = -1;
    for (size_t i = 0; i < df.n; i++)
        if (df.ins[i].stage >= 0 && df.ins[i].stage < rt && strcmp(df.ins[i].op, "RUN") == 0 &&
            runs_make_target(df.ins[i].args, "build/stakha-lever"))
            build = df.ins[i].stage;
    ok(build >= 0, "a build stage runs make build/stakha-lever");
    if (build >= 0) {
        bool copied = false;
        char from_name[80], from_idx[32];
        snprintf(from_name, sizeof(from_name), "--from=%s ", df.stages[build].name);
        snprintf(from_idx, sizeof(from_idx), "--from=%d ", build);
        for (size_t i = 0; i < df.n; i++)
            if (df.ins[i].stage == rt && strcmp(df.ins[i].op, "COPY") == 0 &&
                (strstr(df.ins[i].args, from_idx) ||
                 (df.stages[build].name[0] && strstr(df.ins[i].args, from_name))) &&
                strstr(df.ins[i].args, "build/stakha-lever"))
                copied = true;
        ok(copied, "runtime stage copies build/stakha-lever from the build stage");

        char *mtext = read_file(MAKEFILE);
        if (!mtext)
            BAIL_OUT("cannot read %s", MAKEFILE);
        char dirs[16][64];
        size_t ndirs = makefile_source_dirs(mtext, dirs, 16);
        ok(ndirs >= 2, "Makefile names the service's source directories (%zu)", ndirs);
        ok(df_copies(&df, build, "Makefile"), "build stage copies the Makefile");
        for (size_t i = 0; i < ndirs; i++)
            ok(df_copies(&df, build, dirs[i]), "build stage copies %s/ (Makefile sources)",
               dirs[i]);
        free(mtext);
    }

    static struct envvar denv[64];
    size_t ndenv = df_env(&df, rt, denv, 64);
    for (size_t i = 0; i < ndenv; i++)
        if (strncmp(denv[i].name, "SL_", 3) == 0)
            ok(setting_find(settings, nsettings, denv[i].name) != NULL,
               "Dockerfile ENV %s is a setting of the binary", denv[i].name);

    /* Ports: published container port == SL_HTTP_ADDR's port, EXPOSEd. */
    const char *addr = env_find(appenv, nappenv, "SL_HTTP_ADDR");
    if (!addr)
        addr = env_find(denv, ndenv, "SL_HTTP_ADDR");
    long port = addr_port(addr);
    ok(addr && port > 0 && strncmp(addr, "127.", 4) != 0,
       "SL_HTTP_ADDR (%s) listens beyond the container's loopback", addr ? addr : "unset");
    size_t nports = 0;
    for (size_t i = 0; i < y.n; i++) {
        char pp[256];
        snprintf(pp, sizeof(pp), "services.%s.ports[]", app);
        if (strcmp(y.e[i].path, pp) != 0)
            continue;
        nports++;
        is_int(published_container_port(y.e[i].value), port,
               "published %s targets the SL_HTTP_ADDR port", y.e[i].value);
    }
    ok(nports > 0, "%s publishes a port", app);
    const char *expose = df_last(&df, rt, "EXPOSE");
    ok(expose && strtol(expose, NULL, 10) == port, "EXPOSE %s is the SL_HTTP_ADDR port",
       expose ? expose : "(none)");

    for (size_t i = 0; i < df.n; i++)
        free(df.ins[i].args);
    free(dtext);
    free(y.e);
    free(ytext);
    return done_testing();
}
