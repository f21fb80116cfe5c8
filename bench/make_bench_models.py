#!/usr/bin/env python3
"""make_bench_models.py — the GGUF files bench/inference_bench.py runs, made with gguf-py.

    python3 bench/make_bench_models.py requant SRC.gguf DST.gguf {f16,q8_0}
    python3 bench/make_bench_models.py hf2gguf HF_DIR DST.gguf

requant: every KV of SRC is copied; each tensor is dequantized to fp32
(gguf.quants.dequantize) and written again as F16 or Q8_0 (1-D tensors, the
norms, stay F32), with general.file_type set to match.

hf2gguf: a bf16 HF directory (llama or smollm3, e.g. `lorac init-model --preset
smollm3-3b`) as a bf16 GGUF the way llama.cpp's convert_hf_to_gguf.py writes it:
architecture from config.json's model_type, llama.cpp's key and tensor names,
q_proj/k_proj rows permuted for llama-family RoPE (LlamaModel.permute), 1-D
weights as F32, and the vocabulary of the directory's tokenizer.json as a
"gpt2" tokenizer (pre "llama-bpe" for a 128256-token Llama-3 vocabulary, else
"smollm"). Tensors are streamed from the mmap'd safetensors one at a time.

Both write DST.part and rename it, so a cached DST is always complete.
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT, LlamaFileType as FT

# ---- requant ----

SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture", "general.file_type"}


def copy_kvs(reader, writer):
    for key, f in reader.fields.items():
        if key in SKIP_KEYS or not f.types:
            continue
        vt = f.types[0]
        if vt == VT.ARRAY:
            sub = f.types[-1]
            writer.add_key_value(key, f.contents(), vt, sub_type=sub)
        else:
            writer.add_key_value(key, f.contents(), vt)


def requant(src, dst, kind):
    qt, ft = {"f16": (QT.F16, FT.MOSTLY_F16), "q8_0": (QT.Q8_0, FT.MOSTLY_Q8_0)}[kind]
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst + ".part", arch)
    copy_kvs(r, w)
    w.add_file_type(int(ft))
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)  # shape: rows x cols (numpy order)
        if x.ndim == 1 or x.shape[-1] % 32:
            w.add_tensor(t.name, x)
        elif qt == QT.F16:
            w.add_tensor(t.name, x.astype(np.float16))
        else:
            w.add_tensor(t.name, gguf.quants.quantize(x, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(dst + ".part", dst)


# ---- hf2gguf ----


def st_tensors(hf_dir):
    """name -> (dtype string, shape, memmap'd raw bytes) over every *.safetensors file."""
    out = {}
    for fn in sorted(os.listdir(hf_dir)):
        if not fn.endswith(".safetensors"):
            continue
        path = os.path.join(hf_dir, fn)
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            hdr = json.loads(fh.read(n))
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        for name, v in hdr.items():
            if name == "__metadata__":
                continue
            a, b = v["data_offsets"]
            out[name] = (v["dtype"], v["shape"], mm[8 + n + a : 8 + n + b])
    if not out:
        sys.exit(f"{hf_dir}: no *.safetensors files")
    return out


def as_array(dtype, shape, raw):
    """bf16 stays raw uint16 (GGUF BF16 bytes); f16/f32 as numpy."""
    np_t = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}.get(dtype)
    if np_t is None:
        sys.exit(f"unsupported safetensors dtype {dtype}")
    return raw.view(np_t).reshape(shape)


def to_f32(dtype, a):
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def permute(w, n_head, n_head_kv):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return np.ascontiguousarray(
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


HF2GG = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
]


def add_vocab(w, hf_dir, vocab_size):
    tj = json.load(open(os.path.join(hf_dir, "tokenizer.json"), encoding="utf-8"))
    m = tj["model"]
    if m.get("type") != "BPE":
        sys.exit(f"{hf_dir}/tokenizer.json: model type {m.get('type')}, expected BPE")
    toks = [None] * vocab_size
    types = [int(gguf.TokenType.NORMAL)] * vocab_size
    for s, i in m["vocab"].items():
        if i < vocab_size:
            toks[i] = s
    for a in tj.get("added_tokens", []):
        if a["id"] < vocab_size:
            toks[a["id"]] = a["content"]
            types[a["id"]] = int(gguf.TokenType.CONTROL if a.get("special") else gguf.TokenType.USER_DEFINED)
    for i in range(vocab_size):  # pad like convert_hf_to_gguf.py
        if toks[i] is None:
            toks[i], types[i] = f"[PAD{i}]", int(gguf.TokenType.UNUSED)
    merges = [" ".join(x) if isinstance(x, list) else x for x in m.get("merges", [])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe" if vocab_size == 128256 else "smollm")
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    cfg_path = os.path.join(hf_dir, "tokenizer_config.json")
    tc = json.load(open(cfg_path, encoding="utf-8")) if os.path.exists(cfg_path) else {}
    ids = {t: i for i, t in enumerate(toks)}

    def tok_id(v):
        if isinstance(v, dict):
            v = v.get("content")
        return ids.get(v) if v else None

    bos, eos = tok_id(tc.get("bos_token")), tok_id(tc.get("eos_token"))
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    pp = json.dumps(tj.get("post_processor") or {})
    w.add_add_bos_token(bos is not None and tc.get("bos_token", "") in pp)


def hf2gguf(hf_dir, dst):
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    arch = cfg["model_type"]
    if arch not in ("llama", "smollm3"):
        sys.exit(f"{hf_dir}: model_type {arch}; hf2gguf handles llama and smollm3")
    if arch == "smollm3":
        nr = cfg.get("no_rope_layers")
        if nr and any(v != ((i + 1) % 4 != 0) for i, v in enumerate(nr)):
            sys.exit(f"{hf_dir}: no_rope_layers is not llama.cpp's fixed 'NoPE every 4th layer'")
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = cfg["hidden_size"]
    hd = cfg.get("head_dim") or d // nh
    V, L = cfg["vocab_size"], cfg["num_hidden_layers"]
    st = st_tensors(hf_dir)
    w = gguf.GGUFWriter(dst + ".part", arch)
    w.add_name(os.path.basename(os.path.normpath(hf_dir)))
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(d)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_vocab_size(V)
    w.add_rope_dimension_count(hd)
    if hd != d // nh:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if cfg.get("rope_scaling"):
        sys.exit(f"{hf_dir}: rope_scaling is not handled by hf2gguf")
    w.add_file_type(int(FT.MOSTLY_BF16))
    add_vocab(w, hf_dir, V)

    # (gguf name, hf name, transform)
    plan = [("token_embd.weight", "model.embed_tokens.weight", None)]
    for i in range(L):
        for hf, gg in HF2GG:
            fn = None
            if hf.startswith("self_attn.q_proj"):
                fn = lambda a: permute(a, nh, nh)  # noqa: E731
            elif hf.startswith("self_attn.k_proj"):
                fn = lambda a: permute(a, nh, nkv)  # noqa: E731
            plan.append((f"blk.{i}.{gg}", f"model.layers.{i}.{hf}", fn))
    plan.append(("output_norm.weight", "model.norm.weight", None))
    if "lm_head.weight" in st and not cfg.get("tie_word_embeddings", False):
        plan.append(("output.weight", "lm_head.weight", None))
    for hf_name in st:
        if hf_name not in {p[1] for p in plan} and hf_name != "lm_head.weight":
            sys.exit(f"{hf_dir}: tensor {hf_name} has no GGUF name in hf2gguf")

    def load(hf_name, fn):
        dt, shape, raw = st[hf_name]
        a = as_array(dt, shape, raw)
        if a.ndim == 1:
            return to_f32(dt, a), None
        if dt != "BF16":
            sys.exit(f"{hf_name}: {dt}; hf2gguf writes bf16 weights from a bf16 directory")
        return (fn(a) if fn else a), QT.BF16

    for gg, hf, fn in plan:  # tensor infos first, then the data streamed in the same order
        dt, shape, raw = st[hf]
        if len(shape) == 1:
            w.add_tensor_info(gg, shape, np.dtype(np.float32), shape[0] * 4)
        else:
            w.add_tensor_info(gg, shape, np.dtype(np.uint16), raw.nbytes, raw_dtype=QT.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for gg, hf, fn in plan:
        a, _ = load(hf, fn)
        w.write_tensor_data(a)
    w.close()
    os.replace(dst + ".part", dst)


def main(argv):
    if len(argv) == 4 and argv[0] == "requant" and argv[3] in ("f16", "q8_0"):
        requant(argv[1], argv[2], argv[3])
    elif len(argv) == 3 and argv[0] == "hf2gguf":
        hf2gguf(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
