// sampler.h — next-token sampling with mlx-lm's flags and semantics.
//
// One sampler per generation stream. The caller feeds every prompt token and
// every generated token through sampler_accept (they form the penalty window),
// and calls sampler_sample once per step on the model's last-position logits.
// The sampler is a heap handle the caller owns (sampler_new / sampler_free); its
// scratch (a few vocab-sized arrays) is allocated once, so a step allocates nothing.
//
// Order of application, as in mlx-lm 0.32 (generate_step, make_logits_processors,
// make_sampler; checked against its own functions by tests/ref/make_sampler_goldens.py):
//
//  1. Logits processors on the raw logits, in this order, over the penalty window
//     (the last repetition_context_size tokens accepted, prompt tokens included):
//       a. repetition penalty (CTRL, Keskar et al. 2019): for each DISTINCT token in
//          the window, logit < 0 -> logit * penalty, else logit / penalty. A token
//          repeated in the window is penalised once (mlx-lm gathers, rewrites and
//          scatters the selected logits, so duplicates write the same value).
//       b. presence penalty: logit -= presence_penalty, once per distinct token
//          (mlx-lm's `logits[:, tokens] -= p` is also a gather/scatter).
//       c. frequency penalty: logit -= frequency_penalty once per OCCURRENCE in
//          the window (mlx-lm's scatter-add `.at[].subtract`), subtracted one
//          occurrence at a time in float, as mlx-lm's scatter does.
//     mlx-lm gives presence and frequency their own context sizes (default 20
//     each); lorac uses repetition_context_size for all three.
//  2. temp == 0: argmax of the processed logits, the first maximum on ties (mx.argmax).
//  3. Otherwise the filters run on the log-probabilities at temperature 1, not on
//     the tempered ones, in mlx-lm's chain order:
//       a. top-p (only when 0 < top_p < 1): a token survives when the probability
//          mass of the tokens with a strictly larger logit is < top_p. Tied tokens
//          are kept or dropped together (mlx-lm's threshold on the sorted logprobs).
//          The mass is summed in double; mlx-lm sums in float32, so a token whose
//          mass-above lies within ~1e-5 of top_p may be decided the other way there.
//       b. min-p (only when min_p > 0; min_tokens_to_keep = 1): drop tokens with
//          logprob < max logprob + log(min_p).
//       c. top-k (only when 0 < top_k < number of survivors): keep exactly the k
//          largest; among tokens tied at the k-th value, the lowest ids are kept
//          (mlx-lm leaves that to mx.argpartition, which did the same on CPU in
//          our goldens). mlx-lm rejects top_k >= vocab; lorac treats it as no filter.
//     Then one token is drawn from softmax(survivors' logprobs * (1/temp)), i.e.
//     the temperature only reshapes the survivors' distribution.
//
// The draw: a 53-bit uniform u from a xoshiro256** stream (core.h rng_*) seeded with
// `seed`; the token is the first survivor, in id order, whose running sum of weights
// exceeds u * total. Same seed + same logits + same accepted tokens -> the same
// tokens, bitwise, on any machine, instruction set and thread count: the sampler
// is single-threaded, computes e^x with its own polynomial rather than libm's
// expf, never fuses multiply-adds, and sums in a fixed order. The draws are not mlx's (it uses the
// Gumbel trick on its own PRNG); the distributions are. Weights below ~1e-45 of
// the largest are 0.
//
// Deliberate differences from mlx-lm: repetition_context_size 0 means an empty
// window (no penalty), where Python's tokens[-0:] would mean the whole history;
// repetition_penalty must be > 0 (mlx-lm also accepts 0).
#ifndef LORAC_SAMPLER_H
#define LORAC_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temp;                  // >= 0; 0 = greedy (argmax)
    float top_p;                 // (0, 1]; 1 = off
    float min_p;                 // [0, 1]; 0 = off
    float repetition_penalty;    // > 0; 1 = off
    float presence_penalty;      // finite; 0 = off
    float frequency_penalty;     // finite; 0 = off
    int top_k;                   // >= 0; 0 = off
    int repetition_context_size; // >= 0; window of the last N accepted tokens (default 20)
    uint64_t seed;
} sampler_params;

typedef struct sampler sampler;

// Fill p with mlx-lm's defaults: temp 0, top_p 1, min_p 0, top_k 0, penalties off,
// repetition_context_size 20, seed 0.
void sampler_params_init(sampler_params *p);

// 0 when every field is in range; else -1 with an error naming the flag and the
// value, e.g. "--top-p must be in (0, 1], got 1.5".
int sampler_params_validate(const sampler_params *p);

// NULL (error set) on invalid params or vocab < 1. The caller owns the handle.
sampler *sampler_new(const sampler_params *p, int64_t vocab);
void sampler_free(sampler *s); // accepts NULL

// Append a token (prompt or generated) to the penalty window; the oldest leaves
// once the window holds repetition_context_size tokens. 0 <= token < vocab.
void sampler_accept(sampler *s, int32_t token);
// Empty the penalty window (a new conversation); the random stream continues.
void sampler_reset(sampler *s);

// Apply the penalties (step 1) to logits (vocab) in place.
void sampler_process(sampler *s, float *logits);

// One token id from logits (vocab), which are modified in place by the penalties
// (step 1). Does not accept the token: the caller passes it to sampler_accept.
// -1 (error set) when the logits hold a NaN or no finite maximum.
int32_t sampler_sample(sampler *s, float *logits);

// The distribution sampler_sample would draw from, into probs (vocab): one-hot at
// the argmax for temp 0, zeros for filtered tokens. Processes logits in place like
// sampler_sample but draws nothing (the random stream is untouched). 0, or -1
// (error set) as sampler_sample.
int sampler_probs(sampler *s, float *logits, float *probs);

#endif
