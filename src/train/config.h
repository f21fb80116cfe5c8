// config.h — the training run's configuration: mlx-lm's `lora` YAML, unchanged,
// plus the flat keys people write (lora_rank, lora_alpha, lora_dropout, use_dora,
// epochs) and lorac's own keys; validated, defaults resolved, every value traced
// to where it came from.
//
// Precedence is mlx-lm's: flags > YAML > defaults. The defaults are mlx-lm's
// (mlx_lm/lora.py CONFIG_DEFAULTS, mlx-lm 0.32.2; optimizer defaults from mlx
// 0.32.4's constructors). Use:
//
//     train_config cfg;
//     train_config_init(&cfg);                        // mlx-lm defaults
//     train_config_load_file(&cfg, "run.yaml");       // YAML over defaults
//     train_config_set(&cfg, "learning_rate", "1e-4", "--learning-rate"); // flags
//     train_config_resolve(&cfg);                     // conflicts, derived values
//     train_config_print_notes(&cfg, stderr);         // mappings, warnings
//     ... train ...
//     train_config_release(&cfg);
//
// Every error names where ("run.yaml:7: ..." or "--batch-size: ...") and what was
// expected; unknown keys get the nearest known key. Keys lorac reads but cannot
// honour are either an error (optimizer muon/adafactor, hf_dataset) or a warning
// note saying they have no effect (report_to, trust_remote_code, ...).
//
// Decisions (mlx-lm has no equivalent, or is silent):
//   - null means "not given" (mlx-lm: a null YAML value falls back to the default).
//   - lora_parameters merges over the defaults key by key (mlx-lm replaces the
//     whole map and then fails without scale/dropout).
//   - LoRA scale: lora_parameters.scale is mlx-lm's raw multiplier; alpha (or the
//     flat lora_alpha) gives PEFT's scale = alpha/rank, alpha/sqrt(rank) with
//     use_rslora. Both given in one source must agree (as lorac's own
//     adapter_config.json writes them), otherwise it is an error; a flag beats the
//     YAML. Neither given: mlx-lm's default scale 20.0.
//   - A flat key and its canonical key (lora_rank / lora_parameters.rank) in the
//     same file must agree; epochs and iters in the same file is an error; use_dora
//     contradicting fine_tune_type in the same file is an error. A flag overrides
//     the file's value of either spelling, and a later flag beats an earlier one.
//   - Unknown keys are errors everywhere (top level, lora_parameters,
//     lr_schedule, optimizer_config.<name>), with the nearest key or the
//     PEFT/HF-Trainer name's equivalent ("did you mean 'lora_rank'?").
//   - optimizer_config.<name>.bias_correction defaults to false, as mlx's Adam
//     and AdamW do (PyTorch always corrects): set it to true to match PyTorch.
//   - A key repeated in one YAML mapping is an error (PyYAML keeps the last).
//   - Quoted numbers and booleans are accepted for numeric/boolean keys, and
//     integral reals for integer keys (iters: 1e3).
//   - Paths starting with "~/" are expanded; relative paths stay relative to the
//     working directory, as in mlx-lm.
//   - iters counts batches of batch_size (as mlx-lm: one optimizer update every
//     grad_accumulation_steps of them); epochs: E gives
//     iters = ceil(E * train examples / batch_size) (train_config_iters).
//   - val_batches: 0 skips validation; valid.jsonl missing is a warning, as in
//     mlx-lm, unless early stopping needs it.
//
// Ownership: a train_config owns every string, note and JSON value in it;
// train_config_release frees them. train_config_to_json returns a new reference.
#ifndef LORAC_TRAIN_CONFIG_H
#define LORAC_TRAIN_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { FT_LORA, FT_DORA, FT_FULL } train_ft_type;

// The names mlx-lm accepts. lorac implements adam, adamw and sgd; resolve()
// rejects the others with an error naming the key and line.
typedef enum { OPT_ADAM, OPT_ADAMW, OPT_SGD, OPT_MUON, OPT_ADAFACTOR } train_optimizer;

// lr_schedule.name: mlx.optimizers.schedulers' functions (what mlx-lm's
// build_schedule looks up) plus lorac's "constant" (arguments: [lr]).
typedef enum {
    LRS_NONE, // no lr_schedule: learning_rate is used as is
    LRS_COSINE_DECAY,      // [init, decay_steps, end = 0]
    LRS_LINEAR_SCHEDULE,   // [init, end, steps]
    LRS_EXPONENTIAL_DECAY, // [init, decay_rate]
    LRS_STEP_DECAY,        // [init, decay_rate, step_size]
    LRS_CONSTANT,          // [init]
} train_lr_kind;

// mlx.optimizers.Adam / AdamW keyword arguments (Adam has no weight_decay).
typedef struct {
    double betas[2];     // [0.9, 0.999]
    double eps;          // 1e-8
    double weight_decay; // AdamW 0.01; always 0 for Adam
    int bias_correction; // false (mlx's default)
} train_adam_config;

typedef struct {
    double momentum;     // 0.0
    double weight_decay; // 0.0
    double dampening;    // 0.0
    int nesterov;        // false; needs momentum > 0 and dampening 0
} train_sgd_config;

typedef struct { // parsed and validated; lorac does not implement Muon
    double momentum;     // 0.95
    double weight_decay; // 0.01
    int nesterov;        // true
    int64_t ns_steps;    // 5
} train_muon_config;

typedef struct { // parsed and validated; lorac does not implement Adafactor
    double eps[2];          // [1e-30, 1e-3]
    double clip_threshold;  // 1.0
    double decay_rate;      // -0.8
    double beta_1;          // NAN = None
    double weight_decay;    // 0.0
    int scale_parameter;    // true
    int relative_step;      // true
    int warmup_init;        // false
} train_adafactor_config;

typedef struct {
    train_lr_kind name;
    double arguments[3]; // positional arguments; arguments[0] is the initial lr
    int n_arguments;
    int64_t warmup;      // 0: linear warmup from warmup_init to arguments[0] over this many steps
    double warmup_init;  // 0.0
} train_lr_schedule;

typedef struct {
    int64_t rank;     // 8
    double scale;     // the effective multiplier (resolved): 20.0, or alpha/rank, or alpha/sqrt(rank)
    double alpha;     // NAN when not given
    double dropout;   // 0.0, in [0, 1)
    int use_rslora;   // scale = alpha/sqrt(rank)
    char **keys;      // module paths inside a block ("self_attn.q_proj"); NULL = mlx-lm's default (every linear)
    int n_keys;
} train_lora_params;

typedef struct {
    char *text;  // one line, no trailing newline
    int warning; // 1: a key without effect or a value that was overridden; 0: information
} train_config_note;

// Workflow sections kept opaque for later commands (fuse:, generation:, ...).
typedef enum { TC_SEC_FUSE, TC_SEC_GENERATION, TC_SEC_TEST_PROMPTS, TC_SEC_EVALUATION, TC_SEC_AUDIT, TC_NSECTIONS } train_config_section_id;
// Their YAML names, by id: "fuse", "generation", "test_prompts", "evaluation", "audit".
extern const char *const train_config_section_names[TC_NSECTIONS];

typedef struct train_config_priv train_config_priv; // where each value came from, raw values (private)

typedef struct {
    // ---- mlx-lm's keys (mlx-lm 0.32.2 defaults in the comments) ----
    char *model;                    // "Qwen/Qwen3-0.6b": HF directory, HF repo id, or GGUF file
    int train;                      // false
    train_ft_type fine_tune_type;   // lora
    train_optimizer optimizer;      // adam
    struct {
        train_adam_config adam, adamw;
        train_sgd_config sgd;
        train_muon_config muon;
        train_adafactor_config adafactor;
    } optimizer_config;             // per optimizer; only the chosen one's is used
    char *data;                     // "mlx-community/WikiSQL"; lorac needs a directory
    int64_t seed;                   // 0
    int64_t num_layers;             // 16; -1 = all
    int64_t batch_size;             // 4
    int64_t iters;                  // 1000 (see epochs)
    int64_t val_batches;            // 25; -1 = the whole validation set, 0 = none
    double learning_rate;           // 1e-5 (ignored when lr_schedule is given, as in mlx-lm)
    int64_t steps_per_report;       // 10
    int64_t steps_per_eval;         // 200
    char *resume_adapter_file;      // NULL
    char *adapter_path;             // "adapters"
    int64_t save_every;             // 100
    int test;                       // false
    int64_t test_batches;           // 500; -1 = all
    int64_t max_seq_length;         // 2048
    char *config;                   // the YAML file loaded (mlx-lm's --config); NULL when none
    int grad_checkpoint;            // false
    int64_t grad_accumulation_steps; // 1
    int64_t clear_cache_threshold;  // 0 bytes (MLX allocator; no effect in lorac)
    train_lr_schedule lr_schedule;  // name LRS_NONE
    train_lora_params lora_parameters; // rank 8, dropout 0.0, scale 20.0
    int mask_prompt;                // false
    char *report_to;                // NULL (wandb/swanlab; no effect in lorac)
    char *project_name;             // NULL (no effect in lorac)
    int trust_remote_code;          // false (no effect in lorac)
    // dataset field names mlx-lm's create_dataset reads from the same args
    char *prompt_feature, *completion_feature, *chat_feature, *text_feature; // prompt, completion, messages, text
    char *wandb;                    // older mlx-lm's wandb project key (no effect in lorac)

    // ---- lorac's keys ----
    double epochs;                   // 0 = not given (iters counts); else passes over train.jsonl
    int64_t early_stopping_patience; // 0 = off; else stop after this many evaluations without a new best
    int use_dora;                    // flat key as given (fine_tune_type holds the result)
    int matmul_precision;            // a kernel_precision or TRAIN_MATMUL_AUTO (the default; LORAC_MATMUL sets another)

    json_t *sections[TC_NSECTIONS];  // NULL when absent; the YAML as JSON
    json_t *section_lines[TC_NSECTIONS]; // {"fuse": 12, "fuse.dtype": 13, "test_prompts[0]": 20}

    train_config_note *notes;        // mappings, overrides and warnings, in order
    int n_notes;

    // private
    train_config_priv *priv_;
} train_config;

// ---- lifecycle ----
void train_config_init(train_config *cfg); // mlx-lm's defaults
void train_config_release(train_config *cfg);

// ---- loading ----
// Parse an mlx-lm lora YAML file over cfg. On error cfg may be partly updated.
int train_config_load_file(train_config *cfg, const char *path);
// Same from a string; `name` is used in messages and stored as cfg->config.
int train_config_load_string(train_config *cfg, const char *text, const char *name);

// Set one key from a flag (higher precedence than any file). key: "learning_rate",
// "learning-rate", "--learning-rate", "lora_parameters.rank", or a flat key
// ("lora_rank"). value: the text (parsed as a YAML scalar or flow list for
// non-string keys, so "[0.9, 0.99]" works); NULL for a boolean means true.
// source names the flag in messages ("--learning-rate").
int train_config_set(train_config *cfg, const char *key, const char *value, const char *source);

// Cross-key checks and derived values: conflicts, flat-key/canonical precedence,
// LoRA scale, supported optimizer, schedule arity, no-effect warnings. Call after
// loading and setting; idempotent. Regenerates the notes it adds.
int train_config_resolve(train_config *cfg);

// ---- inspection ----
// 1 when key (any spelling train_config_set accepts) was given in a file or flag.
int train_config_is_set(const train_config *cfg, const char *key);
// "run.yaml:7" / "--iters" for a given key; "default" otherwise. Owned by cfg.
const char *train_config_where(const train_config *cfg, const char *key);

typedef struct {
    const char *name; // "learning_rate", "lora_parameters.rank", "lora_rank", "fuse"
    const char *flag; // "--learning-rate"; NULL when the key is a section only a file gives
    const char *type; // "int", "float", "bool", "string", "path", "choice", "list", "map", "size"
    const char *def;  // default as text ("1e-05", "null")
    const char *help; // one line
    int kind;         // 0 mlx-lm key, 1 lorac key, 2 flat alias, 3 legacy mlx-lm key, 4 section
} train_config_key_info;
// Every key the loader knows, top-level first, then nested; static storage.
const train_config_key_info *train_config_keys(size_t *n);

void train_config_print_notes(const train_config *cfg, FILE *f); // "note: ..." / "warning: ..."

const char *train_ft_type_name(train_ft_type t);
const char *train_optimizer_name(train_optimizer o);
const char *train_lr_kind_name(train_lr_kind k);

// ---- output ----
// The resolved configuration in mlx-lm's adapter_config.json layout (every
// mlx-lm key; lora_parameters with rank/scale/dropout[/keys], null for full)
// plus lorac's keys and the sections. With epochs, "epochs" is written instead
// of "iters" (so it loads back without the epochs/iters conflict); alpha sits
// beside the resolved scale. Loading it back gives the same config.
json_t *train_config_to_json(const train_config *cfg);
// matmul_precision: auto = bf16 products when the trained blocks' weights are
// bf16 and the CPU computes them (AVX-512 BF16 or AMX), else fp32.
#define TRAIN_MATMUL_AUTO 3
// "fp32", "fast", "bf16" or "auto": a matmul_precision value as the YAML spells it.
const char *train_matmul_precision_name(int p);
// Write it atomically, sorted, indent 4 (as mlx-lm's save_config).
int train_config_save_json(const train_config *cfg, const char *path);

// ---- for the trainer ----
// Check the data directory: train.jsonl when training, test.jsonl when testing
// (both non-empty), valid.jsonl when early stopping needs it; a missing
// valid.jsonl otherwise adds a warning note (mlx-lm trains without validation).
int train_config_check_data(train_config *cfg);
// Number of batches to train: iters, or ceil(epochs * n_train / batch_size).
int64_t train_config_iters(const train_config *cfg, int64_t n_train);
// Learning rate for the optimizer update that follows `step` earlier updates,
// as mlx-lm's build_schedule computes it (warmup joined before the schedule).
double train_config_lr(const train_config *cfg, int64_t step);

// Section lookup by name ("fuse"); NULL when absent. *line gets its line (0 if none).
const json_t *train_config_section(const train_config *cfg, const char *name, int *line);

#endif
