// core.c — errors, checked allocation, strings, numbers, half floats, RNG, files.
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

// ---- errors ----
static _Thread_local char err_buf[4096];
static _Thread_local char hint_buf[1024];

int err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    hint_buf[0] = 0;
    return -1;
}

int err_prefix(const char *fmt, ...) {
    char pre[1024], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err_buf - 3) n = sizeof err_buf - 3;
    memcpy(err_buf, pre, n);
    memcpy(err_buf + n, ": ", 2);
    size_t rest = sizeof err_buf - n - 3, m = strlen(old);
    if (m > rest) m = rest;
    memcpy(err_buf + n + 2, old, m);
    err_buf[n + 2 + m] = 0;
    return -1;
}

void err_hint(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint_buf, sizeof hint_buf, fmt, ap);
    va_end(ap);
}

const char *err_msg(void) { return err_buf; }
const char *err_hint_msg(void) { return hint_buf; }
void err_clear(void) { err_buf[0] = hint_buf[0] = 0; }

void lorac_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "lorac: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

// ---- allocation ----
static _Noreturn void oom(size_t n) {
    fprintf(stderr, "lorac: error: out of memory allocating %zu bytes\n", n);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) oom(SIZE_MAX);
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void *xmalloc_aligned(size_t alignment, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, alignment, n ? n : alignment)) oom(n);
    return p;
}

// ---- strbuf ----
void sb_init(strbuf *sb) {
    sb->cap = 64;
    sb->len = 0;
    sb->buf = xmalloc(sb->cap);
    sb->buf[0] = 0;
}

void sb_release(strbuf *sb) {
    if (!sb) return;
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

static void sb_grow(strbuf *sb, size_t extra) {
    if (sb->len + extra + 1 <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1) cap *= 2;
    sb->buf = xrealloc(sb->buf, cap);
    sb->cap = cap;
}

void sb_append(strbuf *sb, const char *s, size_t n) {
    sb_grow(sb, n);
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = 0;
}

void sb_puts(strbuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }
void sb_putc(strbuf *sb, char c) { sb_append(sb, &c, 1); }

void sb_printf(strbuf *sb, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_grow(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
}

char *sb_detach(strbuf *sb) {
    char *p = sb->buf;
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return p;
}

// ---- suggestions ----
size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xmalloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

const char *closest_match(const char *word, const char *const *cands, size_t n) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(word) / 3;
    if (limit < 2) limit = 2;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        // a candidate that contains the word (or vice versa) is a good guess too
        if (d > limit && (strstr(cands[i], word) || strstr(word, cands[i])) && strlen(word) >= 3)
            d = limit;
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

// ---- numbers ----
int parse_int64(const char *s, int64_t *out, const char *what) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return err_set("%s: expected an integer, got '%s'", what, s);
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out, const char *what) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return err_set("%s: expected a number, got '%s'", what, s);
    *out = v;
    return 0;
}

const char *fmt_bytes(char *buf, size_t bufsz, double b) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000.0 && i < 4) b /= 1000.0, i++;
    snprintf(buf, bufsz, i ? "%.2f %s" : "%.0f %s", b, u[i]);
    return buf;
}

const char *fmt_count(char *buf, size_t bufsz, double n) {
    if (n >= 1e9) snprintf(buf, bufsz, "%.2fB", n / 1e9);
    else if (n >= 1e6) snprintf(buf, bufsz, "%.1fM", n / 1e6);
    else if (n >= 1e3) snprintf(buf, bufsz, "%.1fK", n / 1e3);
    else snprintf(buf, bufsz, "%.0f", n);
    return buf;
}

const char *fmt_duration(char *buf, size_t bufsz, double s) {
    if (s < 90) snprintf(buf, bufsz, "%.0f s", s);
    else if (s < 5400) snprintf(buf, bufsz, "%.1f min", s / 60);
    else snprintf(buf, bufsz, "%.1f h", s / 3600);
    return buf;
}

// ---- half precision ----
float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { // subnormal: normalise
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00;         // NaN
    if (abs >= 0x477ff000u) return sign | 0x7c00;        // overflow (>= 65520) -> inf
    if (abs < 0x38800000u) {                             // subnormal or zero in f16
        if (abs < 0x33000000u) return sign;              // < 2^-25 rounds to 0
        uint32_t e = abs >> 23, m = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                        // 14 + (113 - e) ... = bits to drop
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1); // round mantissa to 10 bits, ties to even
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

// ---- RNG ----
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(rng_state *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng_state *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(rng_state *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float rng_normal(rng_state *r) {
    // Box-Muller on doubles for accuracy; one value per call keeps the stream simple
    double u1 = ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

// ---- process ----
double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss * 1024.0; // Linux reports KiB
}

// ---- files ----
int file_read_all(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", path, strerror(errno));
    strbuf sb;
    sb_init(&sb);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) sb_append(&sb, tmp, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sb_release(&sb);
        return err_set("%s: read error", path);
    }
    if (len) *len = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return err_set("%s: %s", path, strerror(errno));
    return (int64_t)st.st_size;
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/') return xasprintf("%s%s", dir, name);
    return xasprintf("%s/%s", dir, name);
}

int mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            err_set("%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = err_set("%s: cannot create directory: %s", p, strerror(errno));
    else if (!dir_exists(p)) rc = err_set("%s: exists and is not a directory", p);
    free(p);
    return rc;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int rm_rf(const char *path) {
    if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return err_set("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int mf_open(mapped_file *mf, const char *path) {
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set("%s: not a regular file", path);
    }
    mf->size = (size_t)st.st_size;
    if (mf->size) {
        void *p = mmap(NULL, mf->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return err_set("%s: cannot map %zu bytes: %s", path, mf->size, strerror(errno));
        }
        mf->data = p;
    }
    close(fd);
    mf->path = xstrdup(path);
    return 0;
}

void mf_release(mapped_file *mf) {
    if (!mf) return;
    if (mf->data) munmap((void *)mf->data, mf->size);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

int af_open(atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    af->tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        err_set("%s: cannot create: %s", af->tmp, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        return -1;
    }
    af->path = xstrdup(path);
    return 0;
}

int af_write(atomic_file *af, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, af->f) != n) return err_set("%s: write failed: %s", af->tmp, strerror(errno));
    return 0;
}

static void af_free(atomic_file *af) {
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

int af_commit(atomic_file *af) {
    int rc = 0;
    if (fclose(af->f) != 0) rc = err_set("%s: write failed: %s", af->tmp, strerror(errno));
    af->f = NULL;
    if (rc == 0 && rename(af->tmp, af->path) != 0)
        rc = err_set("%s: cannot rename into place: %s", af->path, strerror(errno));
    if (rc) remove(af->tmp);
    af_free(af);
    return rc;
}

void af_abort(atomic_file *af) {
    if (!af || !af->tmp) return;
    if (af->f) fclose(af->f);
    remove(af->tmp);
    af_free(af);
}

int path_check_new(const char *path, int force) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (force && S_ISREG(st.st_mode)) return 0; // the atomic rename replaces it
    err_set("%s: already exists%s", path, S_ISREG(st.st_mode) ? "" : " and is not a file");
    if (!force) err_hint("choose another path, or pass --force to replace it");
    return -1;
}

int ad_open(atomic_dir *d, const char *path, int force) {
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(path, &st) == 0 && (!force || !S_ISDIR(st.st_mode))) {
        err_set("%s: already exists%s", path, S_ISDIR(st.st_mode) ? "" : " and is not a directory");
        if (!force && S_ISDIR(st.st_mode)) err_hint("choose another path, or pass --force to replace it");
        return -1;
    }
    d->tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    rm_rf(d->tmp);
    if (mkdir_p(d->tmp)) {
        free(d->tmp);
        d->tmp = NULL;
        return -1;
    }
    d->path = xstrdup(path);
    d->force = force;
    return 0;
}

static void ad_free(atomic_dir *d) {
    free(d->path);
    free(d->tmp);
    memset(d, 0, sizeof *d);
}

int ad_commit(atomic_dir *d) {
    int rc = 0;
    if (dir_exists(d->path)) {
        if (!d->force) rc = err_set("%s: appeared while it was being written", d->path);
        char *old = xasprintf("%s.old.%d", d->path, (int)getpid());
        if (rc == 0 && rename(d->path, old) != 0) rc = err_set("%s: cannot move aside: %s", d->path, strerror(errno));
        if (rc == 0 && rename(d->tmp, d->path) != 0) {
            rc = err_set("%s: cannot rename into place: %s", d->path, strerror(errno));
            rename(old, d->path);
        }
        if (rc == 0) rm_rf(old);
        free(old);
    } else if (rename(d->tmp, d->path) != 0) {
        rc = err_set("%s: cannot rename into place: %s", d->path, strerror(errno));
    }
    if (rc) rm_rf(d->tmp);
    ad_free(d);
    return rc;
}

void ad_abort(atomic_dir *d) {
    if (!d || !d->tmp) return;
    rm_rf(d->tmp);
    ad_free(d);
}

int file_write_atomic(const char *path, const void *data, size_t n) {
    atomic_file af;
    if (af_open(&af, path)) return -1;
    if (af_write(&af, data, n)) {
        af_abort(&af);
        return -1;
    }
    return af_commit(&af);
}

int file_copy(const char *src, const char *dst) {
    char *buf;
    size_t n;
    if (file_read_all(src, &buf, &n)) return -1;
    int rc = file_write_atomic(dst, buf, n);
    free(buf);
    return rc;
}
