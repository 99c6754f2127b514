#!/usr/bin/env python3
"""PyTorch oracle for mamba-edge's lineage models (docs/lineage.md): random-weight
nn.RNN (tanh, relu) / nn.LSTM (with and without proj_size) / nn.GRU language models and
S4D / gated S4D language models, with their outputs recorded as test fixtures.

Run on a machine with PyTorch (no network, no other package needed):

    PYTHONUNBUFFERED=1 python3 tools/make_lineage_goldens.py --out test/fixtures/lineage

Per case it writes <out>/<case>/:
  config.json          the lineage config (docs/lineage.md)
  model.safetensors    the state dict in F32 (tied heads stored once, as embedding.weight);
                       long cases reuse their base case's model ("model_dir" in golden.json)
  golden.json          versions, what the case covers, input ids, greedy run, measured spreads
  golden.safetensors   F64: "logits" [2,T,V] and "hidden" [2,T,D] of a full forward (or, for
                       long cases, "logits_at" [2,P,V] at golden.json's positions), and
                       "greedy_logits" [NEW,V]: the logits each greedy token was chosen from

Everything is computed in float64 (model.double(); the weights are float32 values, so the f64
model is exactly the saved one). The recurrent models run torch's own nn.RNN/LSTM/GRU (greedy
steps pass torch's (h, c) state); S4D runs the convolution form of state-spaces/s4's
models/s4/s4d.py (kernel K from S4DKernel, FFT convolution), and its greedy continuation re-runs
the full forward on the growing sequence — so the runtime's recurrent form is checked against
an independent convolution. A float32 run of the same model records torch's own f32 spread.
"""
import argparse
import json
import math
import os
import platform
import shutil
import struct
import sys
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 2
PROMPT_LEN = 7
NEW_TOKENS = 8
LONG_POSITIONS = [0, 1, 74, 148, 222, 297, 298, 299]

CASES = [
    dict(name="rnn-tanh", seed=11, T=11,
         cfg=dict(model_type="rnn", vocab_size=263, hidden_size=29, num_layers=2, nonlinearity="tanh", bias=True),
         covers="Elman RNN, tanh, 2 layers, bias, untied head with bias"),
    dict(name="rnn-relu-nobias", seed=12, T=11,
         cfg=dict(model_type="rnn", vocab_size=259, embedding_size=23, hidden_size=31, num_layers=3,
                  nonlinearity="relu", bias=False),
         covers="Elman RNN, relu, 3 layers, no bias, embedding_size 23 != hidden_size 31"),
    dict(name="lstm", seed=13, T=11,
         cfg=dict(model_type="lstm", vocab_size=267, hidden_size=27, num_layers=2, bias=True),
         covers="LSTM, 2 layers, bias"),
    dict(name="lstm-proj-tied", seed=14, T=11,
         cfg=dict(model_type="lstm", vocab_size=261, embedding_size=13, hidden_size=33, proj_size=13,
                  num_layers=2, bias=True, tie_word_embeddings=True),
         covers="LSTM with proj_size 13 (hidden 33), 2 layers, head tied to the embedding (head bias kept)"),
    dict(name="lstm-1layer-nobias", seed=15, T=11,
         cfg=dict(model_type="lstm", vocab_size=257, embedding_size=17, hidden_size=21, num_layers=1,
                  bias=False, head_bias=False),
         covers="LSTM, 1 layer, no bias, no head bias, embedding_size 17"),
    dict(name="gru", seed=16, T=11,
         cfg=dict(model_type="gru", vocab_size=269, hidden_size=25, num_layers=2, bias=True),
         covers="GRU, 2 layers, bias (b_hn inside r * (W_hn h + b_hn))"),
    dict(name="gru-3layer-nobias", seed=17, T=11,
         cfg=dict(model_type="gru", vocab_size=258, embedding_size=19, hidden_size=15, num_layers=3, bias=False),
         covers="GRU, 3 layers, no bias, embedding_size 19"),
    dict(name="s4d", seed=18, T=11,
         cfg=dict(model_type="s4d", vocab_size=265, hidden_size=19, num_layers=2, state_size=10, gated=False),
         covers="S4D LM, 2 layers, H 19, N 10 (5 complex modes), untied head with bias"),
    dict(name="s4d-gated-tied", seed=19, T=11,
         cfg=dict(model_type="s4d", vocab_size=257, hidden_size=23, num_layers=3, state_size=6, gated=True,
                  tie_word_embeddings=True),
         covers="gated S4D LM, 3 layers, H 23, N 6 (3 modes), tied head"),
    dict(name="lstm-long", seed=13, T=300, long=True, cfg=None, same_as="lstm",
         covers="the lstm case's model (same seed, same weights), T=300"),
    dict(name="s4d-long", seed=18, T=300, long=True, cfg=None, same_as="s4d",
         covers="the s4d case's model (same seed, same weights), T=300: recurrence vs FFT convolution at length"),
]

RECIPE = (
    "Weights from torch.Generator(seed): recurrent layers U(-a, a) with a = 1.5/sqrt(hidden_size) "
    "(1/sqrt for relu RNNs, torch's default bound), including biases and weight_hr; embedding N(0,1); "
    "head weight U(+-3/sqrt(width)), head bias U(+-1/sqrt(width)); S4D: log_dt U[log 0.01, log 0.5], "
    "C N(0,1/2) per real part (torch.randn cfloat), log_A_real log(0.5) + 0.2 N, A_imag pi*n + 0.1 N, "
    "D N(0,1), output_linear (Conv1d 1x1) and gate U(+-1/sqrt(H)) for weight and bias, RMSNorm weights 1 + 0.1 N."
)


# ---- models ---------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class RecurrentLM(nn.Module):
    """embedding -> nn.RNN / nn.LSTM / nn.GRU (batch_first) -> linear head."""

    def __init__(self, cfg):
        super().__init__()
        kind = cfg["model_type"]
        V, H, L = cfg["vocab_size"], cfg["hidden_size"], cfg["num_layers"]
        E = cfg.get("embedding_size", H)
        bias = cfg.get("bias", True)
        self.embedding = nn.Embedding(V, E)
        if kind == "rnn":
            self.rnn = nn.RNN(E, H, L, nonlinearity=cfg.get("nonlinearity", "tanh"), bias=bias, batch_first=True)
        elif kind == "lstm":
            self.rnn = nn.LSTM(E, H, L, bias=bias, batch_first=True, proj_size=cfg.get("proj_size", 0))
        else:
            self.rnn = nn.GRU(E, H, L, bias=bias, batch_first=True)
        width = cfg.get("proj_size", 0) or H
        self.head = nn.Linear(width, V, bias=cfg.get("head_bias", True))
        if cfg.get("tie_word_embeddings", False):
            self.head.weight = self.embedding.weight

    def forward(self, ids, state=None):
        y, state = self.rnn(self.embedding(ids), state)
        return self.head(y), y, state


class S4DKernel(nn.Module):
    """S4D's convolution kernel (state-spaces/s4 models/s4/s4d.py S4DKernel.forward)."""

    def __init__(self, H, N):
        super().__init__()
        self.log_dt = nn.Parameter(torch.zeros(H))
        self.C = nn.Parameter(torch.zeros(H, N // 2, 2))
        self.log_A_real = nn.Parameter(torch.zeros(H, N // 2))
        self.A_imag = nn.Parameter(torch.zeros(H, N // 2))

    def forward(self, L):
        dt = torch.exp(self.log_dt)                                   # (H)
        C = torch.view_as_complex(self.C)                             # (H, M)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag            # (H, M)
        dtA = A * dt.unsqueeze(-1)                                    # (H, M)
        powers = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)  # (H, M, L)
        Cp = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum("hm,hml->hl", Cp, torch.exp(powers)).real  # (H, L)


class S4DLayer(nn.Module):
    """S4D (s4d.py S4D, transposed=False) + the optional input-dependent output gate."""

    def __init__(self, H, N, gated):
        super().__init__()
        self.D = nn.Parameter(torch.zeros(H))
        self.kernel = S4DKernel(H, N)
        self.gate = nn.Linear(H, H) if gated else None
        self.output_linear = nn.Sequential(nn.Conv1d(H, 2 * H, kernel_size=1), nn.GLU(dim=-2))

    def forward(self, u):                        # u (B, L, H)
        x = u.transpose(-1, -2)                  # (B, H, L)
        L = x.size(-1)
        k = self.kernel(L)
        y = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = y + x * self.D.unsqueeze(-1)
        y = F.gelu(y)                            # exact (erf) GELU, s4d.py's nn.GELU()
        if self.gate is not None:
            y = y * torch.sigmoid(self.gate(u)).transpose(-1, -2)
        return self.output_linear(y).transpose(-1, -2)


class S4DBlock(nn.Module):
    def __init__(self, H, N, gated, eps):
        super().__init__()
        self.norm = RMSNorm(H, eps)
        self.mixer = S4DLayer(H, N, gated)

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class S4DLM(nn.Module):
    """embedding -> [h + S4D(rmsnorm(h))] x L -> rmsnorm_f -> head."""

    def __init__(self, cfg):
        super().__init__()
        V, H, L, N = cfg["vocab_size"], cfg["hidden_size"], cfg["num_layers"], cfg["state_size"]
        eps = cfg.get("norm_eps", 1e-5)
        self.embedding = nn.Embedding(V, H)
        self.layers = nn.ModuleList([S4DBlock(H, N, cfg.get("gated", False), eps) for _ in range(L)])
        self.norm_f = RMSNorm(H, eps)
        self.head = nn.Linear(H, V, bias=cfg.get("head_bias", True))
        if cfg.get("tie_word_embeddings", False):
            self.head.weight = self.embedding.weight

    def forward(self, ids, state=None):
        h = self.embedding(ids)
        for layer in self.layers:
            h = layer(h)
        h = self.norm_f(h)
        return self.head(h), h, None


# ---- weights --------------------------------------------------------------------------------

def init_weights(model, cfg, gen):
    def U(shape, a):
        return (torch.rand(tuple(shape), generator=gen) * 2 - 1) * a

    def N(shape):
        return torch.randn(tuple(shape), generator=gen)

    kind = cfg["model_type"]
    with torch.no_grad():
        for name, p in model.named_parameters():  # shared (tied) parameters appear once
            leaf = name.split(".")[-1]
            if name == "embedding.weight":
                val = N(p.shape)
            elif name == "head.weight":
                val = U(p.shape, 3 / math.sqrt(p.shape[1]))
            elif name == "head.bias":
                val = U(p.shape, 1 / math.sqrt(model.head.in_features))
            elif name.startswith("rnn."):
                H = cfg["hidden_size"]
                gain = 1.0 if cfg.get("nonlinearity") == "relu" else 1.5
                val = U(p.shape, gain / math.sqrt(H))
            elif leaf == "log_dt":
                val = math.log(0.01) + torch.rand(tuple(p.shape), generator=gen) * (math.log(0.5) - math.log(0.01))
            elif leaf == "C" and p.dim() == 3:
                val = N(p.shape) * math.sqrt(0.5)
            elif leaf == "log_A_real":
                val = math.log(0.5) + 0.2 * N(p.shape)
            elif leaf == "A_imag":
                val = math.pi * torch.arange(p.shape[1], dtype=torch.float32).expand(p.shape) + 0.1 * N(p.shape)
            elif leaf == "D":
                val = N(p.shape)
            elif name.endswith("norm.weight") or name == "norm_f.weight":
                val = 1 + 0.1 * N(p.shape)
            elif ".gate." in name or ".output_linear." in name:
                val = U(p.shape, 1 / math.sqrt(cfg["hidden_size"]))
            else:
                raise RuntimeError(f"no init rule for {name} {tuple(p.shape)}")
            p.copy_(val.to(p.dtype))
    _ = kind


def build(cfg, seed):
    torch.manual_seed(seed)
    model = RecurrentLM(cfg) if cfg["model_type"] in ("rnn", "lstm", "gru") else S4DLM(cfg)
    init_weights(model, cfg, torch.Generator().manual_seed(seed * 7919 + 1))
    return model.float().eval()


# ---- files ----------------------------------------------------------------------------------

def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    try:
        return t.numpy().tobytes()
    except Exception:  # noqa: BLE001 (no numpy)
        fmt = {torch.float32: "f", torch.float64: "d"}[t.dtype]
        return struct.pack("<%d%s" % (t.numel(), fmt), *t.flatten().tolist())


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        dtype = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        b = tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def state_dict_for_file(model, cfg):
    sd = {}
    for k, v in model.state_dict().items():
        if k == "head.weight" and cfg.get("tie_word_embeddings", False):
            continue  # the same tensor as embedding.weight
        sd[k] = v.float()
    return sd


# ---- runs -----------------------------------------------------------------------------------

def greedy(model, prompt, stateful):
    """Greedy continuation of prompt [1, P]: torch's state passing (recurrent) or full re-forwards (S4D)."""
    tokens, margins, logits = [], [], []
    if stateful:
        lg, _, state = model(prompt)
        last = lg[0, -1]
        for _ in range(NEW_TOKENS):
            top = last.topk(2)
            nxt = int(top.indices[0])
            tokens.append(nxt)
            margins.append(float(top.values[0] - top.values[1]))
            logits.append(last)
            lg, _, state = model(torch.tensor([[nxt]]), state)
            last = lg[0, -1]
    else:
        cur = prompt.clone()
        for _ in range(NEW_TOKENS):
            last = model(cur)[0][0, -1]
            top = last.topk(2)
            nxt = int(top.indices[0])
            tokens.append(nxt)
            margins.append(float(top.values[0] - top.values[1]))
            logits.append(last)
            cur = torch.cat([cur, torch.tensor([[nxt]])], dim=1)
    return tokens, margins, torch.stack(logits)


def run_case(case, out_root, cfg_by_name, versions):
    name, seed, T = case["name"], case["seed"], case["T"]
    cfg = case["cfg"] or cfg_by_name[case["same_as"]]
    print(f"\n=== {name} seed={seed} T={T} {cfg}", flush=True)
    model = build(cfg, seed)
    V = cfg["vocab_size"]
    for pname, p in model.named_parameters():
        print(f"  {pname:42s} {str(tuple(p.shape)):16s} mean {float(p.mean()):+.3f} std {float(p.std()) if p.numel() > 1 else 0:.3f}")

    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    if case["cfg"] is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_safetensors(os.path.join(d, "model.safetensors"), state_dict_for_file(model, cfg))

    ids = torch.randint(0, V, (BATCH, T), generator=torch.Generator().manual_seed(seed * 31 + 7 + T))
    prompt = ids[:1, :PROMPT_LEN]
    stateful = cfg["model_type"] != "s4d"
    with torch.no_grad():
        logits32, _, _ = model(ids)
        model.double()
        logits, hidden, _ = model(ids)
        assert logits.dtype == torch.float64
        spread32 = float((logits32.double() - logits).abs().max())
        tokens, margins, glogits = greedy(model, prompt, stateful)
        extra = {}
        if stateful:
            # torch's own step form (state passed one token at a time) vs its full forward
            state, steps = None, []
            for t in range(T):
                lg, _, state = model(ids[:, t:t + 1], state)
                steps.append(lg)
            extra["torch_steps_vs_full_max_abs"] = float((torch.cat(steps, 1) - logits).abs().max())
    out = {"greedy_logits": glogits}
    if case.get("long"):
        pos = [p for p in LONG_POSITIONS if p < T]
        out["logits_at"] = logits[:, pos, :].contiguous()
    else:
        pos = None
        out["logits"] = logits
        out["hidden"] = hidden
    save_safetensors(os.path.join(d, "golden.safetensors"), out)
    meta = {
        "case": name, "covers": case["covers"], "seed": seed, "T": T, "batch": BATCH,
        "model_type": cfg["model_type"], "config": cfg, "versions": versions, "weight_recipe": RECIPE,
        "model_dir": "." if case["cfg"] is not None else "../" + case["same_as"],
        "input_ids": ids.tolist(), "positions": pos,
        "greedy": {"prompt": prompt[0].tolist(), "tokens": tokens, "top1_minus_top2": margins,
                   "method": "torch state passing" if stateful else "full forward (FFT conv) per token, no cache"},
        "stats": {"logits_abs_max": float(logits.abs().max()), "hidden_abs_max": float(hidden.abs().max()),
                  "torch_f32_vs_f64_logits_max_abs": spread32, **extra},
    }
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"  logits |max| {meta['stats']['logits_abs_max']:.3f}, f32-vs-f64 {spread32:.2e}, "
          f"greedy {tokens} min margin {min(margins):.3e} {extra}", flush=True)
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/lineage")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    versions = {"torch": torch.__version__, "python": platform.python_version()}
    print("versions:", versions, flush=True)
    os.makedirs(args.out, exist_ok=True)
    cfg_by_name, done, failed = {}, [], []
    for case in CASES:
        if case["cfg"] is not None:
            cfg_by_name[case["name"]] = case["cfg"]
        if args.only and case["name"] not in args.only:
            continue
        try:
            run_case(case, args.out, cfg_by_name, versions)
            done.append(case["name"])
        except Exception:  # noqa: BLE001 — keep going: one broken case must not cost the others
            traceback.print_exc()
            failed.append(case["name"])
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"cases": done, "failed": failed, "versions": versions}, f, indent=1)
    print("done:", done, "failed:", failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
