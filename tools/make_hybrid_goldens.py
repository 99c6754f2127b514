#!/usr/bin/env python3
"""Independent oracle for attention and Mamba-attention hybrids: small random-weight Hugging Face
LlamaForCausalLM, BambaForCausalLM, NemotronHForCausalLM and JambaForCausalLM models, run with
PyTorch + transformers on the CPU, recorded as test fixtures under test/fixtures/hybrid/<case>/.

    PYTHONUNBUFFERED=1 python3 tools/make_hybrid_goldens.py --out test/fixtures/hybrid [--dump-source DIR]

Per case: config.json + model.safetensors (what save_pretrained writes), logits.safetensors
(F32 "logits" [2,T,V] from a no-cache full forward of the float64 model, "hidden" [2,T,D] after the
final norm, "greedy_logits" [N,V] from model.generate's cached steps) and golden.json (input ids, greedy
prompt/tokens, resolved architecture facts such as layer kinds and the rotary dimension, checks).
Same conventions as tools/make_goldens.py (see tools/README.md). The eager attention path is used
(attn_implementation="eager"); its softmax runs in float32 even in the float64 model, as do RMSNorms
and the rotary cos/sin tables, so the goldens carry f32-level rounding.
"""
import argparse
import inspect
import json
import math
import os
import shutil
import sys
import tarfile
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

GREEDY_PROMPT_LEN = 9
GREEDY_NEW_TOKENS = 12
BATCH = 2

CASES = [
    dict(name="llama-gqa", arch="llama", seed=301, T=23,
         cfg=dict(vocab_size=131, hidden_size=48, intermediate_size=75, num_hidden_layers=3, num_attention_heads=6,
                  num_key_value_heads=2, head_dim=10, tie_word_embeddings=True, rms_norm_eps=1e-6),
         covers="Llama, GQA 6 q heads / 2 kv heads, explicit head_dim 10 != hidden/heads (8), tied, 3 layers"),
    dict(name="llama-mqa-bias-long", arch="llama", seed=302, T=140,
         cfg=dict(vocab_size=97, hidden_size=32, intermediate_size=43, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=1, attention_bias=True, mlp_bias=True, tie_word_embeddings=False,
                  rope_theta=500000.0),
         covers="Llama, MQA (1 kv head), q/k/v/o and MLP biases, untied, rope_theta 5e5, T=140"),
    dict(name="bamba", arch="bamba", seed=401, T=23,
         cfg=dict(vocab_size=127, hidden_size=40, intermediate_size=56, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, attn_layer_indices=[1, 3], mamba_n_heads=5, mamba_d_head="auto",
                  mamba_n_groups=1, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_chunk_size=8,
                  tie_word_embeddings=False),
         covers="Bamba, Mamba-2 layers 0,2 + attention layers 1,3 (GQA 4/2, partial rotary), SwiGLU MLP per layer"),
    dict(name="nemotron-h", arch="nemotron_h", seed=501, T=23,
         cfg=dict(vocab_size=113, hidden_size=36, intermediate_size=52, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=9, mamba_num_heads=6, mamba_head_dim=8, n_groups=2, ssm_state_size=8, conv_kernel=4,
                  chunk_size=8, hybrid_override_pattern="M-M*-M", num_hidden_layers=6, use_mamba_kernels=False,
                  tie_word_embeddings=False),
         covers="NemotronH pattern M-M*-M: Mamba-2 (2 groups: grouped gated norm), relu2 MLP, attention without RoPE"),
    dict(name="jamba", arch="jamba", seed=601, T=23,
         cfg=dict(vocab_size=119, hidden_size=32, intermediate_size=24, num_hidden_layers=5, num_attention_heads=4,
                  num_key_value_heads=2, attn_layer_period=2, attn_layer_offset=1, expert_layer_period=3,
                  expert_layer_offset=0, num_experts=4, num_experts_per_tok=2, mamba_d_state=6, mamba_d_conv=4,
                  mamba_expand=2, mamba_dt_rank="auto", use_mamba_kernels=False, tie_word_embeddings=False),
         covers="Jamba: [mamba+moe, attn+mlp, mamba+mlp, attn+moe, mamba+mlp]; 4 experts top-2 softmax routing, "
                "dt/B/C RMSNorms, attention without RoPE"),
]


def randn(gen, shape):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32)


def inv_softplus_dt(gen, n, lo=0.005, hi=0.5):
    u = torch.rand((n,), generator=gen, dtype=torch.float32)
    dt = torch.exp(u * (math.log(hi) - math.log(lo)) + math.log(lo))
    return dt + torch.log(-torch.expm1(-dt))


def perturb(model, gen):
    """Overwrite every float parameter from `gen` (the HF init is too degenerate to test with)."""
    rules = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")
            last2 = ".".join(leaf[-2:])
            if leaf[-1] == "A_log":
                n = p.shape[-1] if p.dim() == 2 else p.shape[0]
                base = torch.log(torch.arange(1, n + 1, dtype=torch.float32))
                base = base[None, :].expand(p.shape) if p.dim() == 2 else base
                rule, val = "log(arange)+0.2N", base + 0.2 * randn(gen, p.shape)
            elif leaf[-1] == "D":
                rule, val = "1+0.3N", 1.0 + 0.3 * randn(gen, p.shape)
            elif leaf[-1] == "dt_bias" or last2 == "dt_proj.bias":
                rule, val = "inv_softplus(loguniform)", inv_softplus_dt(gen, p.shape[0])
            elif last2 == "conv1d.weight":
                rule, val = "N(0,1/k)", randn(gen, p.shape) / math.sqrt(p.shape[-1])
            elif last2 == "conv1d.bias":
                rule, val = "N(0,0.2^2)", 0.2 * randn(gen, p.shape)
            elif "embed" in name or name == "lm_head.weight":
                rule, val = "N(0,0.4^2)", 0.4 * randn(gen, p.shape)
            elif p.dim() == 1 and leaf[-1] == "weight":  # every (gated) RMSNorm
                rule, val = "1+0.2N", 1.0 + 0.2 * randn(gen, p.shape)
            elif p.dim() >= 2:  # Linear weights, router, fused expert stacks [E, out, in]
                rule, val = "N(0,1/fan_in)", randn(gen, p.shape) / math.sqrt(p.shape[-1])
            elif p.dim() == 1:
                rule, val = "N(0,0.1^2)", 0.1 * randn(gen, p.shape)
            else:
                rule, val = "N(0,1)", randn(gen, p.shape)
            p.copy_(val.to(p.dtype))
            rules[name] = rule
    return rules


def eager_experts(model):
    """The experts loop of transformers' eager path (JambaExperts.forward in 5.17: per expert hit,
    gate, up = x·gate_up_proj[e]ᵀ; y = (act(gate)·up)·down_proj[e]ᵀ · weight), pinned so the float64 model
    never dispatches to torch's grouped_mm (float32/bf16 only)."""
    import types

    def forward(self, hidden_states, top_k_index, top_k_weights):
        out = torch.zeros_like(hidden_states)
        for e in range(self.gate_up_proj.shape[0]):
            pos, tok = torch.where(top_k_index == e)  # token row, slot among its top-k
            if tok.numel() == 0:
                continue
            gate, up = F.linear(hidden_states[pos], self.gate_up_proj[e]).chunk(2, dim=-1)
            y = F.linear(self.act_fn(gate) * up, self.down_proj[e]) * top_k_weights[pos, tok, None]
            out.index_add_(0, pos, y.to(out.dtype))
        return out

    for m in model.modules():
        if type(m).__name__.endswith("Experts") and hasattr(m, "gate_up_proj"):
            m.forward = types.MethodType(forward, m)


def classes(arch):
    import transformers as tf
    return {
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
        "bamba": (tf.BambaConfig, tf.BambaForCausalLM),
        "nemotron_h": (tf.NemotronHConfig, tf.NemotronHForCausalLM),
        "jamba": (tf.JambaConfig, tf.JambaForCausalLM),
    }[arch]


def full_logits(model, ids):
    h = model.base_model(input_ids=ids, use_cache=False).last_hidden_state
    return h, F.linear(h, model.lm_head.weight)


def greedy_generate(model, prompt):
    try:
        g = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                           max_new_tokens=GREEDY_NEW_TOKENS, use_cache=True, eos_token_id=None, pad_token_id=0,
                           return_dict_in_generate=True, output_logits=True)
        return g.sequences[0, prompt.shape[1]:].tolist(), torch.stack([s[0] for s in g.logits]).double(), None
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        return None, None, repr(e)


def greedy_no_cache(model, prompt):
    cur = prompt.clone()
    tokens, margins, logits = [], [], []
    for _ in range(GREEDY_NEW_TOKENS):
        lg = full_logits(model, cur)[1][0, -1]
        top = lg.topk(2)
        tokens.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        logits.append(lg)
        cur = torch.cat([cur, top.indices[:1].view(1, 1)], dim=1)
    return tokens, margins, torch.stack(logits)


def arch_facts(model, config):
    """What the TypeScript port must infer from config.json alone, as transformers resolved it."""
    facts = {}
    rot = getattr(model.base_model, "rotary_emb", None)
    if rot is not None:
        facts["rotary_dim"] = int(rot.inv_freq.numel() * 2)
        facts["inv_freq"] = [float(x) for x in rot.inv_freq.float()]
        facts["attention_scaling"] = float(getattr(rot, "attention_scaling", 1.0))
    for k in ("layers_block_type", "layers_num_experts", "partial_rotary_factor", "rope_parameters", "rope_theta",
              "head_dim", "hybrid_override_pattern", "mamba_d_head", "mamba_dt_rank", "time_step_limit"):
        if hasattr(config, k):
            try:
                v = getattr(config, k)
                json.dumps(v, default=str)
                facts[k] = v
            except Exception:  # noqa: BLE001
                facts[k] = str(getattr(config, k, None))
    facts["modules"] = sorted({type(m).__name__ for m in model.modules()})
    return facts


def write_tokenizer(d, vocab_size):
    """A character-level tokenizer.json for the small vocabulary (our loader's byte tokenizer needs 256 ids):
    id 0 is <unk>, ids 1.. are the letters a-z, A-Z, digits, then CJK ideographs, one character each."""
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)] \
        + [chr(c) for c in range(ord("0"), ord("9") + 1)]
    chars += [chr(0x4E00 + i) for i in range(max(0, vocab_size - 1 - len(chars)))]
    vocab = {"<unk>": 0, **{c: i + 1 for i, c in enumerate(chars[: vocab_size - 1])}}
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
           "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": False},
           "post_processor": None, "decoder": {"type": "Fuse"},
           "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                     "vocab": vocab, "merges": []}}
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)


def jsonable(x):
    """Strict JSON: infinities (time_step_limit) as the strings "Infinity" / "-Infinity"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def run_case(case, out_root, versions):
    from safetensors.torch import load_file, save_file

    name, arch, seed, T = case["name"], case["arch"], case["seed"], case["T"]
    print(f"\n=== {name} ({arch}) seed={seed} T={T}", flush=True)
    CfgCls, ModelCls = classes(arch)
    torch.manual_seed(seed)
    cfg = dict(case["cfg"])
    if "rope_theta" in cfg:  # transformers 5.x spells it rope_parameters; older releases take rope_theta
        try:
            config = CfgCls(**{**{k: v for k, v in cfg.items() if k != "rope_theta"},
                               "rope_parameters": {"rope_type": "default", "rope_theta": cfg["rope_theta"]}})
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            config = CfgCls(**cfg)
    else:
        config = CfgCls(**cfg)
    config._attn_implementation = "eager"
    config._experts_implementation = "eager"  # the grouped_mm experts path refuses float64
    model = ModelCls(config).float().eval()
    eager_experts(model)
    rules = perturb(model, torch.Generator().manual_seed(seed * 7919 + 1))
    for pname, p in model.named_parameters():
        print(f"  {pname:55s} {str(tuple(p.shape)):18s} {rules[pname]}")

    d = os.path.join(out_root, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model.save_pretrained(d)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(d, extra)):
            os.remove(os.path.join(d, extra))
    saved = load_file(os.path.join(d, "model.safetensors"))
    weights = {k: list(v.shape) for k, v in sorted(saved.items())}
    print("safetensors tensors:", json.dumps(weights))
    with open(os.path.join(d, "config.json")) as f:
        print("config.json:", f.read())

    V = config.vocab_size
    ids = torch.randint(0, V, (BATCH, T), generator=torch.Generator().manual_seed(seed * 31 + 7 + T))
    with torch.no_grad():
        logits32 = full_logits(model, ids)[1].double()
        model.double()
        hidden, logits = full_logits(model, ids)
        diff_32 = float((logits32 - logits).abs().max())
        prompt = ids[0:1, :GREEDY_PROMPT_LEN].clone()
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.eos_token_id = None
        gen_tokens, step_logits, gen_error = greedy_generate(model, prompt)
        nc_tokens, margins, nc_logits = greedy_no_cache(model, prompt)
        step_vs_full = float((step_logits - nc_logits).abs().max()) if step_logits is not None else None
        print(f"generate {gen_tokens}\nno-cache {nc_tokens}\n|step-full|={step_vs_full} min margin={min(margins):.4f} "
              f"|fp32-fp64|={diff_32:.3e}")
        m2 = ModelCls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
        eager_experts(m2)
        m2 = m2.double().eval()
        reload_diff = float((full_logits(m2, ids)[1] - logits).abs().max())
        print(f"reload max|diff| {reload_diff:.3e}")
        del m2
        facts = arch_facts(model, config)

    tensors = {"logits": logits.float().contiguous(), "hidden": hidden.float().contiguous(),
               "greedy_logits": (step_logits if step_logits is not None else nc_logits).float().contiguous()}
    save_file(tensors, os.path.join(d, "logits.safetensors"), metadata={"format": "pt"})
    write_tokenizer(d, V)
    ok = gen_error is None and gen_tokens == nc_tokens and step_vs_full is not None and step_vs_full < 1e-4 \
        and reload_diff == 0.0
    golden = {
        "case": name, "arch": arch, "covers": case["covers"], "versions": versions, "seed": seed,
        "batch": BATCH, "seq_len": T, "input_ids": ids.tolist(),
        "greedy": {"prompt": prompt[0].tolist(), "tokens": gen_tokens if gen_tokens is not None else nc_tokens,
                   "tokens_no_cache": nc_tokens, "top1_top2_margins": margins,
                   "step_logits_vs_full_forward_max_abs_diff": step_vs_full, "generate_error": gen_error,
                   "greedy_logits_source": "generate (cached steps)" if step_logits is not None else "no-cache"},
        "logits_max_abs": float(logits.abs().max()),
        "checks": {"fp32_model_vs_fp64_logits_max_abs_diff": diff_32, "reload_max_abs_diff": reload_diff, "ok": ok},
        "facts": facts, "weights": weights, "weight_rules": rules,
        "notes": ["logits = F.linear(last_hidden_state, lm_head.weight) of the float64 model without cache; "
                  "eager attention (softmax in f32), RMSNorms and rotary tables in f32 inside transformers."],
    }
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(jsonable(golden), f, indent=1, allow_nan=False, default=str)
        f.write("\n")
    print(f"case {name}: {'OK' if ok else 'CHECK FAILED'}")
    return ok


SOURCE_MODULES = [
    "transformers.models.llama.modeling_llama", "transformers.models.llama.configuration_llama",
    "transformers.models.bamba.modeling_bamba", "transformers.models.bamba.configuration_bamba",
    "transformers.models.nemotron_h.modeling_nemotron_h", "transformers.models.nemotron_h.configuration_nemotron_h",
    "transformers.models.jamba.modeling_jamba", "transformers.models.jamba.configuration_jamba",
    "transformers.models.mixtral.modeling_mixtral", "transformers.models.zamba2.modeling_zamba2",
    "transformers.modeling_rope_utils", "transformers.conversion_mapping",
]


def dump_source(path):
    import importlib
    with tarfile.open(path, "w:gz") as tar:
        for mod in SOURCE_MODULES:
            try:
                f = inspect.getsourcefile(importlib.import_module(mod))
                tar.add(f, arcname=mod.replace("transformers.", "").replace(".", "/") + ".py")
            except Exception as e:  # noqa: BLE001
                print("source dump skipped", mod, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/hybrid")
    ap.add_argument("--only", default=None)
    ap.add_argument("--dump-source", default=None, help="write the transformers sources used to this .tar.gz")
    args = ap.parse_args()
    import transformers
    versions = {"transformers": transformers.__version__, "torch": torch.__version__, "python": sys.version.split()[0]}
    print(json.dumps(versions))
    torch.set_num_threads(4)
    if args.dump_source:
        dump_source(args.dump_source)
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for case in CASES:
        if args.only and case["name"] not in args.only.split(","):
            continue
        try:
            results[case["name"]] = run_case(case, args.out, versions)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            results[case["name"]] = False
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"versions": versions, "cases": results}, f, indent=1)
    print("results:", results)
    sys.exit(0 if all(results.values()) else 1)


if __name__ == "__main__":
    main()
