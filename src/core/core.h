// core.h — errors, checked allocation, asserts, string helpers, files.
//
// The lowest layer: everything else includes it. Library code reports errors by
// calling err_set() (which returns -1) and returning -1 or NULL; only cli/ turns
// the stored message into an exit code. Strings returned by err_msg() are owned
// by this module and valid until the next err_set() on the same thread.
#ifndef LORAC_CORE_H
#define LORAC_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LORAC_VERSION "0.1.0"

// ---- errors ----
// err_set stores a formatted message (replacing any earlier one) and returns -1.
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// err_prefix prepends "<prefix>: " to the stored message; returns -1.
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// err_hint stores a hint line printed after the error ("hint: ...").
void err_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);   // "" when no error is stored
const char *err_hint_msg(void); // "" when no hint is stored
void err_clear(void);

// ---- asserts that stay on ----
#define LORAC_ASSERT(cond)                                                     \
    do {                                                                       \
        if (!(cond)) lorac_assert_fail(#cond, __FILE__, __LINE__);             \
    } while (0)
_Noreturn void lorac_assert_fail(const char *expr, const char *file, int line);

// ---- checked allocation (exits naming the byte count on failure) ----
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Aligned allocation (alignment a power of two >= sizeof(void*)); free with free().
void *xmalloc_aligned(size_t alignment, size_t n);

// ---- growable string buffer ----
typedef struct {
    char *buf;   // NUL-terminated, owned
    size_t len;
    size_t cap;
} strbuf;
void sb_init(strbuf *sb);
void sb_release(strbuf *sb);
void sb_append(strbuf *sb, const char *s, size_t n);
void sb_puts(strbuf *sb, const char *s);
void sb_putc(strbuf *sb, char c);
void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_detach(strbuf *sb); // caller owns the result; sb is reset

// ---- suggestions ----
// Levenshtein distance between two strings.
size_t edit_distance(const char *a, const char *b);
// Closest candidate to word, or NULL when none is within max(2, len/3) edits.
const char *closest_match(const char *word, const char *const *cands, size_t n);

// ---- numbers ----
// Parse a whole string as a number; return -1 with an error naming `what` on failure.
int parse_int64(const char *s, int64_t *out, const char *what);
int parse_double(const char *s, double *out, const char *what);
// Human-readable byte count ("1.23 GB") into buf.
const char *fmt_bytes(char *buf, size_t bufsz, double bytes);
// Human-readable count ("135.0M", "3.08B") into buf.
const char *fmt_count(char *buf, size_t bufsz, double n);
// "42 s", "12.5 min", "3.2 h"
const char *fmt_duration(char *buf, size_t bufsz, double seconds);

// ---- half precision ----
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f); // round to nearest even; NaN stays NaN
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f); // round to nearest even, IEEE binary16

// ---- random numbers (splitmix64 seeded xoshiro256**) ----
typedef struct {
    uint64_t s[4];
} rng_state;
void rng_seed(rng_state *r, uint64_t seed);
uint64_t rng_next(rng_state *r);
float rng_uniform(rng_state *r); // [0, 1)
float rng_normal(rng_state *r);  // N(0, 1)

// ---- process ----
double now_seconds(void);       // monotonic clock
double peak_rss_bytes(void);    // the process's peak resident set size so far

// ---- files ----
// Whole file into a NUL-terminated heap buffer; -1 with "path: reason" on failure.
int file_read_all(const char *path, char **out, size_t *len);
int file_exists(const char *path);
int dir_exists(const char *path);
int64_t file_size(const char *path); // -1 on failure (error set)
// Join dir and name with one '/'; caller frees.
char *path_join(const char *dir, const char *name);
// mkdir -p; 0 on success.
int mkdir_p(const char *path);
// Remove a directory tree (used to clean temp dirs on failure).
int rm_rf(const char *path);

// Read-only memory map of a whole file.
typedef struct {
    const uint8_t *data; // NULL for an empty file
    size_t size;
    char *path; // owned copy
} mapped_file;
int mf_open(mapped_file *mf, const char *path);
void mf_release(mapped_file *mf);

// Atomic file write: data goes to "<path>.tmp.<pid>", renamed over path on commit.
typedef struct {
    FILE *f;
    char *path;
    char *tmp;
} atomic_file;
int af_open(atomic_file *af, const char *path);
int af_write(atomic_file *af, const void *data, size_t n);
int af_commit(atomic_file *af); // fsync-free flush + rename; releases af
void af_abort(atomic_file *af); // removes the temp file; releases af; NULL-safe
// Atomic directory: everything is written under "<path>.tmp.<pid>" and renamed
// into place by ad_commit. An existing path is an error unless force (then it is
// replaced on commit, never before); ad_abort removes the temp tree. NULL-safe.
typedef struct {
    char *path;
    char *tmp;
    int force;
} atomic_dir;
int ad_open(atomic_dir *d, const char *path, int force);
int ad_commit(atomic_dir *d); // releases d
void ad_abort(atomic_dir *d); // releases d
// A file about to be written: -1 with "path: already exists" (+ a --force hint)
// unless force and it is a regular file (which the atomic rename then replaces).
int path_check_new(const char *path, int force);
// Write a whole buffer atomically.
int file_write_atomic(const char *path, const void *data, size_t n);
// Copy a file atomically.
int file_copy(const char *src, const char *dst);

#endif
