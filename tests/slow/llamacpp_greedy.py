#!/usr/bin/env python3
"""llamacpp_greedy.py — llama.cpp's greedy continuation of a prompt, for
tests/slow/fuse_llamacpp.sh (run in the venv scripts/llamacpp-venv.sh makes).

    python llamacpp_greedy.py MODEL.gguf IDS_JSON N_GEN TEXT [--no-extra-bufts]

Loads MODEL.gguf with llama.cpp (llama-cpp-python's low-level API), decodes the
prompt ids (lorac's tokenization of TEXT, specials added as its tokenizer adds them), takes N_GEN argmax tokens (no stop
token), and prints one JSON line: the generated ids, their text, and whether
llama.cpp's own tokenization of TEXT equals the prompt ids. The caller decodes
the ids with lorac and compares with the text lorac generated.
--no-extra-bufts: no AMX / repacked weight buffers (llama.cpp's AMX int8 kernels
crash on some VMs; the caller retries with it and says so).
"""
import ctypes, json, sys

import numpy as np
import llama_cpp as L


def main():
    path, ids, n_gen, text = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    null_log = L.llama_log_callback(lambda level, msg, user: None)
    L.llama_log_set(null_log, ctypes.c_void_p())
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.use_extra_bufts = "--no-extra-bufts" not in sys.argv
    model = L.llama_model_load_from_file(path.encode(), mp)
    if not model:
        sys.exit(f"llama.cpp could not load {path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = 512
    cp.n_batch = cp.n_ubatch = 512
    cp.n_threads = cp.n_threads_batch = 2
    ctx = L.llama_init_from_model(model, cp)
    vocab = L.llama_model_get_vocab(model)
    nv = L.llama_vocab_n_tokens(vocab)
    tb = text.encode()
    buf = (L.llama_token * (len(tb) + 16))()
    n = L.llama_tokenize(vocab, tb, len(tb), buf, len(buf), True, True)
    tok_same = n >= 0 and list(buf[:n]) == ids
    arr = (L.llama_token * len(ids))(*ids)
    if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(ids))) != 0:
        sys.exit("llama_decode failed on the prompt")
    out, one = [], (L.llama_token * 1)()
    for _ in range(n_gen):
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(nv,))
        t = int(logits.argmax())
        out.append(t)
        one[0] = t
        if L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) != 0:
            sys.exit("llama_decode failed while generating")

    def piece(t):
        b = ctypes.create_string_buffer(256)
        k = L.llama_token_to_piece(vocab, t, b, 256, 0, False)
        return b.raw[: max(k, 0)]

    pieces = [piece(t) for t in out]
    print(json.dumps({"ids": out, "text": b"".join(pieces).decode("utf-8", "replace"), "tok_same": tok_same}))

if __name__ == "__main__":
    main()
