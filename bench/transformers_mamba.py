"""
PyTorch + Hugging Face transformers on the same GPU, for BENCHMARKS.md's WebGPU section: random
weights in the shapes of state-spaces/mamba-130m, mamba2-130m, mamba-1.4b and mamba2-1.3b (f32; the
shapes are tools/bench-shapes.ts's), prefill tokens/s at the given prompt lengths (one forward, no
cache) and greedy decode tokens/s (generate with the cache). transformers' default path where
mamba_ssm / causal_conv1d are not installed (the torch "slow_forward" / "torch_forward"), which is what
a plain `pip install transformers` runs; the JSON records whether the fast path was available.

A prompt length that runs out of GPU memory is recorded as such and the run goes on (Mamba-2's torch
path builds C·Bᵀ as a [chunks, 256, 256, heads, N] tensor: 128 GiB for a 16k prompt of mamba2-1.3b,
which an 80 GB H100 cannot hold). A prompt length is skipped,
with the reason printed and recorded, when the time of the previous
length, scaled linearly (both torch paths are linear in the length), projects it past --max-s (60 s)
or past what is left of --budget-s (the whole run's cap, so a device call ends in time).

    python3 bench/transformers_mamba.py [--models mamba-130m,mamba2-130m] [--prefill 2048,16384]
                                        [--decode 128] [--max-s 60] [--budget-s S] [--json out.json]
"""
import argparse, importlib.util, json, math, time
import torch
import transformers
from transformers import MambaConfig, MambaForCausalLM, Mamba2Config, Mamba2ForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--models", default="mamba-130m,mamba2-130m")
p.add_argument("--prefill", default="2048,16384")
p.add_argument("--decode", type=int, default=128)
p.add_argument("--max-s", type=float, default=60.0)
p.add_argument("--budget-s", type=float, default=math.inf)
p.add_argument("--json", default="")
a = p.parse_args()
started = time.perf_counter()
left = lambda: a.budget_s - (time.perf_counter() - started)


def mamba1(d, layers):
    return lambda: MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=d, num_hidden_layers=layers, state_size=16, expand=2, conv_kernel=4))


def mamba2(d, layers):
    # heads = expand * d / head_dim (mamba_ssm's Mamba2: headdim 64, d_state 128, ngroups 1, chunk 256)
    return lambda: Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=d, num_hidden_layers=layers, state_size=128, expand=2,
                                                  num_heads=2 * d // 64, head_dim=64, n_groups=1, chunk_size=256, conv_kernel=4))


SHAPES = {"mamba-130m": mamba1(768, 24), "mamba2-130m": mamba2(768, 24), "mamba-1.4b": mamba1(2048, 48), "mamba2-1.3b": mamba2(2048, 48)}


def fast_path(name):
    # transformers takes its CUDA-kernel path only when mamba_ssm (and causal_conv1d) import
    return all(importlib.util.find_spec(m) is not None for m in ("mamba_ssm", "causal_conv1d"))


dev = "cuda"
rows = []
for name in a.models.split(","):
    if left() <= 0:
        print(name, "skipped: the run's budget is spent", flush=True)
        rows.append({"model": name, "skipped": "the run's budget is spent"})
        continue
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device(dev):  # parameters made on the GPU (a 1.4B model's init on the CPU takes a minute)
        model = SHAPES[name]().eval()
    row = {"model": name, "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "transformers": transformers.__version__,
           "fastPathAvailable": fast_path(name), "parameters": sum(x.numel() for x in model.parameters()), "prefill": {}, "skipped": {}}
    print(name, f"{row['parameters'] / 1e6:.0f}M parameters on the GPU in {time.perf_counter() - t0:.1f} s; fast path available: {row['fastPathAvailable']}", flush=True)
    with torch.no_grad():
        model(torch.randint(0, 50000, (1, 256), device=dev))  # warm-up
        torch.cuda.synchronize()
        last = None  # (tokens, seconds)
        for n in [int(x) for x in a.prefill.split(",")]:
            projected = last[1] * n / last[0] if last else 0.0
            if projected > a.max_s or projected > left():
                why = f"projected {projected:.0f} s from {last[0]} tokens in {last[1]:.1f} s (> {a.max_s:.0f} s, or > the {left():.0f} s left)"
                row["skipped"][str(n)] = why
                print(name, "prefill", n, "skipped:", why, flush=True)
                continue
            ids = torch.randint(0, 50000, (1, n), device=dev)
            t0 = time.perf_counter()
            try:
                model(ids, use_cache=False)
                torch.cuda.synchronize()
            except torch.OutOfMemoryError as e:
                why = "CUDA out of memory: " + str(e).split(". ")[0]
                row["skipped"][str(n)] = why
                print(name, "prefill", n, "failed:", why, flush=True)
                del ids
                torch.cuda.empty_cache()
                continue
            sec = time.perf_counter() - t0
            last = (n, sec)
            row["prefill"][str(n)] = n / sec
            print(name, "prefill", n, round(n / sec), "tok/s", f"({sec:.1f} s)", flush=True)
        if a.decode > 0 and left() > 0:
            prompt = torch.randint(0, 50000, (1, 16), device=dev)
            model.generate(prompt, max_new_tokens=8, min_new_tokens=8, do_sample=False)  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.generate(prompt, max_new_tokens=a.decode, min_new_tokens=a.decode, do_sample=False)
            torch.cuda.synchronize()
            row["decodeTokPerSec"] = a.decode / (time.perf_counter() - t0)
            print(name, "decode", round(row["decodeTokPerSec"], 1), "tok/s", flush=True)
    rows.append(row)
    del model
    torch.cuda.empty_cache()
    if a.json:  # after every model: a run cut short keeps what it measured
        json.dump(rows, open(a.json, "w"), indent=2)
if a.json:
    json.dump(rows, open(a.json, "w"), indent=2)
