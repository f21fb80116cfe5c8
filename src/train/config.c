// config.c — mlx-lm `lora` YAML (plus lorac's keys) into a train_config.
//
// One table of keys drives everything: the YAML walk (libyaml's document API,
// so every key keeps its line), train_config_set() for flags, the key list for
// help, the type and range checks and their messages. Values land in the
// struct as they are given; train_config_resolve() then applies the rules that
// span keys (flat keys vs canonical ones, epochs vs iters, use_dora vs
// fine_tune_type, LoRA scale vs alpha) and writes the notes the trainer prints.
// Scalars are typed as PyYAML's SafeLoader with mlx-lm's extra float resolver
// types them (YAML 1.1: yes/no/on/off are booleans, 1e-5 is a float).
#include "config.h"

#include "../core/core.h"
#include "../io/yaml.h"
#include "../kernels/kernels.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- keys ----
enum {
    // mlx-lm's keys (mlx_lm/lora.py CONFIG_DEFAULTS and build_parser, mlx-lm 0.32.2)
    K_MODEL, K_TRAIN, K_FINE_TUNE_TYPE, K_OPTIMIZER, K_OPTIMIZER_CONFIG, K_DATA, K_SEED,
    K_NUM_LAYERS, K_BATCH_SIZE, K_ITERS, K_VAL_BATCHES, K_LEARNING_RATE, K_STEPS_PER_REPORT,
    K_STEPS_PER_EVAL, K_RESUME_ADAPTER_FILE, K_ADAPTER_PATH, K_SAVE_EVERY, K_TEST, K_TEST_BATCHES,
    K_MAX_SEQ_LENGTH, K_CONFIG, K_GRAD_CHECKPOINT, K_GRAD_ACCUMULATION_STEPS, K_CLEAR_CACHE_THRESHOLD,
    K_LR_SCHEDULE, K_LORA_PARAMETERS, K_MASK_PROMPT, K_REPORT_TO, K_PROJECT_NAME, K_TRUST_REMOTE_CODE,
    // read by mlx-lm's dataset loader from the same namespace
    K_PROMPT_FEATURE, K_COMPLETION_FEATURE, K_CHAT_FEATURE, K_TEXT_FEATURE, K_HF_DATASET,
    // older mlx-lm releases
    K_WANDB, K_LORA_LAYERS, K_ADAPTER_FILE,
    // lorac
    K_EPOCHS, K_EARLY_STOPPING_PATIENCE, K_USE_RSLORA, K_MATMUL_PRECISION,
    // flat keys
    K_USE_DORA, K_LORA_RANK, K_LORA_ALPHA, K_LORA_DROPOUT,
    // workflow sections (opaque)
    K_SEC_FUSE, K_SEC_GENERATION, K_SEC_TEST_PROMPTS, K_SEC_EVALUATION, K_SEC_AUDIT,
    // nested
    K_LP_KEYS, K_LP_RANK, K_LP_SCALE, K_LP_ALPHA, K_LP_DROPOUT,
    K_LRS_NAME, K_LRS_ARGUMENTS, K_LRS_WARMUP, K_LRS_WARMUP_INIT,
    K_OC_ADAM, K_OC_ADAMW, K_OC_SGD, K_OC_MUON, K_OC_ADAFACTOR,
    K_ADAM_BETAS, K_ADAM_EPS, K_ADAM_BIAS_CORRECTION,
    K_ADAMW_BETAS, K_ADAMW_EPS, K_ADAMW_WEIGHT_DECAY, K_ADAMW_BIAS_CORRECTION,
    K_SGD_MOMENTUM, K_SGD_WEIGHT_DECAY, K_SGD_DAMPENING, K_SGD_NESTEROV,
    K_MUON_MOMENTUM, K_MUON_WEIGHT_DECAY, K_MUON_NESTEROV, K_MUON_NS_STEPS,
    K_AF_EPS, K_AF_CLIP_THRESHOLD, K_AF_DECAY_RATE, K_AF_BETA_1, K_AF_WEIGHT_DECAY,
    K_AF_SCALE_PARAMETER, K_AF_RELATIVE_STEP, K_AF_WARMUP_INIT,
    K_COUNT
};

typedef enum {
    T_STR, T_PATH, T_BOOL, T_INT, T_NUM, T_CHOICE, T_SIZE, T_STRLIST, T_NUMLIST,
    T_MAP,     // a nested map of keys
    T_SECTION, // kept as JSON
    T_REJECT,  // known, not supported: an error when given
} ktype;

typedef enum { R_ANY, R_POS, R_POS_M1, R_NONNEG_M1, R_NONNEG, R_UNIT } krange;

enum { KIND_MLX, KIND_LORAC, KIND_FLAT, KIND_LEGACY, KIND_SECTION };

#define NOFF ((size_t)-1)
#define F(field) offsetof(train_config, field)

typedef struct {
    const char *name; // full dotted name
    int parent;       // enclosing map's key; -1 at top level
    ktype type;
    krange range;
    int target;       // flat/legacy spellings: the key the value lands on; else 0 (see tgt())
    size_t off;       // the field in train_config; NOFF when none
    size_t count_off; // lists: the int count field; NOFF when the length is fixed
    int nmin, nmax;   // list lengths
    const char *choices; // T_CHOICE: space-separated names, in enum order
    int choice_base;     // enum value of the first choice
    int kind;
    const char *def, *help;
    const char *expect; // overrides the expectation derived from type and range
} keydef;

#define TOP -1
static const keydef KEYS[K_COUNT] = {
    [K_MODEL] = {"model", TOP, T_PATH, R_POS, 0, F(model), NOFF, 0, 0, NULL, 0, KIND_MLX, "Qwen/Qwen3-0.6b",
                 "base model: HF directory, HF repo id (local cache) or GGUF file", NULL},
    [K_TRAIN] = {"train", TOP, T_BOOL, R_ANY, 0, F(train), NOFF, 0, 0, NULL, 0, KIND_MLX, "false", "train the adapters", NULL},
    [K_FINE_TUNE_TYPE] = {"fine_tune_type", TOP, T_CHOICE, R_ANY, 0, F(fine_tune_type), NOFF, 0, 0, "lora dora full", FT_LORA,
                          KIND_MLX, "lora", "lora, dora, or full (the last num_layers blocks' weights)", NULL},
    [K_OPTIMIZER] = {"optimizer", TOP, T_CHOICE, R_ANY, 0, F(optimizer), NOFF, 0, 0, "adam adamw sgd muon adafactor", OPT_ADAM,
                     KIND_MLX, "adam", "adam, adamw or sgd (muon and adafactor are mlx-lm's only)", NULL},
    [K_OPTIMIZER_CONFIG] = {"optimizer_config", TOP, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX,
                            "{adam: {}, adamw: {}, muon: {}, sgd: {}, adafactor: {}}", "keyword arguments per optimizer", NULL},
    [K_DATA] = {"data", TOP, T_PATH, R_POS, 0, F(data), NOFF, 0, 0, NULL, 0, KIND_MLX, "mlx-community/WikiSQL",
                "directory with train.jsonl, valid.jsonl, test.jsonl", NULL},
    [K_SEED] = {"seed", TOP, T_INT, R_NONNEG, 0, F(seed), NOFF, 0, 0, NULL, 0, KIND_MLX, "0", "random seed", NULL},
    [K_NUM_LAYERS] = {"num_layers", TOP, T_INT, R_POS_M1, 0, F(num_layers), NOFF, 0, 0, NULL, 0, KIND_MLX, "16",
                      "number of last blocks to fine-tune; -1 for all", NULL},
    [K_BATCH_SIZE] = {"batch_size", TOP, T_INT, R_POS, 0, F(batch_size), NOFF, 0, 0, NULL, 0, KIND_MLX, "4", "minibatch size", NULL},
    [K_ITERS] = {"iters", TOP, T_INT, R_POS, 0, F(iters), NOFF, 0, 0, NULL, 0, KIND_MLX, "1000", "batches to train on", NULL},
    [K_VAL_BATCHES] = {"val_batches", TOP, T_INT, R_NONNEG_M1, 0, F(val_batches), NOFF, 0, 0, NULL, 0, KIND_MLX, "25",
                       "validation batches; -1 for the whole validation set, 0 for none", NULL},
    [K_LEARNING_RATE] = {"learning_rate", TOP, T_NUM, R_POS, 0, F(learning_rate), NOFF, 0, 0, NULL, 0, KIND_MLX, "1e-05",
                         "learning rate (lr_schedule overrides it)", NULL},
    [K_STEPS_PER_REPORT] = {"steps_per_report", TOP, T_INT, R_POS, 0, F(steps_per_report), NOFF, 0, 0, NULL, 0, KIND_MLX, "10",
                            "batches between training-loss reports", NULL},
    [K_STEPS_PER_EVAL] = {"steps_per_eval", TOP, T_INT, R_POS, 0, F(steps_per_eval), NOFF, 0, 0, NULL, 0, KIND_MLX, "200",
                          "batches between validations", NULL},
    [K_RESUME_ADAPTER_FILE] = {"resume_adapter_file", TOP, T_PATH, R_POS, 0, F(resume_adapter_file), NOFF, 0, 0, NULL, 0,
                               KIND_MLX, "null", "adapters (or checkpoint) to resume from", NULL},
    [K_ADAPTER_PATH] = {"adapter_path", TOP, T_PATH, R_ANY, 0, F(adapter_path), NOFF, 0, 0, NULL, 0, KIND_MLX, "adapters",
                        "directory for adapters, checkpoints, adapter_config.json, metrics.jsonl", NULL},
    [K_SAVE_EVERY] = {"save_every", TOP, T_INT, R_POS, 0, F(save_every), NOFF, 0, 0, NULL, 0, KIND_MLX, "100",
                      "batches between checkpoints", NULL},
    [K_TEST] = {"test", TOP, T_BOOL, R_ANY, 0, F(test), NOFF, 0, 0, NULL, 0, KIND_MLX, "false",
                "evaluate test.jsonl (loss, perplexity) after training", NULL},
    [K_TEST_BATCHES] = {"test_batches", TOP, T_INT, R_POS_M1, 0, F(test_batches), NOFF, 0, 0, NULL, 0, KIND_MLX, "500",
                        "test batches; -1 for the whole test set", NULL},
    [K_MAX_SEQ_LENGTH] = {"max_seq_length", TOP, T_INT, R_POS, 0, F(max_seq_length), NOFF, 0, 0, NULL, 0, KIND_MLX, "2048",
                          "longer sequences are truncated", NULL},
    [K_CONFIG] = {"config", TOP, T_PATH, R_POS, 0, F(config), NOFF, 0, 0, NULL, 0, KIND_MLX, "null",
                  "the YAML file to read (a flag; no effect inside a file)", NULL},
    [K_GRAD_CHECKPOINT] = {"grad_checkpoint", TOP, T_BOOL, R_ANY, 0, F(grad_checkpoint), NOFF, 0, 0, NULL, 0, KIND_MLX, "false",
                           "recompute each block's activations in backward", NULL},
    [K_GRAD_ACCUMULATION_STEPS] = {"grad_accumulation_steps", TOP, T_INT, R_POS, 0, F(grad_accumulation_steps), NOFF, 0, 0,
                                   NULL, 0, KIND_MLX, "1", "batches per optimizer update", NULL},
    [K_CLEAR_CACHE_THRESHOLD] = {"clear_cache_threshold", TOP, T_SIZE, R_NONNEG, 0, F(clear_cache_threshold), NOFF, 0, 0,
                                 NULL, 0, KIND_MLX, "0", "MLX allocator cache limit (no effect in lorac)", NULL},
    [K_LR_SCHEDULE] = {"lr_schedule", TOP, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "null",
                       "learning-rate schedule: name, arguments, warmup, warmup_init", NULL},
    [K_LORA_PARAMETERS] = {"lora_parameters", TOP, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX,
                           "{rank: 8, dropout: 0.0, scale: 20.0}", "LoRA keys, rank, scale or alpha, dropout", NULL},
    [K_MASK_PROMPT] = {"mask_prompt", TOP, T_BOOL, R_ANY, 0, F(mask_prompt), NOFF, 0, 0, NULL, 0, KIND_MLX, "false",
                       "loss on the completion only", NULL},
    [K_REPORT_TO] = {"report_to", TOP, T_STR, R_ANY, 0, F(report_to), NOFF, 0, 0, NULL, 0, KIND_MLX, "null",
                     "wandb/swanlab (no effect in lorac: metrics.jsonl instead)", NULL},
    [K_PROJECT_NAME] = {"project_name", TOP, T_STR, R_ANY, 0, F(project_name), NOFF, 0, 0, NULL, 0, KIND_MLX, "null",
                        "wandb/swanlab project (no effect in lorac)", NULL},
    [K_TRUST_REMOTE_CODE] = {"trust_remote_code", TOP, T_BOOL, R_ANY, 0, F(trust_remote_code), NOFF, 0, 0, NULL, 0, KIND_MLX,
                             "false", "run model code from the hub (no effect in lorac)", NULL},
    [K_PROMPT_FEATURE] = {"prompt_feature", TOP, T_STR, R_POS, 0, F(prompt_feature), NOFF, 0, 0, NULL, 0, KIND_MLX, "prompt",
                          "prompt field of completions data", NULL},
    [K_COMPLETION_FEATURE] = {"completion_feature", TOP, T_STR, R_POS, 0, F(completion_feature), NOFF, 0, 0, NULL, 0, KIND_MLX,
                              "completion", "completion field of completions data", NULL},
    [K_CHAT_FEATURE] = {"chat_feature", TOP, T_STR, R_POS, 0, F(chat_feature), NOFF, 0, 0, NULL, 0, KIND_MLX, "messages",
                        "messages field of chat data", NULL},
    [K_TEXT_FEATURE] = {"text_feature", TOP, T_STR, R_POS, 0, F(text_feature), NOFF, 0, 0, NULL, 0, KIND_MLX, "text",
                        "text field of text data", NULL},
    [K_HF_DATASET] = {"hf_dataset", TOP, T_REJECT, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "null",
                      "Hugging Face dataset (not supported by lorac)", NULL},
    [K_WANDB] = {"wandb", TOP, T_STR, R_ANY, 0, F(wandb), NOFF, 0, 0, NULL, 0, KIND_LEGACY, "null",
                 "old mlx-lm: wandb project (no effect in lorac)", NULL},
    [K_LORA_LAYERS] = {"lora_layers", TOP, T_INT, R_POS_M1, K_NUM_LAYERS, F(num_layers), NOFF, 0, 0, NULL, 0, KIND_LEGACY,
                       "16", "old mlx-lm name of num_layers", NULL},
    [K_ADAPTER_FILE] = {"adapter_file", TOP, T_REJECT, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_LEGACY, "null",
                        "old mlx-lm: adapter weights file (use adapter_path)", NULL},
    [K_EPOCHS] = {"epochs", TOP, T_NUM, R_POS, 0, F(epochs), NOFF, 0, 0, NULL, 0, KIND_LORAC, "null",
                  "passes over train.jsonl (instead of iters)", NULL},
    [K_EARLY_STOPPING_PATIENCE] = {"early_stopping_patience", TOP, T_INT, R_NONNEG, 0, F(early_stopping_patience), NOFF, 0, 0,
                                   NULL, 0, KIND_LORAC, "0", "stop after N validations without a new best; 0 = off", NULL},
    [K_USE_RSLORA] = {"use_rslora", TOP, T_BOOL, R_ANY, 0, F(lora_parameters.use_rslora), NOFF, 0, 0, NULL, 0, KIND_LORAC,
                      "false", "rsLoRA: scale = alpha / sqrt(rank)", NULL},
    [K_MATMUL_PRECISION] = {"matmul_precision", TOP, T_CHOICE, R_ANY, 0, F(matmul_precision), NOFF, 0, 0,
                            "fp32 fast bf16 auto", KERNEL_PREC_FP32, KIND_LORAC, "auto",
                            "frozen weights' matmuls: fp32 (exact), bf16 (activations and weights rounded to bf16, sums "
                            "in fp32, as PyTorch's bf16 autocast: ~2x faster on AVX-512 BF16 CPUs), fast (AMX CPUs: "
                            "2-part bf16), auto (bf16 when the weights are bf16 and the CPU has it, else fp32)",
                            NULL},
    [K_USE_DORA] = {"use_dora", TOP, T_BOOL, R_ANY, 0, F(use_dora), NOFF, 0, 0, NULL, 0, KIND_FLAT, "false",
                    "true = fine_tune_type: dora", NULL},
    [K_LORA_RANK] = {"lora_rank", TOP, T_INT, R_POS, K_LP_RANK, F(lora_parameters.rank), NOFF, 0, 0, NULL, 0, KIND_FLAT, "8",
                     "= lora_parameters.rank", NULL},
    [K_LORA_ALPHA] = {"lora_alpha", TOP, T_NUM, R_POS, K_LP_ALPHA, F(lora_parameters.alpha), NOFF, 0, 0, NULL, 0, KIND_FLAT,
                      "null", "= lora_parameters.alpha (scale = alpha / rank)", NULL},
    [K_LORA_DROPOUT] = {"lora_dropout", TOP, T_NUM, R_UNIT, K_LP_DROPOUT, F(lora_parameters.dropout), NOFF, 0, 0, NULL, 0,
                        KIND_FLAT, "0.0", "= lora_parameters.dropout", NULL},
    [K_SEC_FUSE] = {"fuse", TOP, T_SECTION, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, TC_SEC_FUSE, KIND_SECTION, "null",
                    "settings for `lorac fuse`", NULL},
    [K_SEC_GENERATION] = {"generation", TOP, T_SECTION, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, TC_SEC_GENERATION, KIND_SECTION,
                          "null", "settings for generation after training", NULL},
    [K_SEC_TEST_PROMPTS] = {"test_prompts", TOP, T_SECTION, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, TC_SEC_TEST_PROMPTS,
                            KIND_SECTION, "null", "prompts to generate from after training", NULL},
    [K_SEC_EVALUATION] = {"evaluation", TOP, T_SECTION, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, TC_SEC_EVALUATION, KIND_SECTION,
                          "null", "settings for `lorac eval`", NULL},
    [K_SEC_AUDIT] = {"audit", TOP, T_SECTION, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, TC_SEC_AUDIT, KIND_SECTION, "null",
                     "settings for `lorac audit`", NULL},

    [K_LP_KEYS] = {"lora_parameters.keys", K_LORA_PARAMETERS, T_STRLIST, R_ANY, 0, F(lora_parameters.keys),
                   F(lora_parameters.n_keys), 1, 1 << 20, NULL, 0, KIND_MLX, "null",
                   "module paths in a block (self_attn.q_proj, ...); default every linear layer",
                   "a list of module names like [self_attn.q_proj, self_attn.v_proj]"},
    [K_LP_RANK] = {"lora_parameters.rank", K_LORA_PARAMETERS, T_INT, R_POS, 0, F(lora_parameters.rank), NOFF, 0, 0, NULL, 0,
                   KIND_MLX, "8", "LoRA rank", NULL},
    [K_LP_SCALE] = {"lora_parameters.scale", K_LORA_PARAMETERS, T_NUM, R_POS, 0, F(lora_parameters.scale), NOFF, 0, 0, NULL, 0,
                    KIND_MLX, "20.0", "mlx-lm's raw multiplier of B·A", NULL},
    [K_LP_ALPHA] = {"lora_parameters.alpha", K_LORA_PARAMETERS, T_NUM, R_POS, 0, F(lora_parameters.alpha), NOFF, 0, 0, NULL,
                    0, KIND_LORAC, "null", "PEFT alpha: scale = alpha / rank", NULL},
    [K_LP_DROPOUT] = {"lora_parameters.dropout", K_LORA_PARAMETERS, T_NUM, R_UNIT, 0, F(lora_parameters.dropout), NOFF, 0, 0,
                      NULL, 0, KIND_MLX, "0.0", "dropout on the LoRA input", NULL},
    [K_LRS_NAME] = {"lr_schedule.name", K_LR_SCHEDULE, T_CHOICE, R_ANY, 0, F(lr_schedule.name), NOFF, 0, 0,
                    "cosine_decay linear_schedule exponential_decay step_decay constant", LRS_COSINE_DECAY, KIND_MLX, "null",
                    "cosine_decay, linear_schedule, exponential_decay, step_decay, constant", NULL},
    [K_LRS_ARGUMENTS] = {"lr_schedule.arguments", K_LR_SCHEDULE, T_NUMLIST, R_ANY, 0, F(lr_schedule.arguments),
                         F(lr_schedule.n_arguments), 1, 3, NULL, 0, KIND_MLX, "null",
                         "the schedule's arguments; the first is the initial learning rate", "a list of 1 to 3 numbers"},
    [K_LRS_WARMUP] = {"lr_schedule.warmup", K_LR_SCHEDULE, T_INT, R_NONNEG, 0, F(lr_schedule.warmup), NOFF, 0, 0, NULL, 0,
                      KIND_MLX, "0", "linear warmup steps", NULL},
    [K_LRS_WARMUP_INIT] = {"lr_schedule.warmup_init", K_LR_SCHEDULE, T_NUM, R_NONNEG, 0, F(lr_schedule.warmup_init), NOFF, 0,
                           0, NULL, 0, KIND_MLX, "0.0", "learning rate the warmup starts from", NULL},
    [K_OC_ADAM] = {"optimizer_config.adam", K_OPTIMIZER_CONFIG, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "{}",
                   "Adam: betas, eps, bias_correction", NULL},
    [K_OC_ADAMW] = {"optimizer_config.adamw", K_OPTIMIZER_CONFIG, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "{}",
                    "AdamW: betas, eps, weight_decay, bias_correction", NULL},
    [K_OC_SGD] = {"optimizer_config.sgd", K_OPTIMIZER_CONFIG, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "{}",
                  "SGD: momentum, weight_decay, dampening, nesterov", NULL},
    [K_OC_MUON] = {"optimizer_config.muon", K_OPTIMIZER_CONFIG, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX, "{}",
                   "Muon: momentum, weight_decay, nesterov, ns_steps", NULL},
    [K_OC_ADAFACTOR] = {"optimizer_config.adafactor", K_OPTIMIZER_CONFIG, T_MAP, R_ANY, 0, NOFF, NOFF, 0, 0, NULL, 0, KIND_MLX,
                        "{}", "Adafactor: eps, clip_threshold, decay_rate, beta_1, weight_decay, ...", NULL},
#define OC(id, par, nm, ty, rg, fld, cnt, lo, hi, df, hl, ex)                                                   \
    [id] = {"optimizer_config." nm, par, ty, rg, 0, F(optimizer_config.fld), cnt, lo, hi, NULL, 0, KIND_MLX, df, hl, ex}
    OC(K_ADAM_BETAS, K_OC_ADAM, "adam.betas", T_NUMLIST, R_UNIT, adam.betas, NOFF, 2, 2, "[0.9, 0.999]",
       "moment decay rates", "a list of 2 numbers in [0, 1)"),
    OC(K_ADAM_EPS, K_OC_ADAM, "adam.eps", T_NUM, R_NONNEG, adam.eps, NOFF, 0, 0, "1e-08", "denominator epsilon", NULL),
    OC(K_ADAM_BIAS_CORRECTION, K_OC_ADAM, "adam.bias_correction", T_BOOL, R_ANY, adam.bias_correction, NOFF, 0, 0, "true",
       "bias-corrected moments (lorac's default; mlx's is false)", NULL),
    OC(K_ADAMW_BETAS, K_OC_ADAMW, "adamw.betas", T_NUMLIST, R_UNIT, adamw.betas, NOFF, 2, 2, "[0.9, 0.999]",
       "moment decay rates", "a list of 2 numbers in [0, 1)"),
    OC(K_ADAMW_EPS, K_OC_ADAMW, "adamw.eps", T_NUM, R_NONNEG, adamw.eps, NOFF, 0, 0, "1e-08", "denominator epsilon", NULL),
    OC(K_ADAMW_WEIGHT_DECAY, K_OC_ADAMW, "adamw.weight_decay", T_NUM, R_NONNEG, adamw.weight_decay, NOFF, 0, 0, "0.01",
       "decoupled weight decay", NULL),
    OC(K_ADAMW_BIAS_CORRECTION, K_OC_ADAMW, "adamw.bias_correction", T_BOOL, R_ANY, adamw.bias_correction, NOFF, 0, 0,
       "true", "bias-corrected moments (lorac's default; mlx's is false)", NULL),
    OC(K_SGD_MOMENTUM, K_OC_SGD, "sgd.momentum", T_NUM, R_NONNEG, sgd.momentum, NOFF, 0, 0, "0.0", "momentum", NULL),
    OC(K_SGD_WEIGHT_DECAY, K_OC_SGD, "sgd.weight_decay", T_NUM, R_NONNEG, sgd.weight_decay, NOFF, 0, 0, "0.0",
       "L2 weight decay", NULL),
    OC(K_SGD_DAMPENING, K_OC_SGD, "sgd.dampening", T_NUM, R_NONNEG, sgd.dampening, NOFF, 0, 0, "0.0", "momentum dampening",
       NULL),
    OC(K_SGD_NESTEROV, K_OC_SGD, "sgd.nesterov", T_BOOL, R_ANY, sgd.nesterov, NOFF, 0, 0, "false", "Nesterov momentum", NULL),
    OC(K_MUON_MOMENTUM, K_OC_MUON, "muon.momentum", T_NUM, R_NONNEG, muon.momentum, NOFF, 0, 0, "0.95", "momentum", NULL),
    OC(K_MUON_WEIGHT_DECAY, K_OC_MUON, "muon.weight_decay", T_NUM, R_NONNEG, muon.weight_decay, NOFF, 0, 0, "0.01",
       "weight decay", NULL),
    OC(K_MUON_NESTEROV, K_OC_MUON, "muon.nesterov", T_BOOL, R_ANY, muon.nesterov, NOFF, 0, 0, "true", "Nesterov momentum",
       NULL),
    OC(K_MUON_NS_STEPS, K_OC_MUON, "muon.ns_steps", T_INT, R_POS, muon.ns_steps, NOFF, 0, 0, "5", "Newton-Schulz steps", NULL),
    OC(K_AF_EPS, K_OC_ADAFACTOR, "adafactor.eps", T_NUMLIST, R_NONNEG, adafactor.eps, NOFF, 2, 2, "[1e-30, 0.001]",
       "regularisation constants", "a list of 2 numbers >= 0"),
    OC(K_AF_CLIP_THRESHOLD, K_OC_ADAFACTOR, "adafactor.clip_threshold", T_NUM, R_POS, adafactor.clip_threshold, NOFF, 0, 0,
       "1.0", "update clipping", NULL),
    OC(K_AF_DECAY_RATE, K_OC_ADAFACTOR, "adafactor.decay_rate", T_NUM, R_ANY, adafactor.decay_rate, NOFF, 0, 0, "-0.8",
       "second-moment decay exponent", NULL),
    OC(K_AF_BETA_1, K_OC_ADAFACTOR, "adafactor.beta_1", T_NUM, R_UNIT, adafactor.beta_1, NOFF, 0, 0, "null",
       "first-moment decay (null: none)", NULL),
    OC(K_AF_WEIGHT_DECAY, K_OC_ADAFACTOR, "adafactor.weight_decay", T_NUM, R_NONNEG, adafactor.weight_decay, NOFF, 0, 0,
       "0.0", "weight decay", NULL),
    OC(K_AF_SCALE_PARAMETER, K_OC_ADAFACTOR, "adafactor.scale_parameter", T_BOOL, R_ANY, adafactor.scale_parameter, NOFF, 0,
       0, "true", "scale by parameter RMS", NULL),
    OC(K_AF_RELATIVE_STEP, K_OC_ADAFACTOR, "adafactor.relative_step", T_BOOL, R_ANY, adafactor.relative_step, NOFF, 0, 0,
       "true", "relative step size", NULL),
    OC(K_AF_WARMUP_INIT, K_OC_ADAFACTOR, "adafactor.warmup_init", T_BOOL, R_ANY, adafactor.warmup_init, NOFF, 0, 0, "false",
       "warmup-dependent step size", NULL),
#undef OC
};

// Names people bring from PEFT / HF Trainer / axolotl, suggested when given
// (parent: the map they appear in; TOP for the top level).
static const struct {
    int parent;
    const char *from, *to;
} SYNONYMS[] = {
    {-1, "lr", "learning_rate"},
    {-1, "r", "lora_rank"},
    {-1, "lora_r", "lora_rank"},
    {-1, "rank", "lora_rank"},
    {-1, "alpha", "lora_alpha"},
    {-1, "dropout", "lora_dropout"},
    {-1, "target_modules", "lora_parameters.keys"},
    {-1, "lora_target_modules", "lora_parameters.keys"},
    {-1, "num_epochs", "epochs"},
    {-1, "num_train_epochs", "epochs"},
    {-1, "max_length", "max_seq_length"},
    {-1, "sequence_len", "max_seq_length"},
    {-1, "gradient_checkpointing", "grad_checkpoint"},
    {-1, "gradient_accumulation_steps", "grad_accumulation_steps"},
    {-1, "per_device_train_batch_size", "batch_size"},
    {-1, "micro_batch_size", "batch_size"},
    {-1, "output_dir", "adapter_path"},
    {-1, "base_model", "model"},
    {-1, "model_name", "model"},
    {-1, "dataset", "data"},
    {-1, "eval_steps", "steps_per_eval"},
    {-1, "logging_steps", "steps_per_report"},
    {-1, "save_steps", "save_every"},
    {-1, "warmup_steps", "lr_schedule.warmup"},
    {-1, "weight_decay", "optimizer_config.adamw.weight_decay"},
    {-1, "lr_scheduler_type", "lr_schedule.name"},
    {-1, "dora", "use_dora"},
    {-1, "rslora", "use_rslora"},
    {K_LORA_PARAMETERS, "r", "rank"},
    {K_LORA_PARAMETERS, "lora_rank", "rank"},
    {K_LORA_PARAMETERS, "lora_alpha", "alpha"},
    {K_LORA_PARAMETERS, "lora_dropout", "dropout"},
    {K_LORA_PARAMETERS, "target_modules", "keys"},
    {K_LORA_PARAMETERS, "use_rslora", "use_rslora (a top-level key)"},
    {K_LORA_PARAMETERS, "use_dora", "use_dora (a top-level key)"},
    {K_LR_SCHEDULE, "type", "name"},
    {K_LR_SCHEDULE, "args", "arguments"},
    {K_LR_SCHEDULE, "warmup_steps", "warmup"},
};

const char *const train_config_section_names[TC_NSECTIONS] = {"fuse", "generation", "test_prompts", "evaluation", "audit"};

static int tgt(int kid) { return KEYS[kid].target ? KEYS[kid].target : kid; }

static const char *leaf_name(const keydef *k) {
    const char *d = strrchr(k->name, '.');
    return d ? d + 1 : k->name;
}

// ---- private state ----
enum { PRIO_DEFAULT = 0, PRIO_FILE = 1, PRIO_FLAG = 2 };

typedef struct {
    int prio;    // PRIO_*
    char *where; // "run.yaml:7" or "--iters"
    char *as;    // the key as given: "lora_rank", "lora_parameters.rank"
} origin;

struct train_config_priv {
    origin o[K_COUNT];
    int n_notes_loaded; // notes from loading/setting; resolve() owns those after
    char *config_in_file; // a `config:` key inside a file (no effect)
    // values as given, before resolve() derives the effective ones
    train_ft_type ft_given;
    double scale_given, alpha_given, epochs_given;
    int use_rslora_given;
};

_Static_assert(sizeof(train_ft_type) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(train_optimizer) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(train_lr_kind) == sizeof(int), "enum fields are written as int");

// ---- notes ----
static void add_note(train_config *cfg, int loaded, int warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_note(train_config *cfg, int loaded, int warning, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    strbuf sb;
    sb_init(&sb);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sb_puts(&sb, buf);
    cfg->notes = xrealloc(cfg->notes, sizeof *cfg->notes * (size_t)(cfg->n_notes + 1));
    int at = loaded ? cfg->priv_->n_notes_loaded : cfg->n_notes;
    memmove(cfg->notes + at + 1, cfg->notes + at, sizeof *cfg->notes * (size_t)(cfg->n_notes - at));
    cfg->notes[at] = (train_config_note){sb_detach(&sb), warning};
    cfg->n_notes++;
    if (loaded) cfg->priv_->n_notes_loaded++;
}

static void drop_resolve_notes(train_config *cfg) {
    for (int i = cfg->priv_->n_notes_loaded; i < cfg->n_notes; i++) free(cfg->notes[i].text);
    cfg->n_notes = cfg->priv_->n_notes_loaded;
}

// ---- lifecycle ----
void train_config_init(train_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->priv_ = xcalloc(1, sizeof *cfg->priv_);
    cfg->model = xstrdup("Qwen/Qwen3-0.6b");
    cfg->train = 0;
    cfg->fine_tune_type = FT_LORA;
    cfg->optimizer = OPT_ADAM;
    cfg->optimizer_config.adam = (train_adam_config){{0.9, 0.999}, 1e-8, 0.0, 1}; // bias correction on: lorac's default (mlx: off)
    cfg->optimizer_config.adamw = (train_adam_config){{0.9, 0.999}, 1e-8, 0.01, 1};
    cfg->optimizer_config.sgd = (train_sgd_config){0.0, 0.0, 0.0, 0};
    cfg->optimizer_config.muon = (train_muon_config){0.95, 0.01, 1, 5};
    cfg->optimizer_config.adafactor = (train_adafactor_config){{1e-30, 1e-3}, 1.0, -0.8, NAN, 0.0, 1, 1, 0};
    cfg->data = xstrdup("mlx-community/WikiSQL");
    cfg->seed = 0;
    cfg->num_layers = 16;
    cfg->batch_size = 4;
    cfg->iters = 1000;
    cfg->val_batches = 25;
    cfg->learning_rate = 1e-5;
    cfg->steps_per_report = 10;
    cfg->steps_per_eval = 200;
    cfg->resume_adapter_file = NULL;
    cfg->adapter_path = xstrdup("adapters");
    cfg->save_every = 100;
    cfg->test = 0;
    cfg->test_batches = 500;
    cfg->max_seq_length = 2048;
    cfg->config = NULL;
    cfg->grad_checkpoint = 0;
    cfg->grad_accumulation_steps = 1;
    cfg->clear_cache_threshold = 0;
    cfg->lr_schedule = (train_lr_schedule){LRS_NONE, {0, 0, 0}, 0, 0, 0.0};
    cfg->lora_parameters = (train_lora_params){8, 20.0, NAN, 0.0, 0, NULL, 0};
    cfg->mask_prompt = 0;
    cfg->report_to = cfg->project_name = NULL;
    cfg->trust_remote_code = 0;
    cfg->prompt_feature = xstrdup("prompt");
    cfg->completion_feature = xstrdup("completion");
    cfg->chat_feature = xstrdup("messages");
    cfg->text_feature = xstrdup("text");
    cfg->wandb = NULL;
    cfg->epochs = 0;
    cfg->early_stopping_patience = 0;
    cfg->use_dora = 0;
    // auto unless LORAC_MATMUL names a mode
    cfg->matmul_precision = getenv("LORAC_MATMUL") ? (int)kernels_precision() : TRAIN_MATMUL_AUTO;
    train_config_priv *p = cfg->priv_;
    p->ft_given = FT_LORA;
    p->scale_given = 20.0;
    p->alpha_given = NAN;
    p->epochs_given = 0;
}

static void free_strlist(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void train_config_release(train_config *cfg) {
    if (!cfg) return;
    free(cfg->model);
    free(cfg->data);
    free(cfg->resume_adapter_file);
    free(cfg->adapter_path);
    free(cfg->config);
    free(cfg->report_to);
    free(cfg->project_name);
    free(cfg->prompt_feature);
    free(cfg->completion_feature);
    free(cfg->chat_feature);
    free(cfg->text_feature);
    free(cfg->wandb);
    free_strlist(cfg->lora_parameters.keys, cfg->lora_parameters.n_keys);
    for (int i = 0; i < TC_NSECTIONS; i++) {
        json_decref(cfg->sections[i]);
        json_decref(cfg->section_lines[i]);
    }
    for (int i = 0; i < cfg->n_notes; i++) free(cfg->notes[i].text);
    free(cfg->notes);
    if (cfg->priv_) {
        for (int i = 0; i < K_COUNT; i++) {
            free(cfg->priv_->o[i].where);
            free(cfg->priv_->o[i].as);
        }
        free(cfg->priv_->config_in_file);
        free(cfg->priv_);
    }
    memset(cfg, 0, sizeof *cfg);
}


// ---- loading context ----
typedef struct {
    train_config *cfg;
    yaml_document_t *doc;
    const char *file;   // messages say "file:line"; NULL for a flag
    const char *source; // the flag, when file is NULL
    int prio;
    size_t line;        // line of the key being assigned (files)
} lctx;

static char *where_of(const lctx *c, const yaml_node_t *n) {
    if (c->file) return xasprintf("%s:%zu", c->file, n ? n->start_mark.line + 1 : 1);
    return xstrdup(c->source);
}

static char *expand_home(const char *s) {
    if (s[0] == '~' && (s[1] == '/' || s[1] == 0)) {
        const char *home = getenv("HOME");
        if (home && *home) return xasprintf("%s%s", home, s + 1);
    }
    return xstrdup(s);
}

// ---- values ----
typedef struct {
    int null;
    int64_t i;
    double d;
    int b;
    char *s;
    double list[3];
    int n;
    char **strs;
    int nstrs;
} val;

static void val_release(val *v) {
    free(v->s);
    free_strlist(v->strs, v->nstrs);
    memset(v, 0, sizeof *v);
}

static const char *expect_text(const keydef *k) {
    if (k->expect) return k->expect;
    switch (k->type) {
    case T_BOOL: return "true or false";
    case T_STR:
    case T_PATH: return k->range == R_POS ? "a non-empty string" : "a string";
    case T_SIZE: return "a byte count (0, 500MB, 2GB)";
    case T_INT:
        switch (k->range) {
        case R_POS: return "a positive integer";
        case R_POS_M1: return "a positive integer or -1 (all)";
        case R_NONNEG_M1: return "an integer >= 0, or -1 (all)";
        case R_NONNEG: return "an integer >= 0";
        default: return "an integer";
        }
    case T_NUM:
        switch (k->range) {
        case R_POS: return "a number > 0";
        case R_NONNEG: return "a number >= 0";
        case R_UNIT: return "a number in [0, 1)";
        default: return "a number";
        }
    default: return "a value";
    }
}

static int in_range_int(krange r, int64_t v) {
    switch (r) {
    case R_POS: return v >= 1;
    case R_POS_M1: return v >= 1 || v == -1;
    case R_NONNEG_M1: return v >= 0 || v == -1;
    case R_NONNEG: return v >= 0;
    default: return 1;
    }
}

static int in_range_num(krange r, double v) {
    if (!isfinite(v)) return 0;
    switch (r) {
    case R_POS: return v > 0;
    case R_NONNEG: return v >= 0;
    case R_UNIT: return v >= 0 && v < 1;
    default: return 1;
    }
}

static int type_error(const char *where, const keydef *k, const yaml_node_t *n) {
    if (n && n->type == YAML_SCALAR_NODE)
        return err_set("%s: '%s' must be %s, got '%s'", where, k->name, expect_text(k), yaml_node_text(n));
    return err_set("%s: '%s' must be %s, got %s", where, k->name, expect_text(k), yaml_node_kind_name(n));
}

static int parse_size(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || errno || d < 0 || !isfinite(d)) return -1;
    while (*end == ' ') end++;
    double mul;
    if (!*end) mul = 1;
    else if (!strcasecmp(end, "M") || !strcasecmp(end, "MB")) mul = 1e6;
    else if (!strcasecmp(end, "G") || !strcasecmp(end, "GB")) mul = 1e9;
    else return -1;
    if (d * mul > 9.2e18) return -1;
    *out = (int64_t)(d * mul);
    return 0;
}

// Number from a scalar: plain, or quoted (accepted: "1e-4" means the number).
static yaml_scalar scalar_number(const yaml_node_t *n, int64_t *iv, double *dv, int *bv) {
    return yaml_classify(yaml_node_text(n), 1, iv, dv, bv);
}

static int parse_value(const keydef *k, const yaml_node_t *n, const char *where, val *v) {
    memset(v, 0, sizeof *v);
    int64_t iv = 0;
    double dv = 0;
    int bv = 0;
    if (!n) return v->null = 1, 0;
    if (n->type == YAML_SCALAR_NODE && yaml_classify(yaml_node_text(n), yaml_node_plain(n), &iv, &dv, &bv) == YS_NULL)
        return v->null = 1, 0;
    switch (k->type) {
    case T_STR:
    case T_PATH:
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        if (k->range == R_POS && !*yaml_node_text(n)) return type_error(where, k, n);
        v->s = k->type == T_PATH ? expand_home(yaml_node_text(n)) : xstrdup(yaml_node_text(n));
        return 0;
    case T_BOOL: {
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        yaml_scalar sk = scalar_number(n, &iv, &dv, &bv);
        if (sk == YS_BOOL) v->b = bv;
        else if (sk == YS_INT && (iv == 0 || iv == 1)) v->b = (int)iv;
        else return type_error(where, k, n);
        return 0;
    }
    case T_INT: {
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        yaml_scalar sk = scalar_number(n, &iv, &dv, &bv);
        if (sk == YS_FLOAT && isfinite(dv) && dv == floor(dv) && fabs(dv) < 9.2e18) iv = (int64_t)dv, sk = YS_INT;
        if (sk != YS_INT || !in_range_int(k->range, iv)) return type_error(where, k, n);
        v->i = iv;
        return 0;
    }
    case T_NUM: {
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        yaml_scalar sk = scalar_number(n, &iv, &dv, &bv);
        if (sk == YS_INT) dv = (double)iv;
        else if (sk != YS_FLOAT) return type_error(where, k, n);
        if (!in_range_num(k->range, dv)) return type_error(where, k, n);
        v->d = dv;
        return 0;
    }
    case T_SIZE: {
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        yaml_scalar sk = scalar_number(n, &iv, &dv, &bv);
        if (sk == YS_INT && iv >= 0) v->i = iv;
        else if (sk == YS_FLOAT && dv >= 0 && dv < 9.2e18) v->i = (int64_t)dv;
        else if (sk == YS_STR && parse_size(yaml_node_text(n), &iv) == 0) v->i = iv;
        else return type_error(where, k, n);
        return 0;
    }
    case T_CHOICE: {
        if (n->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        const char *s = yaml_node_text(n);
        char names[8][32];
        const char *cands[8];
        int nc = 0;
        for (const char *p = k->choices; *p && nc < 8;) {
            size_t len = strcspn(p, " ");
            snprintf(names[nc], sizeof names[nc], "%.*s", (int)len, p);
            cands[nc] = names[nc];
            nc++;
            p += len;
            while (*p == ' ') p++;
        }
        int case_insensitive = k == &KEYS[K_OPTIMIZER]; // mlx-lm lower-cases the optimizer's name
        for (int i = 0; i < nc; i++)
            if (case_insensitive ? !strcasecmp(s, names[i]) : !strcmp(s, names[i])) {
                v->i = k->choice_base + i;
                return 0;
            }
        strbuf list;
        sb_init(&list);
        for (int i = 0; i < nc; i++) sb_printf(&list, "%s%s", i ? ", " : "", names[i]);
        const char *near = closest_match(s, cands, (size_t)nc);
        if (near) err_set("%s: '%s' must be one of %s, got '%s'; did you mean '%s'?", where, k->name, list.buf, s, near);
        else err_set("%s: '%s' must be one of %s, got '%s'", where, k->name, list.buf, s);
        sb_release(&list);
        if (k == &KEYS[K_FINE_TUNE_TYPE] && !strcasecmp(s, "qlora"))
            err_hint("QLoRA is LoRA on a quantized base: fine_tune_type: lora with a quantized (GGUF q4/q8) model");
        return -1;
    }
    case T_NUMLIST:
    case T_STRLIST: return 1; // parse_list: items need the document
    default: return type_error(where, k, n);
    }
}

// Lists need the document to reach their items.
static int parse_list(const keydef *k, yaml_document_t *doc, const yaml_node_t *n, const char *where, val *v) {
    if (k->type == T_STRLIST && n->type == YAML_SCALAR_NODE) { // "a,b" from a flag, or one name
        const char *s = yaml_node_text(n);
        for (const char *p = s; *p;) {
            size_t len = strcspn(p, ",");
            const char *a = p, *b = p + len;
            while (a < b && isspace((unsigned char)*a)) a++;
            while (b > a && isspace((unsigned char)b[-1])) b--;
            if (b == a) return type_error(where, k, n);
            v->strs = xrealloc(v->strs, sizeof *v->strs * (size_t)(v->nstrs + 1));
            v->strs[v->nstrs++] = xstrndup(a, (size_t)(b - a));
            p += len;
            if (*p == ',') p++;
        }
        if (!v->nstrs) return type_error(where, k, n);
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) return type_error(where, k, n);
    yaml_node_item_t *it = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    int cnt = (int)(end - it);
    if (cnt < k->nmin || cnt > k->nmax) return type_error(where, k, n);
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *e = yaml_document_get_node(doc, it[i]);
        if (!e || e->type != YAML_SCALAR_NODE) return type_error(where, k, n);
        if (k->type == T_STRLIST) {
            if (!*yaml_node_text(e)) return type_error(where, k, n);
            v->strs = xrealloc(v->strs, sizeof *v->strs * (size_t)(v->nstrs + 1));
            v->strs[v->nstrs++] = xstrdup(yaml_node_text(e));
        } else {
            int64_t iv;
            double dv;
            int bv;
            yaml_scalar sk = scalar_number(e, &iv, &dv, &bv);
            if (sk == YS_INT) dv = (double)iv;
            else if (sk != YS_FLOAT) return type_error(where, k, n);
            if (!in_range_num(k->range, dv)) return type_error(where, k, n);
            v->list[v->n++] = dv;
        }
    }
    return 0;
}

// ---- stored values: compare, print, store ----
static void *field(train_config *cfg, const keydef *k) { return (char *)cfg + k->off; }
static const void *cfield(const train_config *cfg, const keydef *k) { return (const char *)cfg + k->off; }

static void fmt_num(strbuf *sb, double d) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.15g", d);
    sb_puts(sb, buf);
}

static char *stored_text(const train_config *cfg, int kid) {
    const keydef *k = &KEYS[kid];
    strbuf sb;
    sb_init(&sb);
    if (k->off == NOFF) {
        sb_puts(&sb, "(map)");
        return sb_detach(&sb);
    }
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case T_STR:
    case T_PATH: sb_puts(&sb, *(char *const *)f ? *(char *const *)f : "null"); break;
    case T_BOOL: sb_puts(&sb, *(const int *)f ? "true" : "false"); break;
    case T_INT:
    case T_SIZE: sb_printf(&sb, "%lld", (long long)*(const int64_t *)f); break;
    case T_NUM: fmt_num(&sb, *(const double *)f); break;
    case T_CHOICE: {
        int e = *(const int *)f - k->choice_base;
        const char *p = k->choices;
        for (int i = 0; i < e && *p; i++) p += strcspn(p, " ") + 1;
        sb_printf(&sb, "%.*s", (int)strcspn(p, " "), p);
        break;
    }
    case T_NUMLIST: {
        const double *d = f;
        int n = k->count_off == NOFF ? k->nmin : *(const int *)((const char *)cfg + k->count_off);
        sb_putc(&sb, '[');
        for (int i = 0; i < n; i++) {
            if (i) sb_puts(&sb, ", ");
            fmt_num(&sb, d[i]);
        }
        sb_putc(&sb, ']');
        break;
    }
    case T_STRLIST: {
        char *const *s = *(char **const *)f;
        int n = *(const int *)((const char *)cfg + k->count_off);
        sb_putc(&sb, '[');
        for (int i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", s[i]);
        sb_putc(&sb, ']');
        break;
    }
    default: break;
    }
    return sb_detach(&sb);
}

static int same_as_stored(const train_config *cfg, const keydef *k, const val *v) {
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case T_STR:
    case T_PATH: return *(char *const *)f && !strcmp(*(char *const *)f, v->s);
    case T_BOOL:
    case T_CHOICE: return *(const int *)f == (k->type == T_BOOL ? v->b : (int)v->i);
    case T_INT:
    case T_SIZE: return *(const int64_t *)f == v->i;
    case T_NUM: return *(const double *)f == v->d;
    case T_NUMLIST: {
        int n = k->count_off == NOFF ? k->nmin : *(const int *)((const char *)cfg + k->count_off);
        return n == v->n && !memcmp(f, v->list, sizeof(double) * (size_t)n);
    }
    case T_STRLIST: {
        char *const *s = *(char **const *)f;
        int n = *(const int *)((const char *)cfg + k->count_off);
        if (n != v->nstrs) return 0;
        for (int i = 0; i < n; i++)
            if (strcmp(s[i], v->strs[i])) return 0;
        return 1;
    }
    default: return 0;
    }
}

static void store(train_config *cfg, const keydef *k, val *v) {
    void *f = field(cfg, k);
    switch (k->type) {
    case T_STR:
    case T_PATH:
        free(*(char **)f);
        *(char **)f = v->s;
        v->s = NULL;
        break;
    case T_BOOL: *(int *)f = v->b; break;
    case T_CHOICE: *(int *)f = (int)v->i; break;
    case T_INT:
    case T_SIZE: *(int64_t *)f = v->i; break;
    case T_NUM: *(double *)f = v->d; break;
    case T_NUMLIST:
        memcpy(f, v->list, sizeof(double) * (size_t)v->n);
        if (k->count_off != NOFF) *(int *)((char *)cfg + k->count_off) = v->n;
        break;
    case T_STRLIST: {
        int *cnt = (int *)((char *)cfg + k->count_off);
        free_strlist(*(char ***)f, *cnt);
        *(char ***)f = v->strs;
        *cnt = v->nstrs;
        v->strs = NULL;
        v->nstrs = 0;
        break;
    }
    default: break;
    }
}

static void set_origin(train_config *cfg, int kid, int prio, const char *where, const char *as) {
    origin *o = &cfg->priv_->o[kid];
    free(o->where);
    free(o->as);
    o->prio = prio;
    o->where = xstrdup(where);
    o->as = xstrdup(as);
}

// Keep the values resolve() derives from in their given form.
static void remember_given(train_config *cfg, int tid) {
    train_config_priv *p = cfg->priv_;
    if (tid == K_FINE_TUNE_TYPE) p->ft_given = cfg->fine_tune_type;
    if (tid == K_LP_SCALE) p->scale_given = cfg->lora_parameters.scale;
    if (tid == K_LP_ALPHA) p->alpha_given = cfg->lora_parameters.alpha;
    if (tid == K_EPOCHS) p->epochs_given = cfg->epochs;
    if (tid == K_USE_RSLORA) p->use_rslora_given = cfg->lora_parameters.use_rslora;
}

// ---- the walk ----
static int walk_map(lctx *c, const yaml_node_t *map, int parent);

static int assign_scalar(lctx *c, int kid, const yaml_node_t *n, const char *as, const char *where) {
    train_config *cfg = c->cfg;
    const keydef *k = &KEYS[kid];
    val v;
    int rc = parse_value(k, n, where, &v);
    if (rc == 1) rc = parse_list(k, c->doc, n, where, &v);
    if (rc < 0) {
        val_release(&v);
        return -1;
    }
    if (v.null) return 0; // null means "not given", as mlx-lm's default fallback
    if (kid == K_CONFIG && c->file) { // inside a file it has no effect; remember for the warning
        free(cfg->priv_->config_in_file);
        cfg->priv_->config_in_file = v.s;
        set_origin(cfg, kid, c->prio, where, as);
        return 0;
    }
    int tid = tgt(kid);
    const keydef *t = &KEYS[tid];
    origin *o = &cfg->priv_->o[tid];
    if (o->prio > c->prio) { // a flag already set it
        val_release(&v);
        return 0;
    }
    if (o->prio == PRIO_FILE && c->prio == PRIO_FILE && strcmp(o->as, as) != 0 && !same_as_stored(cfg, t, &v)) {
        char *old = stored_text(cfg, tid);
        store(cfg, t, &v); // to print the new value the same way (cfg is abandoned on error)
        char *now = stored_text(cfg, tid);
        err_set("%s: %s: %s conflicts with %s: %s (%s)", where, as, now, o->as, old, o->where);
        err_hint("give the value once (%s is the same setting as %s)", as, o->as);
        free(old);
        free(now);
        val_release(&v);
        return -1;
    }
    char *old = o->prio > PRIO_DEFAULT && o->prio < c->prio ? stored_text(cfg, tid) : NULL;
    store(cfg, t, &v);
    val_release(&v);
    char *now = stored_text(cfg, tid);
    if (old) add_note(cfg, 1, 0, "%s %s overrides %s: %s (%s)", where, now, o->as, old, o->where);
    if (kid != tid) add_note(cfg, 1, 0, "%s: %s -> %s (%s)", as, now, t->name, where);
    free(old);
    free(now);
    set_origin(cfg, tid, c->prio, where, as);
    if (kid != tid) set_origin(cfg, kid, c->prio, where, as);
    remember_given(cfg, tid);
    return 0;
}

static int assign(lctx *c, int kid, const yaml_node_t *n, const char *as, const char *where) {
    train_config *cfg = c->cfg;
    const keydef *k = &KEYS[kid];
    int64_t iv;
    double dv;
    int bv;
    int is_null = !n || (n->type == YAML_SCALAR_NODE && yaml_classify(yaml_node_text(n), yaml_node_plain(n), &iv, &dv, &bv) == YS_NULL);
    switch (k->type) {
    case T_MAP:
        if (is_null) return 0;
        if (n->type != YAML_MAPPING_NODE)
            return err_set("%s: '%s' must be a mapping (indented key: value lines), got %s%s%s%s", where, k->name,
                           yaml_node_kind_name(n), n->type == YAML_SCALAR_NODE ? " '" : "",
                           n->type == YAML_SCALAR_NODE ? yaml_node_text(n) : "", n->type == YAML_SCALAR_NODE ? "'" : "");
        if (cfg->priv_->o[kid].prio <= c->prio) set_origin(cfg, kid, c->prio, where, as);
        return walk_map(c, n, kid);
    case T_SECTION: {
        if (is_null) return 0;
        int sec = k->choice_base;
        json_t *lines = json_object();
        json_object_set_new(lines, k->name, json_integer((json_int_t)c->line));
        json_t *j = yaml_node_to_json(c->doc, n, c->file ? c->file : c->source, k->name, lines);
        if (!j) {
            json_decref(lines);
            return -1;
        }
        if (cfg->priv_->o[kid].prio > c->prio) {
            json_decref(j);
            json_decref(lines);
            return 0;
        }
        json_decref(cfg->sections[sec]);
        json_decref(cfg->section_lines[sec]);
        cfg->sections[sec] = j;
        cfg->section_lines[sec] = c->file ? lines : (json_decref(lines), json_object());
        set_origin(cfg, kid, c->prio, where, as);
        return 0;
    }
    case T_REJECT:
        if (is_null) return 0;
        if (kid == K_HF_DATASET) {
            err_set("%s: hf_dataset is not supported by lorac: it reads local data directories only", where);
            err_hint("save the splits as train.jsonl, valid.jsonl and test.jsonl in a directory and set data: DIR");
        } else {
            err_set("%s: adapter_file is an old mlx-lm key: lorac (like mlx-lm today) writes to a directory", where);
            err_hint("use adapter_path: DIR (adapters.safetensors and adapter_config.json go there)");
        }
        return -1;
    default: return assign_scalar(c, kid, n, as, where);
    }
}

static int find_child(int parent, const char *leaf) {
    for (int i = 0; i < K_COUNT; i++)
        if (KEYS[i].parent == parent && !strcmp(leaf_name(&KEYS[i]), leaf)) return i;
    return -1;
}

static int unknown_key(const char *where, int parent, const char *key) {
    const char *cands[K_COUNT];
    size_t n = 0;
    for (int i = 0; i < K_COUNT; i++)
        if (KEYS[i].parent == parent) cands[n++] = leaf_name(&KEYS[i]);
    const char *sug = NULL;
    for (size_t i = 0; i < sizeof SYNONYMS / sizeof *SYNONYMS; i++)
        if (SYNONYMS[i].parent == parent && !strcasecmp(key, SYNONYMS[i].from)) sug = SYNONYMS[i].to;
    for (size_t i = 0; i < n && !sug; i++)
        if (!strcasecmp(key, cands[i])) sug = cands[i];
    if (!sug) sug = closest_match(key, cands, n);
    char in[96] = "";
    if (parent != TOP) snprintf(in, sizeof in, " in %s", KEYS[parent].name);
    if (sug) err_set("%s: unknown key '%s'%s; did you mean '%s'?", where, key, in, sug);
    else err_set("%s: unknown key '%s'%s", where, key, in);
    if (parent == K_OC_ADAM && !strcmp(key, "weight_decay"))
        err_hint("mlx's Adam has no weight_decay; use optimizer: adamw with optimizer_config.adamw.weight_decay");
    else if (parent != TOP) {
        strbuf sb;
        sb_init(&sb);
        for (size_t i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", cands[i]);
        err_hint("%s takes: %s", KEYS[parent].name, sb.buf);
        sb_release(&sb);
    } else
        err_hint("the keys are mlx-lm's lora keys plus lora_rank, lora_alpha, lora_dropout, use_dora, use_rslora, epochs, "
                 "early_stopping_patience, matmul_precision and the sections fuse, generation, test_prompts, evaluation, audit");
    return -1;
}

static int walk_map(lctx *c, const yaml_node_t *map, int parent) {
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    int np = (int)(map->data.mapping.pairs.top - pairs);
    for (int i = 0; i < np; i++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, pairs[i].key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, pairs[i].value);
        char *where = where_of(c, kn);
        if (kn->type != YAML_SCALAR_NODE) {
            err_set("%s: a key must be a name, got %s", where, yaml_node_kind_name(kn));
            free(where);
            return -1;
        }
        const char *key = yaml_node_text(kn);
        for (int j = 0; j < i; j++) {
            yaml_node_t *pk = yaml_document_get_node(c->doc, pairs[j].key);
            if (pk->type == YAML_SCALAR_NODE && !strcmp(yaml_node_text(pk), key)) {
                err_set("%s: duplicate key '%s' (first at line %zu)", where, key, pk->start_mark.line + 1);
                free(where);
                return -1;
            }
        }
        if (!strcmp(key, "<<")) {
            err_set("%s: YAML merge keys ('<<') are not supported in a run config", where);
            free(where);
            return -1;
        }
        int kid = find_child(parent, key);
        if (kid < 0) {
            unknown_key(where, parent, key);
            free(where);
            return -1;
        }
        c->line = kn->start_mark.line + 1;
        int rc = assign(c, kid, vn, KEYS[kid].name, where);
        free(where);
        if (rc) return -1;
    }
    return 0;
}


// ---- loading ----
int train_config_load_string(train_config *cfg, const char *text, const char *name) {
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parse_error(name, &parser);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = err_set("%s: the config is empty (expected key: value lines)", name);
        goto out;
    }
    yaml_document_t more;
    if (!yaml_parser_load(&parser, &more)) {
        rc = yaml_parse_error(name, &parser);
        goto out;
    }
    yaml_node_t *second = yaml_document_get_root_node(&more);
    size_t second_line = second ? second->start_mark.line + 1 : 0;
    yaml_document_delete(&more);
    if (second) {
        rc = err_set("%s:%zu: a second YAML document ('---'); a run config is one mapping", name, second_line);
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = err_set("%s:%zu: the config must be a mapping of keys (key: value lines), got %s", name,
                     root->start_mark.line + 1, yaml_node_kind_name(root));
        goto out;
    }
    free(cfg->config);
    cfg->config = xstrdup(name);
    lctx c = {cfg, &doc, name, NULL, PRIO_FILE, 0};
    rc = walk_map(&c, root, TOP);
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int train_config_load_file(train_config *cfg, const char *path) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len)) return -1;
    if (strlen(text) != len) {
        free(text);
        return err_set("%s: contains a NUL byte; expected a YAML text file", path);
    }
    int rc = train_config_load_string(cfg, text, path);
    free(text);
    return rc;
}

static char *normalize_key(const char *key) {
    while (*key == '-') key++;
    char *s = xstrdup(key);
    for (char *p = s; *p; p++)
        if (*p == '-') *p = '_';
    return s;
}

static int find_key(const char *name) {
    for (int i = 0; i < K_COUNT; i++)
        if (!strcmp(KEYS[i].name, name)) return i;
    return -1;
}

int train_config_set(train_config *cfg, const char *key, const char *value, const char *source) {
    char *name = normalize_key(key);
    char *src = source ? xstrdup(source) : xasprintf("--%s", key);
    int kid = find_key(name), rc = 0;
    if (kid < 0) {
        const char *cands[K_COUNT];
        for (int i = 0; i < K_COUNT; i++) cands[i] = KEYS[i].name;
        const char *sug = NULL;
        for (size_t i = 0; i < sizeof SYNONYMS / sizeof *SYNONYMS; i++)
            if (SYNONYMS[i].parent == TOP && !strcasecmp(name, SYNONYMS[i].from)) sug = SYNONYMS[i].to;
        if (!sug) sug = closest_match(name, cands, K_COUNT);
        if (sug) rc = err_set("%s: unknown key '%s'; did you mean '%s'?", src, name, sug);
        else rc = err_set("%s: unknown key '%s'", src, name);
        goto out;
    }
    const keydef *k = &KEYS[kid];
    lctx c = {cfg, NULL, NULL, src, PRIO_FLAG, 0};
    if (k->type == T_STR || k->type == T_PATH || (k->type == T_BOOL && !value)) {
        if (!value && k->type != T_BOOL) {
            rc = err_set("%s: '%s' needs a value (%s)", src, k->name, expect_text(k));
            goto out;
        }
        yaml_node_t n;
        memset(&n, 0, sizeof n);
        n.type = YAML_SCALAR_NODE;
        n.data.scalar.value = (yaml_char_t *)(k->type == T_BOOL ? "true" : value);
        n.data.scalar.length = strlen((const char *)n.data.scalar.value);
        n.data.scalar.style = k->type == T_BOOL ? YAML_PLAIN_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE;
        if (kid == K_CONFIG) { // the flag names the file to read: remember it, the caller loads it
            char *p = expand_home(value);
            free(cfg->config);
            cfg->config = p;
            set_origin(cfg, kid, PRIO_FLAG, src, name);
            goto out;
        }
        rc = assign(&c, kid, &n, name, src);
        goto out;
    }
    if (!value || !*value) {
        rc = err_set("%s: '%s' needs a value (%s)", src, k->name, expect_text(k));
        goto out;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
    if (!yaml_parser_load(&parser, &doc)) {
        rc = err_set("%s: cannot read '%s' as a value: %s", src, value, parser.problem ? parser.problem : "bad YAML");
        yaml_parser_delete(&parser);
        goto out;
    }
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || (root->type == YAML_SCALAR_NODE && k->type != T_SECTION &&
                  yaml_classify(yaml_node_text(root), yaml_node_plain(root), &(int64_t){0}, &(double){0}, &(int){0}) == YS_NULL))
        rc = err_set("%s: '%s' needs a value (%s)", src, k->name, expect_text(k));
    else rc = assign(&c, kid, root, name, src);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
out:
    free(name);
    free(src);
    return rc;
}

// ---- inspection ----
static int key_id(const char *key) {
    char *name = normalize_key(key);
    int kid = find_key(name);
    free(name);
    return kid;
}

int train_config_is_set(const train_config *cfg, const char *key) {
    int kid = key_id(key);
    return kid >= 0 && cfg->priv_->o[kid].prio > PRIO_DEFAULT;
}

const char *train_config_where(const train_config *cfg, const char *key) {
    int kid = key_id(key);
    if (kid < 0 || cfg->priv_->o[kid].prio == PRIO_DEFAULT) return "default";
    return cfg->priv_->o[kid].where;
}

const char *train_ft_type_name(train_ft_type t) {
    return t == FT_DORA ? "dora" : t == FT_FULL ? "full" : "lora";
}

const char *train_optimizer_name(train_optimizer o) {
    static const char *const N[] = {"adam", "adamw", "sgd", "muon", "adafactor"};
    return (unsigned)o < 5 ? N[o] : "?";
}

const char *train_lr_kind_name(train_lr_kind k) {
    static const char *const N[] = {"none", "cosine_decay", "linear_schedule", "exponential_decay", "step_decay", "constant"};
    return (unsigned)k < 6 ? N[k] : "?";
}

const train_config_key_info *train_config_keys(size_t *n) {
    static train_config_key_info info[K_COUNT];
    static char flags[K_COUNT][64];
    static int built;
    if (!built) {
        static const char *const TYPES[] = {"string", "path", "bool", "int", "float", "choice", "size",
                                            "list",   "list", "map",  "map", "unsupported"};
        int at = 0;
        for (int pass = 0; pass < 2; pass++) // top level first, then nested
            for (int i = 0; i < K_COUNT; i++) {
                const keydef *k = &KEYS[i];
                if ((k->parent == TOP) != (pass == 0)) continue;
                const char *flag = NULL;
                if (k->parent == TOP && k->type != T_MAP && k->type != T_SECTION && k->type != T_REJECT) {
                    snprintf(flags[i], sizeof flags[i], "--%s", k->name);
                    for (char *p = flags[i] + 2; *p; p++)
                        if (*p == '_') *p = '-';
                    flag = flags[i];
                }
                info[at++] = (train_config_key_info){k->name, flag, TYPES[k->type], k->def, k->help, k->kind};
            }
        built = 1;
    }
    *n = K_COUNT;
    return info;
}

void train_config_print_notes(const train_config *cfg, FILE *f) {
    for (int i = 0; i < cfg->n_notes; i++)
        fprintf(f, "%s: %s\n", cfg->notes[i].warning ? "warning" : "note", cfg->notes[i].text);
}

const json_t *train_config_section(const train_config *cfg, const char *name, int *line) {
    if (line) *line = 0;
    for (int i = 0; i < TC_NSECTIONS; i++)
        if (!strcmp(train_config_section_names[i], name)) {
            if (line && cfg->section_lines[i]) *line = (int)json_integer_value(json_object_get(cfg->section_lines[i], name));
            return cfg->sections[i];
        }
    return NULL;
}

// ---- resolve ----
static const origin *org(const train_config *cfg, int kid) { return &cfg->priv_->o[kid]; }
static int given(const train_config *cfg, int kid) { return cfg->priv_->o[kid].prio > PRIO_DEFAULT; }

static int any_child_given(const train_config *cfg, int parent) {
    for (int i = 0; i < K_COUNT; i++)
        if (KEYS[i].parent == parent && given(cfg, i)) return 1;
    return 0;
}

static int resolve_fine_tune_type(train_config *cfg) {
    train_config_priv *p = cfg->priv_;
    cfg->fine_tune_type = p->ft_given;
    if (!given(cfg, K_USE_DORA)) return 0;
    const origin *od = org(cfg, K_USE_DORA), *of = org(cfg, K_FINE_TUNE_TYPE);
    int dora = cfg->use_dora;
    if (!given(cfg, K_FINE_TUNE_TYPE)) {
        if (dora) {
            cfg->fine_tune_type = FT_DORA;
            add_note(cfg, 0, 0, "use_dora: true -> fine_tune_type: dora (%s)", od->where);
        } else {
            add_note(cfg, 0, 0, "use_dora: false -> fine_tune_type: %s (%s)", train_ft_type_name(cfg->fine_tune_type),
                     od->where);
        }
        return 0;
    }
    int agree = dora ? p->ft_given == FT_DORA : p->ft_given != FT_DORA;
    if (agree) return 0;
    if (od->prio == of->prio) {
        err_set("%s: use_dora: %s conflicts with fine_tune_type: %s (%s)", od->where, dora ? "true" : "false",
                train_ft_type_name(p->ft_given), of->where);
        err_hint("drop use_dora, or set fine_tune_type: %s", dora ? "dora" : "lora");
        return -1;
    }
    if (od->prio > of->prio) {
        cfg->fine_tune_type = dora ? FT_DORA : FT_LORA;
        add_note(cfg, 0, 1, "%s %s overrides fine_tune_type: %s (%s)", od->where, dora ? "true" : "false",
                 train_ft_type_name(p->ft_given), of->where);
    } else {
        add_note(cfg, 0, 1, "%s %s overrides use_dora: %s (%s)", of->where, train_ft_type_name(p->ft_given),
                 dora ? "true" : "false", od->where);
    }
    return 0;
}

static int resolve_epochs(train_config *cfg) {
    cfg->epochs = cfg->priv_->epochs_given;
    if (!given(cfg, K_EPOCHS)) return 0;
    const origin *oe = org(cfg, K_EPOCHS), *oi = org(cfg, K_ITERS);
    if (given(cfg, K_ITERS)) {
        if (oe->prio == oi->prio) {
            err_set("%s: epochs and iters are both set (iters at %s)", oe->where, oi->where);
            err_hint("keep one: epochs: N makes N passes over train.jsonl; iters counts batches of batch_size");
            return -1;
        }
        if (oi->prio > oe->prio) {
            add_note(cfg, 0, 1, "%s %lld overrides epochs: %g (%s)", oi->where, (long long)cfg->iters, cfg->epochs,
                     oe->where);
            cfg->epochs = 0;
            return 0;
        }
        add_note(cfg, 0, 1, "%s %g overrides iters: %lld (%s)", oe->where, cfg->epochs, (long long)cfg->iters,
                 oi->where);
    }
    add_note(cfg, 0, 0, "epochs: %g -> iters = ceil(%g x train examples / batch_size %lld), counted when the data is loaded (%s)",
             cfg->epochs, cfg->epochs, (long long)cfg->batch_size, oe->where);
    return 0;
}

static int resolve_scale(train_config *cfg) {
    train_config_priv *p = cfg->priv_;
    train_lora_params *lp = &cfg->lora_parameters;
    lp->scale = p->scale_given;
    lp->alpha = p->alpha_given;
    lp->use_rslora = p->use_rslora_given;
    int has_scale = given(cfg, K_LP_SCALE), has_alpha = given(cfg, K_LP_ALPHA);
    const origin *os = org(cfg, K_LP_SCALE), *oa = org(cfg, K_LP_ALPHA);
    double root = lp->use_rslora ? sqrt((double)lp->rank) : (double)lp->rank;
    if (has_scale && has_alpha) {
        double want = lp->alpha / root;
        if (os->prio == oa->prio) {
            if (fabs(lp->scale - want) > 1e-9 * fmax(1.0, fabs(want))) {
                err_set("%s: lora_parameters.scale: %g disagrees with %s: %g (%s), which gives scale %g", os->where,
                        lp->scale, oa->as, lp->alpha, oa->where, want);
                err_hint("give one: 'scale' is mlx-lm's raw multiplier, 'alpha' is PEFT's (scale = alpha / rank%s)",
                         lp->use_rslora ? ", alpha / sqrt(rank) with use_rslora" : "");
                return -1;
            }
        } else if (os->prio > oa->prio) {
            add_note(cfg, 0, 1, "%s %g overrides %s: %g (%s)", os->where, lp->scale, oa->as, lp->alpha, oa->where);
            has_alpha = 0;
            lp->alpha = NAN;
        } else {
            add_note(cfg, 0, 1, "%s %g overrides lora_parameters.scale: %g (%s)", oa->where, lp->alpha,
                     lp->scale, os->where);
            has_scale = 0;
        }
    }
    if (lp->use_rslora && !has_alpha) {
        err_set("%s: use_rslora needs lora_alpha (rsLoRA's scale is alpha / sqrt(rank))%s", org(cfg, K_USE_RSLORA)->where,
                has_scale ? "; lora_parameters.scale is used as given" : "");
        err_hint("add lora_alpha: N, or drop use_rslora");
        return -1;
    }
    if (cfg->fine_tune_type == FT_FULL) return 0;
    if (has_alpha) {
        lp->scale = lp->alpha / root;
        add_note(cfg, 0, 0, "LoRA scale %g = alpha %g / %s%lld%s", lp->scale, lp->alpha, lp->use_rslora ? "sqrt(rank " : "rank ",
                 (long long)lp->rank, lp->use_rslora ? ") (rsLoRA)" : "");
    } else if (has_scale) {
        add_note(cfg, 0, 0, "LoRA scale %g (lora_parameters.scale, mlx-lm's multiplier; %s)", lp->scale, os->where);
    } else {
        add_note(cfg, 0, 0, "LoRA scale %g (mlx-lm's default; give lora_alpha for PEFT's alpha / rank)", lp->scale);
    }
    return 0;
}

static int resolve_optimizer(train_config *cfg) {
    const origin *oo = org(cfg, K_OPTIMIZER);
    if (cfg->optimizer == OPT_MUON || cfg->optimizer == OPT_ADAFACTOR) {
        err_set("%s: optimizer '%s' is not supported by lorac (it implements adam, adamw and sgd)",
                given(cfg, K_OPTIMIZER) ? oo->where : "optimizer", train_optimizer_name(cfg->optimizer));
        err_hint("use optimizer: adamw (the closest to mlx-lm's usual choice)");
        return -1;
    }
    static const int SUB[] = {K_OC_ADAM, K_OC_ADAMW, K_OC_SGD, K_OC_MUON, K_OC_ADAFACTOR};
    for (int i = 0; i < 5; i++)
        if (i != (int)cfg->optimizer && any_child_given(cfg, SUB[i]))
            add_note(cfg, 0, 1, "%s has no effect: the optimizer is %s (%s)", KEYS[SUB[i]].name,
                     train_optimizer_name(cfg->optimizer), org(cfg, SUB[i])->where);
    const train_sgd_config *s = &cfg->optimizer_config.sgd;
    if (cfg->optimizer == OPT_SGD && s->nesterov && (s->momentum <= 0 || s->dampening != 0)) {
        const origin *on = org(cfg, K_SGD_NESTEROV);
        err_set("%s: optimizer_config.sgd.nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                given(cfg, K_SGD_NESTEROV) ? on->where : "optimizer_config.sgd", s->momentum, s->dampening);
        return -1;
    }
    return 0;
}

static int resolve_schedule(train_config *cfg) {
    train_lr_schedule *ls = &cfg->lr_schedule;
    if (!any_child_given(cfg, K_LR_SCHEDULE)) {
        ls->name = LRS_NONE;
        return 0;
    }
    const char *w = org(cfg, K_LR_SCHEDULE)->where;
    if (!w) w = "lr_schedule";
    if (!given(cfg, K_LRS_NAME)) {
        err_set("%s: lr_schedule needs 'name' (cosine_decay, linear_schedule, exponential_decay, step_decay, constant)", w);
        return -1;
    }
    if (!given(cfg, K_LRS_ARGUMENTS)) {
        err_set("%s: lr_schedule needs 'arguments' (for %s: %s)", w, train_lr_kind_name(ls->name),
                ls->name == LRS_COSINE_DECAY    ? "[init, decay_steps, end]"
                : ls->name == LRS_LINEAR_SCHEDULE ? "[init, end, steps]"
                : ls->name == LRS_EXPONENTIAL_DECAY ? "[init, decay_rate]"
                : ls->name == LRS_STEP_DECAY      ? "[init, decay_rate, step_size]"
                                                  : "[init]");
        return -1;
    }
    static const struct {
        int lo, hi;
        const char *form;
    } AR[] = {{0, 0, ""},
              {2, 3, "[init, decay_steps, end = 0]"},
              {3, 3, "[init, end, steps]"},
              {2, 2, "[init, decay_rate]"},
              {3, 3, "[init, decay_rate, step_size]"},
              {1, 1, "[init]"}};
    const char *wa = org(cfg, K_LRS_ARGUMENTS)->where;
    int n = ls->n_arguments;
    if (n < AR[ls->name].lo || n > AR[ls->name].hi) {
        err_set("%s: lr_schedule.arguments for %s must be %s, got %d number%s", wa, train_lr_kind_name(ls->name),
                AR[ls->name].form, n, n == 1 ? "" : "s");
        return -1;
    }
    const double *a = ls->arguments;
    if (a[0] < 0) return err_set("%s: lr_schedule.arguments[0] (the initial learning rate) must be >= 0, got %g", wa, a[0]);
    if ((ls->name == LRS_COSINE_DECAY && a[1] < 1) || ((ls->name == LRS_LINEAR_SCHEDULE || ls->name == LRS_STEP_DECAY) && a[2] < 1))
        return err_set("%s: lr_schedule.arguments: the %s of %s must be >= 1", wa,
                       ls->name == LRS_COSINE_DECAY ? "decay_steps" : ls->name == LRS_STEP_DECAY ? "step_size" : "steps",
                       train_lr_kind_name(ls->name));
    if (given(cfg, K_LEARNING_RATE) && cfg->learning_rate != a[0])
        add_note(cfg, 0, 1, "learning_rate: %g has no effect: lr_schedule starts from arguments[0] = %g, as in mlx-lm (%s)",
                 cfg->learning_rate, a[0], org(cfg, K_LEARNING_RATE)->where);
    return 0;
}

static void no_effect(train_config *cfg, int kid, const char *why) {
    char *v = stored_text(cfg, kid);
    add_note(cfg, 0, 1, "%s: %s has no effect: %s (%s)", KEYS[kid].name, v, why, org(cfg, kid)->where);
    free(v);
}

static void resolve_no_effect(train_config *cfg) {
    train_config_priv *p = cfg->priv_;
    if (p->config_in_file)
        add_note(cfg, 0, 1, "config: %s has no effect inside a config file (%s)", p->config_in_file, org(cfg, K_CONFIG)->where);
    if (given(cfg, K_REPORT_TO) && cfg->report_to)
        no_effect(cfg, K_REPORT_TO, "lorac does not report to wandb or swanlab; it writes metrics.jsonl in adapter_path");
    if (given(cfg, K_PROJECT_NAME) && cfg->project_name)
        no_effect(cfg, K_PROJECT_NAME, "lorac does not report to wandb or swanlab");
    if (given(cfg, K_WANDB) && cfg->wandb)
        no_effect(cfg, K_WANDB, "an old mlx-lm key for Weights & Biases; lorac writes metrics.jsonl in adapter_path");
    if (cfg->trust_remote_code) no_effect(cfg, K_TRUST_REMOTE_CODE, "lorac runs no code from model repositories");
    if (cfg->clear_cache_threshold) no_effect(cfg, K_CLEAR_CACHE_THRESHOLD, "it bounds MLX's allocator cache");
    static const struct {
        int kid;
        const char *def;
    } FEAT[] = {{K_PROMPT_FEATURE, "prompt"}, {K_COMPLETION_FEATURE, "completion"}, {K_CHAT_FEATURE, "messages"}, {K_TEXT_FEATURE, "text"}};
    for (size_t i = 0; i < 4; i++) {
        const char *v = *(char *const *)cfield(cfg, &KEYS[FEAT[i].kid]);
        if (strcmp(v, FEAT[i].def)) {
            char why[128];
            snprintf(why, sizeof why, "lorac's data loader reads the field '%s'", FEAT[i].def);
            no_effect(cfg, FEAT[i].kid, why);
        }
    }
    if (cfg->fine_tune_type == FT_FULL) {
        static const int LP[] = {K_LP_KEYS, K_LP_RANK, K_LP_SCALE, K_LP_ALPHA, K_LP_DROPOUT, K_USE_RSLORA};
        for (size_t i = 0; i < sizeof LP / sizeof *LP; i++)
            if (given(cfg, LP[i]))
                add_note(cfg, 0, 1, "%s has no effect with fine_tune_type: full (%s)", org(cfg, LP[i])->as,
                         org(cfg, LP[i])->where);
    }
}

int train_config_resolve(train_config *cfg) {
    drop_resolve_notes(cfg);
    if (resolve_fine_tune_type(cfg) || resolve_epochs(cfg) || resolve_scale(cfg) || resolve_optimizer(cfg) ||
        resolve_schedule(cfg))
        return -1;
    if (cfg->early_stopping_patience > 0 && cfg->val_batches == 0) {
        err_set("%s: early_stopping_patience needs validation, but val_batches is 0 (%s)",
                org(cfg, K_EARLY_STOPPING_PATIENCE)->where, train_config_where(cfg, "val_batches"));
        return -1;
    }
    resolve_no_effect(cfg);
    return 0;
}

// ---- output ----
static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *reals(const double *d, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(d[i]));
    return a;
}

static json_t *optimizer_json(const train_config *cfg, train_optimizer which, int full) {
    json_t *o = json_object();
    const int sub = (int[]){K_OC_ADAM, K_OC_ADAMW, K_OC_SGD, K_OC_MUON, K_OC_ADAFACTOR}[which];
    for (int i = 0; i < K_COUNT; i++) {
        if (KEYS[i].parent != sub || !(full || given(cfg, i))) continue;
        const keydef *k = &KEYS[i];
        const void *f = cfield(cfg, k);
        json_t *v;
        switch (k->type) {
        case T_BOOL: v = json_boolean(*(const int *)f); break;
        case T_INT: v = json_integer(*(const int64_t *)f); break;
        case T_NUMLIST: v = reals(f, k->nmin); break;
        default: v = isnan(*(const double *)f) ? json_null() : json_real(*(const double *)f); break;
        }
        json_object_set_new(o, leaf_name(k), v);
    }
    return o;
}

json_t *train_config_to_json(const train_config *cfg) {
    json_t *j = json_object();
#define SET(k, v) json_object_set_new(j, k, v)
    SET("model", json_string(cfg->model));
    SET("train", json_boolean(cfg->train));
    SET("fine_tune_type", json_string(train_ft_type_name(cfg->fine_tune_type)));
    SET("optimizer", json_string(train_optimizer_name(cfg->optimizer)));
    json_t *oc = json_object();
    for (int o = OPT_ADAM; o <= OPT_ADAFACTOR; o++)
        json_object_set_new(oc, train_optimizer_name((train_optimizer)o),
                            optimizer_json(cfg, (train_optimizer)o, o == (int)cfg->optimizer));
    SET("optimizer_config", oc);
    SET("data", json_string(cfg->data));
    SET("seed", json_integer(cfg->seed));
    SET("num_layers", json_integer(cfg->num_layers));
    SET("batch_size", json_integer(cfg->batch_size));
    if (cfg->epochs > 0) SET("epochs", json_real(cfg->epochs));
    else SET("iters", json_integer(cfg->iters));
    SET("val_batches", json_integer(cfg->val_batches));
    SET("learning_rate", json_real(cfg->learning_rate));
    SET("steps_per_report", json_integer(cfg->steps_per_report));
    SET("steps_per_eval", json_integer(cfg->steps_per_eval));
    SET("resume_adapter_file", str_or_null(cfg->resume_adapter_file));
    SET("adapter_path", json_string(cfg->adapter_path));
    SET("save_every", json_integer(cfg->save_every));
    SET("test", json_boolean(cfg->test));
    SET("test_batches", json_integer(cfg->test_batches));
    SET("max_seq_length", json_integer(cfg->max_seq_length));
    SET("config", str_or_null(cfg->config));
    SET("grad_checkpoint", json_boolean(cfg->grad_checkpoint));
    SET("grad_accumulation_steps", json_integer(cfg->grad_accumulation_steps));
    SET("clear_cache_threshold", json_integer(cfg->clear_cache_threshold));
    if (cfg->lr_schedule.name == LRS_NONE) SET("lr_schedule", json_null());
    else {
        json_t *s = json_object();
        json_object_set_new(s, "name", json_string(train_lr_kind_name(cfg->lr_schedule.name)));
        json_object_set_new(s, "arguments", reals(cfg->lr_schedule.arguments, cfg->lr_schedule.n_arguments));
        json_object_set_new(s, "warmup", json_integer(cfg->lr_schedule.warmup));
        json_object_set_new(s, "warmup_init", json_real(cfg->lr_schedule.warmup_init));
        SET("lr_schedule", s);
    }
    if (cfg->fine_tune_type == FT_FULL) SET("lora_parameters", json_null()); // as mlx-lm writes it
    else {
        const train_lora_params *lp = &cfg->lora_parameters;
        json_t *l = json_object();
        json_object_set_new(l, "rank", json_integer(lp->rank));
        json_object_set_new(l, "scale", json_real(lp->scale));
        json_object_set_new(l, "dropout", json_real(lp->dropout));
        if (!isnan(lp->alpha)) json_object_set_new(l, "alpha", json_real(lp->alpha));
        if (lp->keys) {
            json_t *k = json_array();
            for (int i = 0; i < lp->n_keys; i++) json_array_append_new(k, json_string(lp->keys[i]));
            json_object_set_new(l, "keys", k);
        }
        SET("lora_parameters", l);
        if (lp->use_rslora) SET("use_rslora", json_true());
    }
    SET("mask_prompt", json_boolean(cfg->mask_prompt));
    SET("report_to", str_or_null(cfg->report_to));
    SET("project_name", str_or_null(cfg->project_name));
    SET("trust_remote_code", json_boolean(cfg->trust_remote_code));
    static const int FEAT[] = {K_PROMPT_FEATURE, K_COMPLETION_FEATURE, K_CHAT_FEATURE, K_TEXT_FEATURE};
    for (int i = 0; i < 4; i++)
        if (given(cfg, FEAT[i])) SET(KEYS[FEAT[i]].name, json_string(*(char *const *)cfield(cfg, &KEYS[FEAT[i]])));
    if (cfg->wandb) SET("wandb", json_string(cfg->wandb));
    SET("early_stopping_patience", json_integer(cfg->early_stopping_patience));
    SET("matmul_precision", json_string(train_matmul_precision_name(cfg->matmul_precision)));
    for (int i = 0; i < TC_NSECTIONS; i++)
        if (cfg->sections[i]) SET(train_config_section_names[i], json_deep_copy(cfg->sections[i]));
#undef SET
    return j;
}

int train_config_save_json(const train_config *cfg, const char *path) {
    json_t *j = train_config_to_json(cfg);
    char *s = json_dumps(j, JSON_INDENT(4) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!s) return err_set("%s: cannot encode the config as JSON", path);
    size_t n = strlen(s);
    char *t = xmalloc(n + 2);
    memcpy(t, s, n);
    t[n] = '\n';
    t[n + 1] = 0;
    free(s);
    int rc = file_write_atomic(path, t, n + 1);
    free(t);
    return rc;
}

// ---- for the trainer ----
int train_config_check_data(train_config *cfg) {
    const char *w = train_config_where(cfg, "data");
    if (!dir_exists(cfg->data)) {
        if (!given(cfg, K_DATA))
            err_set("data is not set (mlx-lm's default is the Hugging Face dataset '%s')", cfg->data);
        else err_set("%s: data: '%s' is not a directory", w, cfg->data);
        err_hint("lorac reads train.jsonl, valid.jsonl and test.jsonl from a local directory; a Hugging Face dataset "
                 "name is not downloaded");
        return -1;
    }
    static const char *const NAMES[] = {"train.jsonl", "valid.jsonl", "test.jsonl"};
    for (int i = 0; i < 3; i++) {
        int need = i == 0 ? cfg->train : i == 1 ? cfg->train && cfg->val_batches != 0 : cfg->test;
        if (!need) continue;
        char *p = path_join(cfg->data, NAMES[i]);
        int missing = !file_exists(p), empty = !missing && file_size(p) == 0;
        if (missing || empty) {
            const char *why = missing ? "not found" : "is empty";
            if (i == 1 && cfg->early_stopping_patience <= 0) {
                add_note(cfg, 0, 1, "%s %s: training proceeds without validation, as in mlx-lm (data: %s)", p, why, w);
            } else {
                err_set("%s: %s %s (%s)", w, p, why,
                        i == 0   ? "needed to train"
                        : i == 1 ? "early_stopping_patience needs validation"
                                 : "test: true needs it");
                free(p);
                return -1;
            }
        }
        free(p);
    }
    return 0;
}

int64_t train_config_iters(const train_config *cfg, int64_t n_train) {
    if (cfg->epochs <= 0) return cfg->iters;
    double it = ceil(cfg->epochs * (double)n_train / (double)cfg->batch_size);
    return it < 1 ? 1 : (int64_t)it;
}

static double schedule_at(const train_lr_schedule *s, double step) {
    const double *a = s->arguments;
    switch (s->name) {
    case LRS_COSINE_DECAY: {
        double end = s->n_arguments > 2 ? a[2] : 0.0;
        double t = fmin(step, a[1]);
        return end + 0.5 * (1.0 + cos(M_PI / a[1] * t)) * (a[0] - end);
    }
    case LRS_LINEAR_SCHEDULE: return fmin(step, a[2]) * ((a[1] - a[0]) / a[2]) + a[0];
    case LRS_EXPONENTIAL_DECAY: return a[0] * pow(a[1], step);
    case LRS_STEP_DECAY: return a[0] * pow(a[1], floor(step / a[2]));
    case LRS_CONSTANT: return a[0];
    default: return 0;
    }
}

double train_config_lr(const train_config *cfg, int64_t step) {
    const train_lr_schedule *s = &cfg->lr_schedule;
    if (s->name == LRS_NONE) return cfg->learning_rate;
    if (s->warmup > 0) { // mlx-lm: join_schedules([linear(warmup_init, init, warmup), schedule], [warmup + 1])
        if (step < s->warmup + 1) {
            double t = fmin((double)step, (double)s->warmup);
            return t * ((s->arguments[0] - s->warmup_init) / (double)s->warmup) + s->warmup_init;
        }
        return schedule_at(s, (double)(step - s->warmup - 1));
    }
    return schedule_at(s, (double)step);
}

const char *train_matmul_precision_name(int p) {
    return p == TRAIN_MATMUL_AUTO ? "auto" : kernel_precision_name((kernel_precision)p);
}
