// model_path.h — turn what the user typed after --model into a path on disk.
//
// Accepted: an HF model directory (has config.json), a GGUF file, or a repo id
// ORG/NAME found in the local Hugging Face cache: $HF_HUB_CACHE, else
// $HF_HOME/hub, else ~/.cache/huggingface/hub, each holding
// models--ORG--NAME/snapshots/<rev>/; the revision named by refs/main wins,
// else the newest snapshot directory. When nothing matches, the error lists
// every place looked. The returned path is heap-allocated (caller frees).
#ifndef LORAC_MODEL_PATH_H
#define LORAC_MODEL_PATH_H

typedef enum { MODEL_SRC_HF_DIR, MODEL_SRC_GGUF } model_src_kind;

typedef struct {
    model_src_kind kind;
    char *path; // directory (HF) or file (GGUF); owned
} model_src;

int model_path_resolve(const char *spec, model_src *out);
void model_src_release(model_src *m);

#endif
