#!/usr/bin/env python3
"""Independent oracle for mamba-edge: build small random-weight Hugging Face
Mamba-1 / Mamba-2 models and record their outputs as test fixtures.

Run on a machine with PyTorch, transformers and safetensors (no network needed):

    PYTHONUNBUFFERED=1 python3 tools/make_goldens.py --out test/fixtures/goldens

Optionally `--dump-source DIR` writes the exact source of the installed
transformers Mamba classes (upstream code: keep it out of the repo).

Per case it writes test/fixtures/goldens/<case>/:
  config.json, model.safetensors (+ whatever else save_pretrained writes),
  golden.json     versions, input ids, greedy generation, stats, notes
  logits.safetensors  F32 "logits" [2,T,V], "hidden" [2,T,H], "greedy_logits" [20,V]
                      (+ "greedy_logits_no_cache" [20,V] where the cached path differs)

Everything runs on the CPU, so the transformers pure-PyTorch path
(MambaMixer.slow_forward / Mamba2Mixer.torch_forward) is what runs even if
mamba_ssm / causal_conv1d kernels were installed (their dispatch needs CUDA).
See tools/README.md for the weight recipe and what each case covers.
"""
import argparse
import importlib
import importlib.util
import inspect
import json
import math
import os
import platform
import shutil
import sys
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

GREEDY_PROMPT_LEN = 9
GREEDY_NEW_TOKENS = 20
BATCH = 2

M1_TIED = dict(
    vocab_size=257, hidden_size=40, num_hidden_layers=3, state_size=8, expand=2, conv_kernel=4,
    time_step_rank="auto", use_bias=False, use_conv_bias=True, tie_word_embeddings=True,
    residual_in_fp32=True,
)
M2_G1_TIED = dict(
    vocab_size=257, hidden_size=48, num_heads=6, head_dim=16, expand=2, n_groups=1, state_size=16,
    conv_kernel=4, chunk_size=8, tie_word_embeddings=True, num_hidden_layers=2,
)

CASES = [
    dict(name="m1-tied", arch="mamba", seed=101, T=23, cfg=M1_TIED,
         covers="Mamba-1, tied lm_head, time_step_rank 'auto', conv bias, no linear bias, residual_in_fp32"),
    dict(name="m1-untied-bias", arch="mamba", seed=102, T=23,
         cfg=dict(vocab_size=300, hidden_size=36, num_hidden_layers=2, state_size=5, expand=2, conv_kernel=3,
                  time_step_rank=7, use_bias=True, use_conv_bias=False, tie_word_embeddings=False),
         covers="Mamba-1, untied lm_head, explicit time_step_rank 7, in/out_proj bias, no conv bias, kernel 3"),
    dict(name="m1-k2-fp32off", arch="mamba", seed=103, T=23,
         cfg=dict(vocab_size=260, hidden_size=24, num_hidden_layers=1, state_size=4, expand=3, conv_kernel=2,
                  residual_in_fp32=False),
         covers="Mamba-1, 1 layer, conv kernel 2, expand 3, residual_in_fp32 False, config defaults otherwise "
                "(tied, conv bias, no linear bias, rank auto)"),
    dict(name="m2-g1-tied", arch="mamba2", seed=201, T=23, cfg=M2_G1_TIED,
         covers="Mamba-2, n_groups 1, tied, chunk 8 with T=23 (3 chunks, padded last chunk)"),
    dict(name="m2-g5-untied-bias", arch="mamba2", seed=202, T=23,
         cfg=dict(vocab_size=259, hidden_size=40, expand=2, num_heads=10, head_dim=8, n_groups=5, state_size=12,
                  conv_kernel=3, chunk_size=7, use_bias=True, tie_word_embeddings=False,
                  time_step_limit=(0.01, 0.5), num_hidden_layers=3),
         covers="Mamba-2, n_groups 5 (2 heads per group), untied, in/out_proj bias, kernel 3, chunk 7 "
                "(T=23: 4 chunks), time_step_limit (0.01, 0.5) with both clamps active"),
    dict(name="m2-g2-noconvbias", arch="mamba2", seed=203, T=37,
         cfg=dict(vocab_size=256, hidden_size=32, num_heads=4, head_dim=16, n_groups=2, state_size=8,
                  conv_kernel=4, use_conv_bias=False, num_hidden_layers=4, chunk_size=16),
         covers="Mamba-2, n_groups 2, no conv bias, 4 layers, chunk 16 (T=37: 3 chunks), "
                "default time_step_limit (0, inf), untied (Mamba2Config default)"),
    dict(name="m1-long", arch="mamba", seed=101, T=160, cfg=M1_TIED,
         covers="same model as m1-tied (same seed, identical weights), long input T=160"),
    dict(name="m2-long", arch="mamba2", seed=201, T=160, cfg=M2_G1_TIED,
         covers="same model as m2-g1-tied (same seed, identical weights), T=160 = 20 full chunks of 8"),
]

NOISE_RECIPE = (
    "All float parameters are overwritten (not just perturbed) from a torch.Generator seeded per case, in "
    "named_parameters() order, so weights do not depend on the HF initialiser: embeddings and untied lm_head "
    "~N(0, 0.4^2); every Linear weight (in_proj, x_proj, dt_proj, out_proj) ~N(0, 1/fan_in); Linear biases "
    "(in_proj/out_proj) ~N(0, 0.1^2); conv1d weight ~N(0, 1/kernel), conv1d bias ~N(0, 0.2^2); all RMSNorm "
    "weights (block norm, norm_f, Mamba-2 gated mixer.norm) 1 + 0.2*N(0,1); D ~ 1 + 0.3*N(0,1); "
    "A_log = log(1..N) (Mamba-1, per state index, broadcast over channels) or log(1..num_heads) (Mamba-2) "
    "+ 0.2*N(0,1); dt bias (Mamba-1 dt_proj.bias, Mamba-2 dt_bias) = inverse-softplus(dt0) with dt0 "
    "log-uniform in [0.005, 0.5]. Anything else (none expected) gets p += 0.2*std(p)*N(0,1)."
)


def randn(gen, shape):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32)


def inv_softplus_dt(gen, n, lo=0.005, hi=0.5):
    u = torch.rand((n,), generator=gen, dtype=torch.float32)
    dt = torch.exp(u * (math.log(hi) - math.log(lo)) + math.log(lo))
    return dt + torch.log(-torch.expm1(-dt))


def perturb(model, arch, gen):
    """Overwrite every float parameter (see NOISE_RECIPE). Returns {param name: rule}."""
    rules = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.is_floating_point():
                continue
            leaf = name.split(".")
            last2 = ".".join(leaf[-2:])
            if name.endswith("embeddings.weight") or name == "lm_head.weight":
                rule, val = "N(0,0.4^2)", 0.4 * randn(gen, p.shape)
            elif leaf[-1] == "A_log":
                if arch == "mamba":
                    base = torch.log(torch.arange(1, p.shape[1] + 1, dtype=torch.float32))[None, :].expand(p.shape)
                else:
                    base = torch.log(torch.arange(1, p.shape[0] + 1, dtype=torch.float32))
                rule, val = "log(arange)+0.2N", base + 0.2 * randn(gen, p.shape)
            elif leaf[-1] == "D":
                rule, val = "1+0.3N", 1.0 + 0.3 * randn(gen, p.shape)
            elif leaf[-1] == "dt_bias" or last2 == "dt_proj.bias":
                rule, val = "inv_softplus(loguniform[0.005,0.5])", inv_softplus_dt(gen, p.shape[0])
            elif last2 == "conv1d.weight":
                k = p.shape[-1]
                rule, val = "N(0,1/k)", randn(gen, p.shape) / math.sqrt(k)
            elif last2 == "conv1d.bias":
                rule, val = "N(0,0.2^2)", 0.2 * randn(gen, p.shape)
            elif leaf[-1] == "weight" and leaf[-2] in ("norm", "norm_f"):
                rule, val = "1+0.2N", 1.0 + 0.2 * randn(gen, p.shape)
            elif leaf[-1] == "weight" and p.dim() == 2:
                rule, val = "N(0,1/fan_in)", randn(gen, p.shape) / math.sqrt(p.shape[1])
            elif leaf[-1] == "bias" and p.dim() == 1:
                rule, val = "N(0,0.1^2)", 0.1 * randn(gen, p.shape)
            else:
                s = float(p.std()) if p.numel() > 1 else 1.0
                rule, val = "fallback p+0.2*std*N", p.detach().float() + 0.2 * (s or 1.0) * randn(gen, p.shape)
            p.copy_(val.to(p.dtype))
            rules[name] = rule
    return rules


def kernel_availability():
    out = {}
    for mod in ("mamba_ssm", "causal_conv1d", "mambapy", "kernels"):
        try:
            out[mod] = importlib.util.find_spec(mod) is not None
        except Exception as e:  # noqa: BLE001
            out[mod] = f"error: {e}"
    return out


class DtStats:
    """Forward hooks that record the effective dt = softplus(...) per layer."""

    def __init__(self, model, arch, limit):
        self.rows = []
        self.handles = []
        self.limit = limit
        for i, layer in enumerate(model.backbone.layers):
            mixer = layer.mixer
            if arch == "mamba":
                # transformers 5.x computes `dt_proj.weight @ time_step` without calling dt_proj, so hook x_proj.
                h = mixer.x_proj.register_forward_hook(self._m1(i, mixer))
            else:
                h = mixer.in_proj.register_forward_hook(self._m2(i, mixer))
            self.handles.append(h)

    def _record(self, i, dt):
        dt = dt.detach().double()
        row = {"layer": i, "min": float(dt.min()), "max": float(dt.max()), "mean": float(dt.mean())}
        if self.limit is not None:
            lo, hi = self.limit
            row["frac_below_limit_lo"] = float((dt < lo).double().mean())
            row["frac_above_limit_hi"] = float((dt > hi).double().mean()) if math.isfinite(hi) else 0.0
        self.rows.append(row)

    def _m1(self, i, mixer):
        def hook(mod, inp, out):
            ts = out[..., : mixer.time_step_rank]
            self._record(i, F.softplus(F.linear(ts, mixer.dt_proj.weight, mixer.dt_proj.bias)))
        return hook

    def _m2(self, i, mixer):
        def hook(mod, inp, out):
            nh = mixer.num_heads
            self._record(i, F.softplus(out[..., -nh:] + mixer.dt_bias))
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


STEP_TOL = 1e-4


def greedy_generate(model, prompt):
    """model.generate (prefill + cached single-token steps). Returns (tokens, [20, V] fp64 logits | None, error)."""
    gen_error = None
    try:
        g = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                           max_new_tokens=GREEDY_NEW_TOKENS, use_cache=True, eos_token_id=None,
                           return_dict_in_generate=True, output_logits=True)
        seq, step_logits = g.sequences, g.logits
    except Exception as e:  # noqa: BLE001
        gen_error = repr(e)
        traceback.print_exc()
        seq = model.generate(prompt, do_sample=False, max_new_tokens=GREEDY_NEW_TOKENS)
        step_logits = None
    tokens = seq[0, prompt.shape[1]:].tolist()
    if step_logits is not None and len(step_logits) == GREEDY_NEW_TOKENS:
        step_logits = torch.stack([s[0] for s in step_logits]).double()
    else:
        step_logits = None
    return tokens, step_logits, gen_error


def greedy_no_cache(model, prompt):
    """Greedy by repeated full forwards without cache, fp64 logits. Returns (tokens, top1-top2 margins, logits)."""
    cur = prompt.clone()
    tokens, margins, logits = [], [], []
    for _ in range(GREEDY_NEW_TOKENS):
        h = model.backbone(input_ids=cur, use_cache=False).last_hidden_state[:, -1]
        lg = F.linear(h, model.lm_head.weight)[0]
        top = lg.topk(2)
        nxt = int(top.indices[0])
        tokens.append(nxt)
        margins.append(float(top.values[0] - top.values[1]))
        logits.append(lg)
        cur = torch.cat([cur, torch.tensor([[nxt]], dtype=cur.dtype)], dim=1)
    return tokens, margins, torch.stack(logits)


def jsonable(x):
    if isinstance(x, float):
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        if math.isnan(x):
            return "NaN"
        return x
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, torch.dtype):
        return str(x)
    return x


def from_pretrained(cls, d):
    try:
        return cls.from_pretrained(d, dtype=torch.float32)
    except TypeError:
        return cls.from_pretrained(d, torch_dtype=torch.float32)


def run_case(case, out_root, versions):
    import transformers
    from safetensors.torch import load_file, save_file

    name, arch, seed, T = case["name"], case["arch"], case["seed"], case["T"]
    print(f"\n=== {name} ({arch}) seed={seed} T={T}", flush=True)
    if arch == "mamba":
        CfgCls, ModelCls = transformers.MambaConfig, transformers.MambaForCausalLM
    else:
        CfgCls, ModelCls = transformers.Mamba2Config, transformers.Mamba2ForCausalLM

    torch.manual_seed(seed)
    config = CfgCls(**case["cfg"])
    model = ModelCls(config).float().eval()
    rules = perturb(model, arch, torch.Generator().manual_seed(seed * 7919 + 1))
    emb = model.backbone.embeddings.weight
    tied_in_memory = model.lm_head.weight.data_ptr() == emb.data_ptr()
    print("config.tie_word_embeddings:", getattr(config, "tie_word_embeddings", None), "tied in memory:",
          tied_in_memory)
    if "tie_word_embeddings" in case["cfg"]:
        want = case["cfg"]["tie_word_embeddings"]
        assert tied_in_memory == want, f"tying mismatch: want {want}, got {tied_in_memory}"
    for pname, rule in rules.items():
        print(f"  {pname:50s} {str(tuple(dict(model.named_parameters())[pname].shape)):16s} {rule}")

    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    try:
        model.save_pretrained(d, safe_serialization=True)
    except TypeError:
        model.save_pretrained(d)
    files = sorted(os.listdir(d))
    print("save_pretrained wrote:", files)
    saved = load_file(os.path.join(d, "model.safetensors"))
    weights = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in sorted(saved.items())}
    print("safetensors tensors:", json.dumps(weights))
    assert all(v.dtype == torch.float32 for v in saved.values()), "weights not all float32"
    with open(os.path.join(d, "config.json")) as f:
        config_json_text = f.read()
    print("config.json:", config_json_text)

    # Inputs: batch 2, random ids in [0, vocab).
    V, H = config.vocab_size, config.hidden_size
    ids = torch.randint(0, V, (BATCH, T), generator=torch.Generator().manual_seed(seed * 31 + 7 + T))

    with torch.no_grad():
        # float32 run (HF's own logits) only to quantify fp32 vs fp64 spread.
        logits32 = model(input_ids=ids, use_cache=False).logits.double()

        model.double()
        stats = DtStats(model, arch, tuple(config.time_step_limit) if arch == "mamba2" else None)
        bout = model.backbone(input_ids=ids, use_cache=False, output_hidden_states=True)
        stats.remove()
        hidden = bout.last_hidden_state
        assert hidden.dtype == torch.float64, hidden.dtype
        n_hs = len(bout.hidden_states)
        hs_last_is_final = bool(torch.equal(bout.hidden_states[-1], hidden))
        logits = F.linear(hidden, model.lm_head.weight)  # fp64 (HF's forward casts logits to fp32)
        hf_logits = model(input_ids=ids, use_cache=False).logits
        diff_hf_cast = float((hf_logits.double() - logits).abs().max())
        diff_32 = float((logits32 - logits).abs().max())
        print(f"hidden_states tuple len {n_hs} (layers {config.num_hidden_layers}); last == post-norm_f: "
              f"{hs_last_is_final}; |HF fp32-cast logits - fp64| {diff_hf_cast:.3e}; |fp32 run - fp64| {diff_32:.3e}")
        print("dt stats:", json.dumps(stats.rows))

        # Greedy decode through generate (cache / single-step path), float64 model.
        prompt = ids[0:1, :GREEDY_PROMPT_LEN].clone()
        gc = getattr(model, "generation_config", None)
        gen_cfg_before = ({k: getattr(gc, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
                          if gc is not None else None)
        if gc is not None:
            gc.eos_token_id = None  # never stop early: we want exactly 20 tokens
        gen_tokens, step_logits, gen_error = greedy_generate(model, prompt)
        # Independent check: greedy via repeated full (no-cache) forwards in fp64.
        nc_tokens, margins, nc_logits = greedy_no_cache(model, prompt)
        greedy_logits = step_logits
        step_vs_full = None
        if step_logits is not None:
            step_vs_full = float((step_logits - nc_logits).abs().max())
        match = gen_tokens == nc_tokens
        print(f"generate tokens   {gen_tokens}\nno-cache tokens   {nc_tokens}\nmatch={match} "
              f"min margin={min(margins):.4f} |step logits - full logits|={step_vs_full}")
        consistent = match and step_vs_full is not None and step_vs_full < STEP_TOL

        # transformers' cached single-token step (mamba2_selective_state_update) applies softplus(dt + dt_bias) but
        # never clamps dt to time_step_limit, while the full forward (mamba2_chunk_scan) clamps. If the paths
        # disagree on a model with a non-default limit, check that removing the limit makes them agree.
        limit = tuple(float(x) for x in config.time_step_limit) if arch == "mamba2" else None
        explained = None
        if not consistent and limit is not None and limit != (0.0, math.inf):
            saved_limits = [layer.mixer.time_step_limit for layer in model.backbone.layers]
            try:
                for layer in model.backbone.layers:
                    layer.mixer.time_step_limit = (0.0, math.inf)
                t_u, sl_u, err_u = greedy_generate(model, prompt)
                nc_u, _, nl_u = greedy_no_cache(model, prompt)
                d_u = float((sl_u - nl_u).abs().max()) if sl_u is not None else None
                explained = err_u is None and t_u == nc_u and d_u is not None and d_u < STEP_TOL
                print(f"with time_step_limit removed: cache == no-cache: {t_u == nc_u}, |step - full| = {d_u}"
                      f" -> divergence explained by unclamped step path: {explained}")
            finally:
                for layer, lim in zip(model.backbone.layers, saved_limits):
                    layer.mixer.time_step_limit = lim

        # Reload what we saved and check it reproduces the fp64 logits exactly.
        m2 = from_pretrained(ModelCls, d).double().eval()
        reload_tied = m2.lm_head.weight.data_ptr() == m2.backbone.embeddings.weight.data_ptr()
        l2 = F.linear(m2.backbone(input_ids=ids, use_cache=False).last_hidden_state, m2.lm_head.weight)
        reload_diff = float((l2 - logits).abs().max())
        print(f"reload: tied={reload_tied} max|diff|={reload_diff:.3e}")
        del m2

    tensors = {"logits": logits.float().contiguous(), "hidden": hidden.float().contiguous()}
    if greedy_logits is not None:
        tensors["greedy_logits"] = greedy_logits.float().contiguous()
    if not consistent:
        tensors["greedy_logits_no_cache"] = nc_logits.float().contiguous()
    save_file(tensors, os.path.join(d, "logits.safetensors"), metadata={"format": "pt"})

    if arch == "mamba":
        resolved = {"intermediate_size": config.intermediate_size, "time_step_rank": config.time_step_rank}
    else:
        inter = int(config.expand * config.hidden_size)
        conv_dim = inter + 2 * config.n_groups * config.state_size
        resolved = {"intermediate_size": inter, "time_step_rank": config.time_step_rank, "conv_dim": conv_dim,
                    "in_proj_out": inter + conv_dim + config.num_heads,
                    "time_step_limit": list(config.time_step_limit)}
    flat = logits.flatten(0, 1)
    probs = torch.softmax(flat, -1)
    golden = {
        "case": name,
        "arch": arch,
        "covers": case["covers"],
        "transformers_version": versions["transformers"],
        "torch_version": versions["torch"],
        "seed": seed,
        "batch": BATCH,
        "seq_len": T,
        "input_ids": ids.tolist(),
        "greedy": {
            "prompt": prompt[0].tolist(),
            "tokens": gen_tokens,
            "tokens_no_cache_fp64": nc_tokens,
            "cache_path_matches_no_cache": match,
            "hf_step_path_ignores_time_step_limit": explained,
            "top1_top2_margins": margins,
            "step_logits_vs_full_forward_max_abs_diff": step_vs_full,
            "generate_error": gen_error,
        },
        "logits_max_abs": float(logits.abs().max()),
        "logits_std": float(logits.std()),
        "max_softmax_prob_mean": float(probs.max(-1).values.mean()),
        "hidden_max_abs": float(hidden.abs().max()),
        "checks": {
            "hf_logits_fp32_cast_vs_fp64_max_abs_diff": diff_hf_cast,
            "fp32_model_vs_fp64_logits_max_abs_diff": diff_32,
            "reload_from_saved_files_max_abs_diff": reload_diff,
            "lm_head_tied_in_memory": tied_in_memory,
            "reload_lm_head_tied": reload_tied,
            "output_hidden_states_len": n_hs,
            "output_hidden_states_last_equals_last_hidden_state": hs_last_is_final,
        },
        "dt_stats": stats.rows,
        "resolved": resolved,
        "files": files,
        "weights": weights,
        "weight_rules": rules,
        "generation_config_special_tokens": gen_cfg_before,
        "kernel_packages_importable": kernel_availability(),
        "device": "cpu (transformers' torch fallbacks run; fused kernels are never used)",
        "notes": [
            "logits/hidden: full-sequence forward without cache on CPU, model.double(); logits = "
            "F.linear(last_hidden_state, lm_head.weight) in fp64 (HF's own forward casts logits to fp32), "
            "stored as F32.",
            "HF's 'fp64' path is not fully fp64: RMSNorms compute in fp32, A = -exp(A_log.float()), Mamba-1 "
            "slow_forward casts B and x to fp32, Mamba-2 torch_forward casts x/B/C to fp32, residual_in_fp32 "
            "casts the residual to fp32. checks.fp32_model_vs_fp64_logits_max_abs_diff shows the spread a "
            "float32 implementation should expect.",
            "hidden = last_hidden_state = output after backbone.norm_f (== output_hidden_states[-1]; "
            "the tuple has num_layers + 1 entries: each block's output, then norm_f's; no embedding entry).",
            "greedy: model.generate(do_sample=False, max_new_tokens=20, use_cache=True) on the fp64 model "
            "with eos disabled; prompt = input_ids[0][:9]. greedy_logits[i] = logits that chose tokens[i] "
            "(i=0 from the prefill, i>0 from single-token cached steps), fp32-cast by HF.",
            "Weights: " + NOISE_RECIPE,
        ] + ([
            "time_step_limit: transformers' cached single-token step (mamba2_selective_state_update) computes "
            "softplus(dt + dt_bias) WITHOUT clamping to time_step_limit, while the full forward "
            "(mamba2_chunk_scan) clamps, so greedy.tokens / greedy_logits (HF generate) differ from "
            "greedy.tokens_no_cache_fp64 / greedy_logits_no_cache (what a model that clamps in both paths "
            "gives). With the limit removed both paths agree (checked)."
        ] if explained else []),
    }
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(jsonable(golden), f, indent=1, allow_nan=False, default=str)
        f.write("\n")
    ok = ((consistent or explained is True) and reload_diff == 0.0 and gen_error is None
          and len(gen_tokens) == GREEDY_NEW_TOKENS)
    print(f"case {name}: {'OK' if ok else 'CHECK FAILED'}")
    return ok, {"name": name, "arch": arch, "seq_len": T, "vocab_size": V, "hidden_size": H,
                "layers": config.num_hidden_layers, "covers": case["covers"], "checks_ok": ok}


SOURCE_ITEMS = [
    ("transformers.models.mamba.modeling_mamba", ["MambaMixer.slow_forward", "MambaMixer.__init__",
                                                  "MambaRMSNorm", "MambaBlock.forward", "MambaModel.forward",
                                                  "MambaCache", "MambaForCausalLM.prepare_inputs_for_generation"]),
    ("transformers.models.mamba.configuration_mamba", ["MambaConfig"]),
    ("transformers.models.mamba2.modeling_mamba2", ["pad_tensor_by_size", "reshape_into_chunks", "segment_sum",
                                                    "apply_mask_to_padding_states", "MambaRMSNormGated",
                                                    "Mamba2Mixer.__init__", "Mamba2Mixer.torch_forward",
                                                    "Mamba2RMSNorm", "Mamba2Block.forward", "Mamba2Model.forward",
                                                    "Mamba2ForCausalLM.prepare_inputs_for_generation"]),
    ("transformers.models.mamba2.configuration_mamba2", ["Mamba2Config"]),
]


def dump_source(dest, versions):
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "VERSIONS.txt"), "w") as f:
        f.write(json.dumps(versions, indent=1) + "\n")
    sel = []
    for modname, items in SOURCE_ITEMS:
        mod = importlib.import_module(modname)
        with open(os.path.join(dest, modname.split(".")[-1] + ".py"), "w") as f:
            f.write(inspect.getsource(mod))
        for item in items:
            try:
                obj = mod
                for part in item.split("."):
                    obj = getattr(obj, part)
                sel.append(f"# ===== {modname}.{item}\n{inspect.getsource(obj)}\n")
            except Exception as e:  # noqa: BLE001
                sel.append(f"# ===== {modname}.{item}: NOT FOUND ({e!r})\n")
    with open(os.path.join(dest, "selected.py.txt"), "w") as f:
        f.write("\n".join(sel))
    # Cache classes (conv/recurrent state update semantics) and config serialisation (how inf is written).
    for modname in ("transformers.cache_utils", "transformers.configuration_utils"):
        try:
            mod = importlib.import_module(modname)
            with open(os.path.join(dest, modname.split(".")[-1] + ".py"), "w") as f:
                f.write(inspect.getsource(mod))
        except Exception as e:  # noqa: BLE001
            print(modname, "dump failed:", e)
    print("source dumped to", dest, sorted(os.listdir(dest)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test",
                                                  "fixtures", "goldens"))
    ap.add_argument("--dump-source", default=None, help="directory for the transformers source dump")
    ap.add_argument("--only", nargs="*", default=None, help="case names to (re)generate")
    args = ap.parse_args()

    import transformers
    import safetensors
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    versions = {"transformers": transformers.__version__, "torch": torch.__version__,
                "safetensors": getattr(safetensors, "__version__", "?"), "python": platform.python_version(),
                "transformers_file": transformers.__file__}
    print("versions:", json.dumps(versions))
    print("kernel packages importable:", json.dumps(kernel_availability()))
    print("cuda available:", torch.cuda.is_available(), "(not used: everything runs on CPU)")

    if args.dump_source:
        try:
            dump_source(args.dump_source, versions)
        except Exception:  # noqa: BLE001
            traceback.print_exc()

    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    results, all_ok = [], True
    for case in CASES:
        if args.only and case["name"] not in args.only:
            continue
        try:
            ok, summary = run_case(case, out_root, versions)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            ok, summary = False, {"name": case["name"], "error": traceback.format_exc()}
        all_ok &= ok
        results.append(summary)
    if not args.only:
        with open(os.path.join(out_root, "index.json"), "w") as f:
            json.dump({"transformers_version": versions["transformers"], "torch_version": versions["torch"],
                       "generator": "tools/make_goldens.py", "cases": results}, f, indent=1, allow_nan=False)
            f.write("\n")
    print("\nSUMMARY:", json.dumps(results, indent=1))
    print("ALL OK" if all_ok else "SOME CHECKS FAILED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
