#!/usr/bin/env python3
"""Train, evaluate, export and validate mamba-edge's embedded default model.

A small byte-level Mamba-2 (transformers `Mamba2ForCausalLM` layout) trained
on the English corpus that tools/gather_corpus.sh extracts from Debian
packages. One run on one data-center GPU does everything:

  1. trains a compact pure-PyTorch Mamba-2 (SSD chunked scan, bf16 autocast,
     optionally torch.compile) for a wall-clock budget, with a cosine LR
     schedule over *time* so it always finishes and saves;
  2. scores the held-out split (bits per byte) and the fixed <= 20 KB
     held-out slice;
  3. exports models/default-style files: config.json (Mamba2Config),
     model.safetensors (F16 matrices, F32 small vectors, tied lm_head),
  4. validates the export: transformers' Mamba2ForCausalLM.from_pretrained
     (float32, CPU: its pure-PyTorch path -- `torch_forward` in transformers
     4.x, the reference fallbacks of the kernels in 5.x when mamba_ssm /
     causal_conv1d are absent) must give the same logits as this module
     (max |diff| < 1e-3) on a held-out snippet;
  5. writes samples produced by transformers and a metrics.json from which
     `python3 tools/train_default.py card ...` (no PyTorch needed) writes the
     model card.

Usage (GPU machine, repo root, corpus unpacked in CORPUS):
  python tools/train_default.py train --smoke --corpus CORPUS --out /tmp/smoke
  python tools/train_default.py train --corpus CORPUS --out OUT --train-seconds 330
  python tools/train_default.py train --resume OUT/model.safetensors ...   (skip training)
Card (any machine):
  python3 tools/train_default.py card --metrics OUT/metrics.json --dir models/default

Module parameter names/shapes are exactly those of transformers'
Mamba2ForCausalLM:
  backbone.embeddings.weight                 [V, d]
  backbone.layers.N.norm.weight              [d]
  backbone.layers.N.mixer.in_proj.weight     [2*I + 2*G*S + H, d]   (z, xBC, dt)
  backbone.layers.N.mixer.conv1d.weight      [I + 2*G*S, 1, K]
  backbone.layers.N.mixer.conv1d.bias        [I + 2*G*S]
  backbone.layers.N.mixer.dt_bias / A_log / D  [H]
  backbone.layers.N.mixer.norm.weight        [I]
  backbone.layers.N.mixer.out_proj.weight    [d, I]
  backbone.norm_f.weight                     [d]
  lm_head.weight                             tied to the embeddings (not stored)
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time

T0 = time.time()


def log(*a):
    print('[%7.1fs]' % (time.time() - T0), *a, flush=True)


# ==========================================================================
# model (imports torch lazily so `card` runs without PyTorch)
# ==========================================================================

def build_torch_parts():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def no_autocast():
        return torch.autocast('cuda', enabled=False) if torch.cuda.is_available() else contextlib.nullcontext()

    def segsum_exp(a):
        """a: (..., L) -> exp(segment sums) (..., L, L): out[i, j] =
        exp(sum_{j < k <= i} a_k) for i >= j, 0 above the diagonal."""
        L = a.shape[-1]
        cs = torch.cumsum(a, dim=-1)
        diff = cs[..., :, None] - cs[..., None, :]
        mask = torch.ones(L, L, dtype=torch.bool, device=a.device).tril()
        return torch.exp(diff.masked_fill(~mask, float('-inf')))

    def ssd_chunked(x, dt, A, B, C, chunk):
        """Mamba-2 SSD, chunked (matmul) form, n_groups = 1.
        x: (b, l, h, p)  dt: (b, l, h)  A: (h,)  B, C: (b, l, n)  -> y: (b, l, h, p)
        (without the D skip). l must be a multiple of chunk."""
        b, l, h, p = x.shape
        n = B.shape[-1]
        c = l // chunk
        xdt = (x * dt[..., None]).view(b, c, chunk, h, p)          # (b, c, L, h, p)
        a = (dt * A).view(b, c, chunk, h).permute(0, 3, 1, 2)        # (b, h, c, L)
        a_cum = torch.cumsum(a, dim=-1)                              # (b, h, c, L)
        Bc = B.view(b, c, chunk, n)                                  # (b, c, L, n)
        Cc = C.view(b, c, chunk, n)                                  # (b, c, L, n)
        # 1. intra-chunk (diagonal blocks): y_l = sum_s C_l.B_s exp(a_cum_l - a_cum_s) xdt_s
        Lmat = segsum_exp(a)                                         # (b, h, c, L, L)
        CB = torch.einsum('bcln,bcsn->bcls', Cc, Bc)                 # (b, c, L, L)
        M = Lmat * CB[:, None]                                       # (b, h, c, L, L)
        y_diag = torch.einsum('bhcls,bcshp->bclhp', M, xdt)          # (b, c, L, h, p)
        # 2. state at the end of each chunk from that chunk's inputs
        decay_states = torch.exp(a_cum[..., -1:] - a_cum)            # (b, h, c, L)
        xw = xdt * decay_states.permute(0, 2, 3, 1)[..., None]      # (b, c, L, h, p)
        states = torch.einsum('bcln,bclhp->bchpn', Bc, xw)           # (b, c, h, p, n)
        # 3. inter-chunk recurrence (state entering each chunk)
        states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)  # (b, c+1, h, p, n)
        chunk_a = F.pad(a_cum[..., -1], (1, 0))                      # (b, h, c+1)
        decay_chunk = segsum_exp(chunk_a)                            # (b, h, c+1, c+1)
        states = torch.einsum('bhzc,bchpn->bzhpn', decay_chunk, states)[:, :-1]  # (b, c, h, p, n)
        # 4. contribution of the entering state to each position
        y_off = torch.einsum('bcln,bchpn->bclhp', Cc, states)        # (b, c, L, h, p)
        y_off = y_off * torch.exp(a_cum).permute(0, 2, 3, 1)[..., None]
        return (y_diag + y_off).reshape(b, l, h, p)

    def ssd_sequential(x, dt, A, B, C):
        """Reference recurrence (slow): h_t = exp(dt A) h + dt B_t x_t; y_t = C_t h_t."""
        b, l, h, p = x.shape
        n = B.shape[-1]
        hs = x.new_zeros(b, h, p, n)
        ys = []
        for t in range(l):
            dA = torch.exp(dt[:, t] * A)                              # (b, h)
            hs = hs * dA[..., None, None] + (dt[:, t, :, None, None] * x[:, t, :, :, None]
                                             * B[:, t, None, None, :])
            ys.append(torch.einsum('bhpn,bn->bhp', hs, C[:, t]))
        return torch.stack(ys, dim=1)

    class RMSNorm(nn.Module):
        def __init__(self, d, eps):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):
            dtype = x.dtype
            x = x.float()
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.weight * x.to(dtype)

    class GatedRMSNorm(nn.Module):
        """transformers MambaRMSNormGated: norm(y * silu(z)) * weight (n_groups = 1)."""
        def __init__(self, d, eps):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, y, z):
            dtype = y.dtype
            y = y.float() * F.silu(z.float())
            y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.weight * y.to(dtype)

    class Mixer(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            d, H, P, S, K = cfg['hidden_size'], cfg['num_heads'], cfg['head_dim'], cfg['state_size'], cfg['conv_kernel']
            assert cfg['n_groups'] == 1
            self.H, self.P, self.S = H, P, S
            self.I = I = H * P
            assert I == cfg['expand'] * d
            self.conv_dim = I + 2 * S
            self.in_proj = nn.Linear(d, 2 * I + 2 * S + H, bias=False)
            self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, K, groups=self.conv_dim,
                                    padding=K - 1, bias=True)
            self.dt_bias = nn.Parameter(torch.zeros(H))
            self.A_log = nn.Parameter(torch.zeros(H))
            self.D = nn.Parameter(torch.ones(H))
            self.norm = GatedRMSNorm(I, cfg['layer_norm_epsilon'])
            self.out_proj = nn.Linear(I, d, bias=False)
            self.dt_min, self.dt_max = cfg['time_step_limit']
            self.chunk = cfg['train_chunk']

        def forward(self, u):                                          # u: (b, l, d)
            b, l, _ = u.shape
            zxbcdt = self.in_proj(u)                                   # (b, l, 2I + 2S + H)
            z, xBC, dt = torch.split(zxbcdt, [self.I, self.conv_dim, self.H], dim=-1)
            xBC = self.conv1d(xBC.transpose(1, 2))[..., :l].transpose(1, 2)
            xBC = F.silu(xBC)                                          # (b, l, I + 2S)
            x, B, C = torch.split(xBC, [self.I, self.S, self.S], dim=-1)
            dt = F.softplus(dt.float() + self.dt_bias.float())         # (b, l, H)
            dt = dt.clamp(self.dt_min, self.dt_max)
            A = -torch.exp(self.A_log.float())                         # (H,)
            pad = (-l) % self.chunk
            xf = x.float().reshape(b, l, self.H, self.P)               # (b, l, H, P)
            Bf, Cf = B.float(), C.float()
            with no_autocast():
                if pad:
                    xs = F.pad(xf, (0, 0, 0, 0, 0, pad))
                    y = ssd_chunked(xs, F.pad(dt, (0, 0, 0, pad)), A, F.pad(Bf, (0, 0, 0, pad)),
                                    F.pad(Cf, (0, 0, 0, pad)), self.chunk)[:, :l]
                else:
                    y = ssd_chunked(xf, dt, A, Bf, Cf, self.chunk)     # (b, l, H, P)
                y = y + xf * self.D.float()[:, None]
                y = y.reshape(b, l, self.I)
            y = self.norm(y, z)                                        # (b, l, I) f32
            return self.out_proj(y)                                    # (b, l, d)

    class Block(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.norm = RMSNorm(cfg['hidden_size'], cfg['layer_norm_epsilon'])
            self.mixer = Mixer(cfg)

        def forward(self, h):
            return h + self.mixer(self.norm(h))

    class Backbone(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.embeddings = nn.Embedding(cfg['vocab_size'], cfg['hidden_size'])
            self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg['num_hidden_layers'])])
            self.norm_f = RMSNorm(cfg['hidden_size'], cfg['layer_norm_epsilon'])

    class Mamba2LM(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.cfg = cfg
            self.backbone = Backbone(cfg)

        def forward(self, ids):                                        # ids: (b, l) int64
            h = self.backbone.embeddings(ids).float()                  # residual stream in f32
            for layer in self.backbone.layers:
                h = layer(h)
            h = self.backbone.norm_f(h)
            return F.linear(h, self.backbone.embeddings.weight)        # tied lm_head -> (b, l, V)

        def init_weights(self, seed):
            g = torch.Generator().manual_seed(seed)
            cfg = self.cfg
            with torch.no_grad():
                self.backbone.embeddings.weight.normal_(0, 0.02, generator=g)
                nl = cfg['num_hidden_layers']
                for layer in self.backbone.layers:
                    m = layer.mixer
                    H = m.H
                    A = torch.empty(H).uniform_(1, 16, generator=g)
                    m.A_log.copy_(torch.log(A))
                    dt = torch.exp(torch.rand(H, generator=g) * (math.log(cfg['time_step_max']) - math.log(cfg['time_step_min']))
                                   + math.log(cfg['time_step_min'])).clamp(min=cfg['time_step_floor'])
                    m.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
                    m.D.fill_(1.0)
                    bound = 1 / math.sqrt(cfg['hidden_size'])
                    m.in_proj.weight.uniform_(-bound, bound, generator=g)
                    bound = 1 / math.sqrt(m.I) / math.sqrt(2 * nl)
                    m.out_proj.weight.uniform_(-bound, bound, generator=g)
                    kb = 1 / math.sqrt(cfg['conv_kernel'])
                    m.conv1d.weight.uniform_(-kb, kb, generator=g)
                    m.conv1d.bias.zero_()

    def bf16_autocast(device):
        if device == 'cuda':
            return torch.autocast('cuda', dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return dict(torch=torch, nn=nn, F=F, Mamba2LM=Mamba2LM, ssd_chunked=ssd_chunked,
                ssd_sequential=ssd_sequential, bf16_autocast=bf16_autocast)


# ==========================================================================
# config
# ==========================================================================

FULL = dict(hidden_size=320, num_hidden_layers=8, state_size=64, head_dim=64, expand=2,
            conv_kernel=4, n_groups=1)
SMOKE = dict(hidden_size=64, num_hidden_layers=2, state_size=16, head_dim=16, expand=2,
             conv_kernel=4, n_groups=1)


def make_cfg(shape):
    cfg = dict(shape)
    cfg['num_heads'] = cfg['expand'] * cfg['hidden_size'] // cfg['head_dim']
    cfg.update(vocab_size=256, layer_norm_epsilon=1e-5, time_step_min=0.001, time_step_max=0.1,
               time_step_floor=1e-4,
               # a finite upper limit that never binds, so config.json is strict JSON
               # (transformers' default is (0.0, inf), written as the non-JSON `Infinity`)
               time_step_limit=(0.0, 1e9),
               train_chunk=64)
    return cfg


def hf_config_dict(cfg):
    """Mamba2Config through the installed transformers (so save_pretrained
    compatible), then checked to be strict JSON."""
    from transformers import Mamba2Config
    c = Mamba2Config(
        vocab_size=cfg['vocab_size'], hidden_size=cfg['hidden_size'], state_size=cfg['state_size'],
        num_hidden_layers=cfg['num_hidden_layers'], num_heads=cfg['num_heads'],
        head_dim=cfg['head_dim'], expand=cfg['expand'], conv_kernel=cfg['conv_kernel'],
        n_groups=cfg['n_groups'], use_bias=False, use_conv_bias=True, hidden_act='silu',
        layer_norm_epsilon=cfg['layer_norm_epsilon'], residual_in_fp32=True, rms_norm=True,
        time_step_min=cfg['time_step_min'], time_step_max=cfg['time_step_max'],
        time_step_floor=cfg['time_step_floor'], time_step_limit=list(cfg['time_step_limit']),
        chunk_size=256, tie_word_embeddings=True,
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )
    c.architectures = ['Mamba2ForCausalLM']
    d = c.to_dict()
    d['torch_dtype'] = 'float16'
    if 'dtype' in d:
        d['dtype'] = 'float16'
    s = json.dumps(d, indent=2, sort_keys=True, allow_nan=False)
    return s + '\n'


# ==========================================================================
# data
# ==========================================================================

def load_corpus(corpus):
    with open(os.path.join(corpus, 'train.txt'), 'rb') as f:
        train = f.read()
    with open(os.path.join(corpus, 'heldout.txt'), 'rb') as f:
        held = f.read()
    with open(os.path.join(corpus, 'heldout_sample.txt'), 'rb') as f:
        sample = f.read()
    return train, held, sample


def heldout_docs(held):
    return [d for d in held.split(b'\0') if d]


# ==========================================================================
# export / import
# ==========================================================================

F32_SUFFIXES = ('dt_bias', 'A_log', 'D', 'norm.weight', 'norm_f.weight', 'conv1d.bias')


def export_state(T, model):
    torch = T['torch']
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().float().cpu().contiguous()
        if k.split('.')[-1] in ('dt_bias', 'A_log', 'D') or k.endswith('norm.weight') or k.endswith('conv1d.bias'):
            out[k] = v
        else:
            assert v.abs().max().item() < 60000, k
            out[k] = v.half()
    return out


def save_safetensors(state, path):
    from safetensors.torch import save_file
    save_file(state, path, metadata={'format': 'pt'})


def load_safetensors_into(T, model, path):
    from safetensors.torch import load_file
    sd = load_file(path)
    sd = {k: v.float() for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and not missing, (missing, unexpected)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for blk in iter(lambda: f.read(1 << 20), b''):
            h.update(blk)
    return h.hexdigest()


# ==========================================================================
# evaluation
# ==========================================================================

def nll_bytes(T, model, ids, device):
    """Sum of -ln p over ids[1:] given the prefix (one sequence, fresh state, fp32)."""
    torch, F = T['torch'], T['F']
    x = torch.tensor(list(ids), dtype=torch.long, device=device)[None]
    with torch.no_grad():
        logits = model(x[:, :-1]).float()
        nll = F.cross_entropy(logits[0], x[0, 1:], reduction='none')
    return nll


def eval_heldout_docs(T, model, docs, device):
    """Each held-out document scored from a fresh state after the NUL start
    byte, predicting its bytes and the closing NUL. Returns bpb over text
    bytes and bpb including the end-of-document prediction."""
    text_nll, text_n, eos_nll = 0.0, 0, 0.0
    for d in docs:
        ids = b'\0' + d + b'\0'
        nll = nll_bytes(T, model, ids, device)
        text_nll += nll[:-1].sum().item()
        eos_nll += nll[-1].item()
        text_n += len(d)
    ln2 = math.log(2)
    return dict(bpb_text=text_nll / text_n / ln2,
                bpb_with_eos=(text_nll + eos_nll) / (text_n + len(docs)) / ln2,
                text_bytes=text_n, docs=len(docs))


def eval_sample(T, model, sample, device):
    ln2 = math.log(2)
    nll = nll_bytes(T, model, sample, device)
    nll0 = nll_bytes(T, model, b'\0' + sample, device)
    return dict(bytes=len(sample),
                bpb_no_bos=nll.sum().item() / (len(sample) - 1) / ln2,
                bpb_bos0=nll0.sum().item() / len(sample) / ln2)


def quick_heldout_loss(T, model, held_t, windows, seq, device):
    """Mean loss (nats/byte) over fixed held-out windows, bf16 autocast (for the curve)."""
    torch, F = T['torch'], T['F']
    tot, n = 0.0, 0
    with torch.no_grad(), T['bf16_autocast'](device):
        for i in range(0, len(windows), 32):
            offs = windows[i:i + 32]
            idx = offs[:, None] + torch.arange(seq + 1, device=held_t.device)[None]
            w = held_t[idx].long()
            logits = model(w[:, :-1]).float()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction='sum')
            tot += loss.item()
            n += w[:, 1:].numel()
    return tot / n


# ==========================================================================
# training
# ==========================================================================

def train(args):
    T = build_torch_parts()
    torch, F = T['torch'], T['F']
    try:
        import transformers
        tv = transformers.__version__
    except ImportError:
        tv = None
    log('torch', torch.__version__, 'transformers', tv,
        'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    os.makedirs(args.out, exist_ok=True)
    metrics = dict(smoke=args.smoke, train_seconds_arg=args.train_seconds)
    if args.resume and args.prev_metrics:
        # keep the training record of the run that produced the resumed weights
        prev = json.load(open(args.prev_metrics))
        metrics.update({k: v for k, v in prev.items() if k in (
            'steps', 'train_seconds', 'tokens_seen', 'epochs', 'lr_peak', 'warmup', 'curve', 'gpu',
            'compiled', 'first_step_s', 'train_seconds_arg')})

    train_b, held_b, sample_b = load_corpus(args.corpus)
    metrics['corpus'] = dict(train_bytes=len(train_b), heldout_bytes=len(held_b),
                             sample_bytes=len(sample_b),
                             sha256_train=hashlib.sha256(train_b).hexdigest(),
                             sha256_heldout=hashlib.sha256(held_b).hexdigest(),
                             sha256_sample=hashlib.sha256(sample_b).hexdigest())
    log('corpus', metrics['corpus'])

    cfg = make_cfg(SMOKE if args.smoke else FULL)
    torch.manual_seed(args.seed)

    # --- 0. unit check: chunked SSD == sequential recurrence (float64) ---
    g = torch.Generator().manual_seed(0)
    b_, l_, h_, p_, n_ = 2, 100, 3, 5, 7
    x = torch.randn(b_, l_, h_, p_, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(b_, l_, h_, generator=g, dtype=torch.float64))
    A = -torch.rand(h_, generator=g, dtype=torch.float64) * 2
    Bm = torch.randn(b_, l_, n_, generator=g, dtype=torch.float64)
    Cm = torch.randn(b_, l_, n_, generator=g, dtype=torch.float64)
    pad = (-l_) % 16
    y1 = T['ssd_chunked'](F.pad(x, (0, 0, 0, 0, 0, pad)), F.pad(dt, (0, 0, 0, pad)), A,
                          F.pad(Bm, (0, 0, 0, pad)), F.pad(Cm, (0, 0, 0, pad)), 16)[:, :l_]
    y2 = T['ssd_sequential'](x, dt, A, Bm, Cm)
    err = (y1 - y2).abs().max().item()
    log('ssd chunked vs sequential max|diff| = %.3g' % err)
    assert err < 1e-9, err

    model = T['Mamba2LM'](cfg)
    model.init_weights(args.seed)
    model.to(device)
    nparams = sum(p.numel() for p in model.parameters())
    metrics['params'] = nparams
    metrics['cfg'] = cfg
    log('model', cfg, 'params', nparams)

    seq, batch = (128, 8) if args.smoke else (args.seq, args.batch)
    metrics['seq'], metrics['batch'] = seq, batch
    held_t = torch.frombuffer(bytearray(held_b), dtype=torch.uint8).to(device)
    gen = torch.Generator(device='cpu').manual_seed(1234)
    n_eval = 8 if args.smoke else 128
    eval_windows = torch.randint(0, len(held_b) - seq - 2, (n_eval,), generator=gen).to(device)

    curve = []
    if args.resume:
        load_safetensors_into(T, model, args.resume)
        metrics['resumed_from'] = args.resume
        log('resumed from', args.resume)
    else:
        train_t = torch.frombuffer(bytearray(train_b), dtype=torch.uint8).to(device)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (decay if name.endswith('in_proj.weight') or name.endswith('out_proj.weight') else no_decay).append(p)
        opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)],
                                lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                                **(dict(fused=True) if device == 'cuda' else {}))
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        step_model = model
        compiled = False
        if args.compile and device == 'cuda' and hasattr(torch, 'compile'):
            try:
                step_model = torch.compile(model)
                compiled = True
            except Exception as e:  # noqa
                log('torch.compile unavailable:', repr(e))
        budget = 25.0 if args.smoke else args.train_seconds
        max_steps = 20 if args.smoke else 10 ** 9
        warmup = 5 if args.smoke else args.warmup
        tokens_per_step = seq * batch
        idx_base = torch.arange(seq + 1, device=device)

        def get_batch():
            offs = torch.randint(0, len(train_b) - seq - 1, (batch,), device=device)
            w = train_t[offs[:, None] + idx_base[None]].long()
            return w[:, :-1], w[:, 1:]

        def train_step(lr):
            for grp in opt.param_groups:
                grp['lr'] = lr
            xb, yb = get_batch()
            with T['bf16_autocast'](device):
                logits = step_model(xb)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), yb.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss, gn

        t_start = time.time()
        # first step (compiles); fall back to eager if compilation fails
        try:
            loss, _ = train_step(args.lr * 1 / warmup)
            loss.item()
        except Exception as e:  # noqa
            if not compiled:
                raise
            log('compiled step failed, falling back to eager:', repr(e)[:2000])
            step_model = model
            compiled = False
            loss, _ = train_step(args.lr * 1 / warmup)
        t_first = time.time() - t_start
        log('first step done in %.1fs (compiled=%s), loss %.4f' % (t_first, compiled, loss.item()))
        metrics['compiled'] = compiled
        metrics['first_step_s'] = t_first
        step = 1
        t_loop = time.time()
        remaining = max(budget - t_first, 5.0)
        lr = args.lr / warmup
        ema = None
        n_points = 12
        next_point = 0
        lr_min = args.lr * 0.05
        while True:
            el = time.time() - t_loop
            frac = el / max(remaining, 1e-6)
            if frac >= 1.0 or step >= max_steps:
                break
            if step < warmup:
                lr = args.lr * (step + 1) / warmup
            else:
                lr = lr_min + 0.5 * (args.lr - lr_min) * (1 + math.cos(math.pi * min(frac, 1.0)))
            loss, gn = train_step(lr)
            step += 1
            if step % 25 == 0 or args.smoke:
                lv = loss.item()
                ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            if frac >= next_point / n_points and (step % 25 == 0 or args.smoke):
                model.eval()
                hl = quick_heldout_loss(T, model, held_t, eval_windows, seq, device)
                model.train()
                pt = dict(step=step, tokens=step * tokens_per_step, elapsed_s=round(time.time() - t_start, 1),
                          lr=lr, train_loss_ema=ema, train_bpb_ema=ema / math.log(2),
                          heldout_loss=hl, heldout_bpb=hl / math.log(2), grad_norm=float(gn))
                curve.append(pt)
                log('step %6d  tok %.3gM  lr %.2e  train bpb %.4f  heldout bpb %.4f  gn %.2f  %.0f tok/s' % (
                    step, pt['tokens'] / 1e6, lr, pt['train_bpb_ema'], pt['heldout_bpb'], gn,
                    step * tokens_per_step / (time.time() - t_start)))
                next_point += 1
        train_s = time.time() - t_start
        model.eval()
        hl = quick_heldout_loss(T, model, held_t, eval_windows, seq, device)
        curve.append(dict(step=step, tokens=step * tokens_per_step, elapsed_s=round(train_s, 1), lr=lr,
                          train_loss_ema=ema, train_bpb_ema=(ema or 0) / math.log(2),
                          heldout_loss=hl, heldout_bpb=hl / math.log(2), final=True))
        log('training done: %d steps, %.1fs, %.3gM tokens (%.2f epochs), heldout bpb (windows) %.4f' % (
            step, train_s, step * tokens_per_step / 1e6, step * tokens_per_step / len(train_b), hl / math.log(2)))
        metrics.update(steps=step, train_seconds=train_s, tokens_seen=step * tokens_per_step,
                       epochs=step * tokens_per_step / len(train_b), lr_peak=args.lr, warmup=warmup,
                       curve=curve, gpu=torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu')
        del opt, train_t
    model.eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    # --- export ---
    st_path = os.path.join(args.out, 'model.safetensors')
    state = export_state(T, model)
    if not args.resume or os.path.abspath(args.resume) != os.path.abspath(st_path):
        save_safetensors(state, st_path)
    cfg_json = hf_config_dict(cfg) if not args.no_validate else json.dumps(cfg) + '\n'
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        f.write(cfg_json)
    json.loads(cfg_json, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    metrics['safetensors_sha256'] = sha256(st_path)
    metrics['safetensors_bytes'] = os.path.getsize(st_path)
    metrics['tensors'] = {k: [list(v.shape), str(v.dtype).replace('torch.', '')] for k, v in state.items()}
    log('exported', st_path, metrics['safetensors_bytes'], 'bytes sha256', metrics['safetensors_sha256'])

    # reload the exported (f16-rounded) weights so every number below is the shipped model's
    load_safetensors_into(T, model, st_path)
    model.eval()

    # --- held-out bits per byte (our module, fp32, GPU) ---
    docs = heldout_docs(held_b)
    if args.smoke:
        docs = docs[:20]
    t = time.time()
    metrics['heldout'] = eval_heldout_docs(T, model, docs, device)
    log('held-out split (%d docs, %d bytes): bpb text %.4f, with eos %.4f  (%.1fs)' % (
        metrics['heldout']['docs'], metrics['heldout']['text_bytes'], metrics['heldout']['bpb_text'],
        metrics['heldout']['bpb_with_eos'], time.time() - t))
    metrics['sample'] = eval_sample(T, model, sample_b, device)
    log('held-out sample (%d bytes): bpb %.4f (no bos), %.4f (bos 0)' % (
        len(sample_b), metrics['sample']['bpb_no_bos'], metrics['sample']['bpb_bos0']))
    write_metrics(args, metrics)

    # --- validate against transformers (CPU, float32, pure-PyTorch path) ---
    if args.no_validate:
        log('validation skipped (--no-validate)')
        return
    ok = validate_with_transformers(T, model, args, metrics, held_b, sample_b, device)
    write_metrics(args, metrics)
    if not ok:
        log('VALIDATION FAILED')
        sys.exit(3)
    log('all done in %.1fs' % (time.time() - T0))


def write_metrics(args, metrics):
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=1)


def validate_with_transformers(T, model, args, metrics, held_b, sample_b, device):
    torch, F = T['torch'], T['F']
    import inspect
    import transformers
    from transformers import Mamba2ForCausalLM
    from transformers.models.mamba2 import modeling_mamba2 as mm
    ok = True
    if args.smoke:
        try:
            src = inspect.getsource(mm.Mamba2Mixer.torch_forward) + '\n\n' + inspect.getsource(mm.MambaRMSNormGated)
            with open(os.path.join(args.out, 'hf_torch_forward.txt'), 'w') as f:
                f.write(src)
        except Exception as e:  # noqa
            log('getsource failed', repr(e))
    hf, info = Mamba2ForCausalLM.from_pretrained(args.out, torch_dtype=torch.float32, output_loading_info=True)
    hf.eval()
    log('transformers loading info:', {k: v for k, v in info.items() if v})
    bad = [k for k in info.get('missing_keys', []) if k != 'lm_head.weight'] + list(info.get('unexpected_keys', []))
    if bad:
        log('unexpected loading info', bad)
        ok = False
    tied = hf.lm_head.weight.data_ptr() == hf.backbone.embeddings.weight.data_ptr() or \
        torch.equal(hf.lm_head.weight, hf.backbone.embeddings.weight)
    log('lm_head tied:', tied)
    ok = ok and tied
    metrics['transformers_version'] = transformers.__version__
    # held-out snippet: 1000 bytes from the sample (several 256-chunks of HF's scan)
    snippet = sample_b[:1000]
    ids = torch.tensor(list(snippet), dtype=torch.long)[None]
    model_cpu = model.to('cpu')
    with torch.no_grad():
        ours = model_cpu(ids).float()
        theirs = hf(ids, use_cache=False).logits.float()
    diff = (ours - theirs).abs().max().item()
    log('logits max|ours - transformers| on a %d-byte held-out snippet (CPU fp32): %.3g' % (len(snippet), diff))
    metrics['validation'] = dict(snippet_bytes=len(snippet), max_abs_logit_diff=diff,
                                 logit_scale=ours.abs().max().item(), tolerance=1e-3, passed=diff < 1e-3)
    ok = ok and diff < 1e-3
    # transformers' own bits per byte on the fixed sample
    try:
        hdev = 'cuda' if device == 'cuda' else 'cpu'
        hf.to(hdev)
        # transformers' pure-PyTorch scan materialises (chunks, L, L, heads, state) products:
        # a smaller chunk keeps a 20 KB sequence in memory (chunk size changes no result)
        for layer in hf.backbone.layers:
            layer.mixer.chunk_size = 64
        x = torch.tensor(list(sample_b), dtype=torch.long, device=hdev)[None]
        with torch.no_grad():
            lg = hf(x[:, :-1], use_cache=False).logits.float()
            nll = F.cross_entropy(lg[0], x[0, 1:], reduction='sum').item()
        metrics['sample']['bpb_no_bos_transformers'] = nll / (len(sample_b) - 1) / math.log(2)
        log('held-out sample bpb by transformers (%s): %.4f' % (hdev, metrics['sample']['bpb_no_bos_transformers']))
    except Exception as e:  # noqa
        log('transformers sample bpb failed:', repr(e)[:1000])
    # samples, produced by transformers (full recompute per byte, no cache)
    try:
        samples = []
        hdev = next(hf.parameters()).device
        n_new = 60 if args.smoke else 300
        for prompt in ['The ', 'Once upon a time', 'In the beginning']:
            for mode in ('greedy', 'temp0.8'):
                g = torch.Generator(device='cpu').manual_seed(42)
                ids = list(prompt.encode('utf-8'))
                out = []
                with torch.no_grad():
                    for _ in range(n_new):
                        x = torch.tensor(ids, dtype=torch.long, device=hdev)[None]
                        logits = hf(x, use_cache=False).logits[0, -1].float().cpu()
                        if mode == 'greedy':
                            nxt = int(logits.argmax())
                        else:
                            probs = torch.softmax(logits / 0.8, dim=-1)
                            nxt = int(torch.multinomial(probs, 1, generator=g))
                        if nxt == 0:
                            break
                        ids.append(nxt)
                        out.append(nxt)
                text = bytes(out).decode('utf-8', errors='replace')
                samples.append(dict(prompt=prompt, mode=mode, seed=42 if mode != 'greedy' else None,
                                    continuation=text, stopped_at_eos=len(out) < n_new))
                log('SAMPLE %s %r -> %r' % (mode, prompt, text))
        metrics['samples'] = samples
    except Exception as e:  # noqa
        log('sampling failed:', repr(e)[:1000])
    # tokenizer.json (if present next to this script's output) round trip
    try:
        tok_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models', 'default', 'tokenizer.json')
        if os.path.exists(tok_path):
            from tokenizers import Tokenizer
            tk = Tokenizer.from_file(tok_path)
            s = 'Héllo, wörld!\n\tNUL\x00 end \u20ac'
            enc = tk.encode(s).ids
            okt = enc == list(s.encode('utf-8')) and tk.decode(enc) == s
            metrics['tokenizer_roundtrip'] = okt
            log('tokenizer.json round trip ok:', okt)
    except Exception as e:  # noqa
        log('tokenizer check failed:', repr(e)[:500])
    return ok


# ==========================================================================
# model card (no PyTorch needed)
# ==========================================================================

def write_card(args):
    m = json.load(open(args.metrics))
    d = args.dir
    cfg = json.load(open(os.path.join(d, 'config.json')))
    sources = open(args.sources).read() if os.path.exists(args.sources) else ''
    # keep the table of the SOURCES file
    table = '\n'.join(l for l in sources.split('\n') if l.startswith('|'))
    sha = sha256(os.path.join(d, 'model.safetensors'))
    size = os.path.getsize(os.path.join(d, 'model.safetensors'))
    assert sha == m['safetensors_sha256'], 'model.safetensors differs from the one the metrics describe'
    sample_path = os.path.join(d, 'heldout-sample.txt')
    sample_sha = sha256(sample_path)
    assert sample_sha == m['corpus']['sha256_sample'], 'heldout-sample.txt differs from the scored one'
    c = cfg
    I = c['expand'] * c['hidden_size']
    L = []
    A = L.append
    A('# mamba-edge default model: byte-level Mamba-2, %.1fM parameters' % (m['params'] / 1e6))
    A('')
    A('A small **byte-level Mamba-2** language model trained from scratch on English prose that')
    A('Debian packages install. It ships inside the `mamba-edge` package so the library can')
    A('generate English text with no download. It is tiny: expect fluent-looking English')
    A('word shapes and phrasing, not knowledge or coherence over more than a sentence or two.')
    A('')
    A('Files: `config.json` (transformers `Mamba2Config`, `model_type: "mamba2"`),')
    A('`model.safetensors`, `tokenizer.json` + `tokenizer_config.json`, this card, and')
    A('`heldout-sample.txt` (the fixed held-out slice scored below).')
    A('')
    A('- `model.safetensors`: %d bytes, sha256 `%s`' % (size, sha))
    A('- `heldout-sample.txt`: %d bytes, sha256 `%s`' % (m['corpus']['sample_bytes'], sample_sha))
    A('')
    A('## Architecture')
    A('')
    A('| | |')
    A('|---|---|')
    A('| layout | transformers `Mamba2ForCausalLM` (`backbone.*`, tied `lm_head`) |')
    A('| layers | %d Mamba-2 blocks (pre-RMSNorm, residual in f32), final RMSNorm |' % c['num_hidden_layers'])
    A('| d_model (hidden_size) | %d |' % c['hidden_size'])
    A('| d_inner (expand %d) | %d = %d heads x head_dim %d |' % (c['expand'], I, c['num_heads'], c['head_dim']))
    A('| d_state (state_size) | %d, n_groups %d |' % (c['state_size'], c['n_groups']))
    A('| conv kernel | %d (depthwise causal, with bias) |' % c['conv_kernel'])
    A('| vocab | 256 (one token per byte: id = byte value) |')
    A('| parameters | %d (%.2fM), embeddings tied with the output head |' % (m['params'], m['params'] / 1e6))
    A('| dt limit | `time_step_limit` [0, 1e9] (never binds; finite so config.json is strict JSON) |')
    A('| recurrent state | %d floats per layer (%d x %d SSM + %d x %d conv) = %.0f KB f32 for the whole model |' % (
        c['num_heads'] * c['head_dim'] * c['state_size'] + (I + 2 * c['n_groups'] * c['state_size']) * (c['conv_kernel'] - 1),
        I, c['state_size'], I + 2 * c['n_groups'] * c['state_size'], c['conv_kernel'] - 1,
        4 * c['num_hidden_layers'] * (c['num_heads'] * c['head_dim'] * c['state_size'] + (I + 2 * c['n_groups'] * c['state_size']) * (c['conv_kernel'] - 1)) / 1024))
    A('')
    A('Why Mamba-2 rather than Mamba-1: its SSD scan has a chunked matrix-multiply form, so a')
    A('pure-PyTorch implementation (no custom CUDA kernels) trains fast on a GPU within the')
    A('10-minute budget, and the same chunked form is what the WebGPU backend uses for prefill;')
    A('scalar-per-head A and a single B/C group keep the step (decode) form cheap on CPUs.')
    A('Why this size: %.1fM parameters trains to well under 2 bits per byte on this ~28 MB' % (m['params'] / 1e6))
    A('corpus in about five minutes on one GPU (%.1f epochs; the held-out loss never rose and' % m['epochs'])
    A('was still creeping down at the end), keeps the f16 file at %.1f MB for the npm package, and decodes' % (size / 1e6))
    A('quickly on one CPU thread in a browser or an edge function. Why bytes: no vocabulary')
    A('to ship or keep in sync, and any UTF-8 text is representable.')
    A('')
    A('Weights dtypes: F16 for the embeddings, `in_proj`, `out_proj` and `conv1d.weight`; F32 for')
    A('`A_log`, `D`, `dt_bias`, `conv1d.bias` and all norm weights. `lm_head.weight` is not stored')
    A('(`tie_word_embeddings: true`), as in transformers\' own Mamba checkpoints.')
    A('')
    A('## Tokenizer')
    A('')
    A('Byte level: token id = byte value (0-255) of the UTF-8 text; no merges, no added tokens.')
    A('Byte 0 (NUL) is the document separator used in training and is `eos_token_id`,')
    A('`bos_token_id` and `pad_token_id` in config.json: start a fresh document by feeding 0')
    A('(optional), and stop generating when the model emits 0. `tokenizer.json` is the same')
    A('mapping in Hugging Face tokenizers format (ByteLevel pre-tokenizer without regex, BPE')
    A('with the 256 byte symbols and no merges), so `PreTrainedTokenizerFast` /')
    A('`@huggingface/tokenizers` encode text to exactly its UTF-8 bytes.')
    A('')
    A('## Training data')
    A('')
    A('English text extracted from Debian 12 (bookworm) `main` packages by')
    A('`tools/gather_corpus.sh` (+ `tools/corpus/extract.py`): markup stripped, code blocks')
    A('dropped where the markup marks them, normalised to NFC UTF-8, deduplicated; documents')
    A('joined by a NUL byte. About 2% of the documents of each source (chosen by a hash of the')
    A('document id) form the held-out split, never trained on. See `tools/corpus/SOURCES.md`.')
    A('')
    A(table)
    A('')
    A('Train split: %d bytes (documents plus NUL separators); held-out split: %d bytes of text (%d documents).' % (
        m['corpus']['train_bytes'], m['heldout']['text_bytes'], m['heldout']['docs']))
    A('')
    A('## Training')
    A('')
    A('`tools/train_default.py` (its own compact Mamba-2 module with the SSD chunked scan,')
    A('parameter names identical to transformers\'), on one %s:' % m.get('gpu', '?'))
    A('')
    A('| | |')
    A('|---|---|')
    A('| sequence length x batch | %d bytes x %d (%d bytes per step) |' % (m['seq'], m['batch'], m['seq'] * m['batch']))
    A('| optimizer | AdamW, betas (0.9, 0.95), weight decay 0.1 on in/out projections, grad clip 1.0 |')
    A('| schedule | linear warmup %d steps to lr %.1e, cosine over wall-clock time to 5%% |' % (m['warmup'], m['lr_peak']))
    A('| precision | bf16 autocast for projections, f32 SSD scan and residual stream%s |' % (
        ', torch.compile' if m.get('compiled') else ''))
    A('| steps | %d (the wall-clock budget, not a step count, ends training) |' % m['steps'])
    A('| bytes (tokens) seen | %d (%.2f epochs) |' % (m['tokens_seen'], m['epochs']))
    A('| training wall time | %.0f s (including %.0f s for the first, compiling step) |' % (m['train_seconds'], m['first_step_s']))
    if m.get('device_call_wall_s'):
        A('| whole GPU job | %.0f s wall: smoke test, training, evaluation, export, validation, samples |' % m['device_call_wall_s'])
    A('')
    A('Loss curve (train: moving average of the batch loss; held-out: %d fixed windows of %d bytes' % (
        128, m['seq']))
    A('from the held-out split, bf16; time counted from the start of training, compile included),')
    A('in bits per byte:')
    A('')
    A('| step | bytes seen | time (s) | lr | train bpb | held-out bpb |')
    A('|---:|---:|---:|---:|---:|---:|')
    for p in m['curve']:
        A('| %d | %.3gM | %.0f | %.2e | %s | %.4f |' % (
            p['step'], p['tokens'] / 1e6, p['elapsed_s'], p['lr'],
            '%.4f' % p['train_bpb_ema'] if p.get('train_loss_ema') is not None else '-', p['heldout_bpb']))
    A('')
    A('## Evaluation (the shipped f16 weights, f32 compute)')
    A('')
    h = m['heldout']
    s = m['sample']
    A('| held-out set | bytes | bits per byte |')
    A('|---|---:|---:|')
    A('| whole held-out split: each document from a fresh state after the NUL start byte, text bytes only | %d | **%.4f** |' % (h['text_bytes'], h['bpb_text']))
    A('| same, also counting the end-of-document (NUL) prediction | %d | %.4f |' % (h['text_bytes'] + h['docs'], h['bpb_with_eos']))
    A('| `heldout-sample.txt`, whole file from an empty state, bytes 2..N predicted (N-1 predictions) | %d | **%.4f** |' % (s['bytes'], s['bpb_no_bos']))
    A('| `heldout-sample.txt`, NUL (id 0) fed first, all N bytes predicted | %d | %.4f |' % (s['bytes'], s['bpb_bos0']))
    if 'bpb_no_bos_transformers' in s:
        A('| `heldout-sample.txt`, bytes 2..N, computed by transformers `Mamba2ForCausalLM` | %d | %.4f |' % (s['bytes'], s['bpb_no_bos_transformers']))
    A('')
    A('bits per byte = sum of -log2 p(byte | previous bytes) / number of predicted bytes.')
    A('`heldout-sample.txt` is a fixed %d-byte slice of the held-out split (documents from every' % s['bytes'])
    A('source in proportion to its held-out bytes, separated by blank lines; no NUL bytes) for')
    A('quick tests: a runtime that reproduces the model should get the bold figure to about 1e-3.')
    A('')
    v = m.get('validation', {})
    A('Export check: transformers %s `Mamba2ForCausalLM.from_pretrained` of this folder (float32,' % m.get('transformers_version', '?'))
    A('CPU, without mamba_ssm / causal_conv1d, i.e. its reference PyTorch scan and conv) gives the')
    A('same logits as the training module on a %d-byte' % v.get('snippet_bytes', 0))
    A('held-out snippet: max |difference| %.2g (logits up to %.1f in magnitude; tolerance 1e-3).' % (
        v.get('max_abs_logit_diff', float('nan')), v.get('logit_scale', float('nan'))))
    A('')
    if m.get('samples'):
        A('## Samples')
        A('')
        A('Produced by transformers from these weights (float32), 300 new bytes at most, stopping at')
        A('byte 0. "greedy" is argmax; "temp0.8" samples at temperature 0.8 with torch seed 42.')
        A('Greedy decoding of a model this small falls into loops; sample with a temperature')
        A('around 0.7-0.9 (optionally top-k/top-p) for readable text.')
        A('')
        for smp in m['samples']:
            A('**%s** `%s`' % (smp['mode'], json.dumps(smp['prompt'])[1:-1]))
            A('')
            A('```text')
            A(smp['prompt'] + smp['continuation'].replace('```', "'''"))
            A('```')
            A('')
    A('## Reproduce')
    A('')
    A('```sh')
    A('sh tools/gather_corpus.sh                 # Debian 12, as root: packages -> .carry/corpus')
    A('python tools/train_default.py train --corpus .carry/corpus --out OUT --train-seconds %d' % round(m.get('train_seconds_arg', 330)))
    A('python3 tools/train_default.py card --metrics OUT/metrics.json --dir models/default')
    A('```')
    A('')
    A('Training is not bit-reproducible (GPU nondeterminism, time-based schedule).')
    A('')
    A('## License')
    A('')
    A('The weights were trained on the texts listed above, which are public domain or under')
    A('free licenses (BSD, GPL, GFDL, PSF, Artistic, Open Publication License); the table')
    A('names each source\'s license as its Debian package states it. The corpus itself is not')
    A('distributed with mamba-edge; `tools/gather_corpus.sh` rebuilds it from the packages.')
    A('')
    with open(os.path.join(d, 'README.md'), 'w') as f:
        f.write('\n'.join(L))
    print('wrote', os.path.join(d, 'README.md'))


# ==========================================================================

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train')
    t.add_argument('--corpus', required=True)
    t.add_argument('--out', required=True)
    t.add_argument('--smoke', action='store_true')
    t.add_argument('--train-seconds', type=float, default=330)
    t.add_argument('--seq', type=int, default=1024)
    t.add_argument('--batch', type=int, default=64)
    t.add_argument('--lr', type=float, default=3e-3)
    t.add_argument('--warmup', type=int, default=200)
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--compile', type=int, default=1)
    t.add_argument('--resume', default='')
    t.add_argument('--prev-metrics', default='')
    t.add_argument('--no-validate', action='store_true', help='local testing without transformers')
    c = sub.add_parser('card')
    c.add_argument('--metrics', required=True)
    c.add_argument('--dir', default='models/default')
    c.add_argument('--sources', default='tools/corpus/SOURCES.md')
    args = ap.parse_args()
    if args.cmd == 'train':
        train(args)
    else:
        write_card(args)


if __name__ == '__main__':
    main()
