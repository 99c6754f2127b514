"""
PyTorch + Hugging Face transformers on the same GPU, for BENCHMARKS.md's WebGPU section: random
weights in the shapes of state-spaces/mamba-130m and mamba2-130m (f32), prefill tokens/s at the
given prompt lengths (one forward, no cache) and greedy decode tokens/s (generate with the cache).
transformers' default path where mamba_ssm / causal_conv1d are not installed (the torch
"slow_forward" / "torch_forward"), which is what a plain `pip install transformers` runs.

    python3 bench/transformers_mamba.py [--prefill 1024,16384] [--decode 128] [--json out.json]
"""
import argparse, json, time
import torch
from transformers import MambaConfig, MambaForCausalLM, Mamba2Config, Mamba2ForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--prefill", default="1024,16384")
p.add_argument("--decode", type=int, default=128)
p.add_argument("--json", default="")
a = p.parse_args()

SHAPES = {
    "mamba-130m": lambda: MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=768, num_hidden_layers=24, state_size=16)),
    "mamba2-130m": lambda: Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=768, num_hidden_layers=24, state_size=128,
                                                          num_heads=24, head_dim=64, n_groups=1, chunk_size=256)),
}
dev = "cuda"
rows = []
for name, make in SHAPES.items():
    torch.manual_seed(0)
    model = make().to(dev).eval()
    row = {"model": name, "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "prefill": {}}
    with torch.no_grad():
        model(torch.randint(0, 50000, (1, 256), device=dev))  # warm-up
        torch.cuda.synchronize()
        for n in [int(x) for x in a.prefill.split(",")]:
            ids = torch.randint(0, 50000, (1, n), device=dev)
            t0 = time.perf_counter()
            model(ids, use_cache=False)
            torch.cuda.synchronize()
            row["prefill"][str(n)] = n / (time.perf_counter() - t0)
            print(name, "prefill", n, round(row["prefill"][str(n)]), "tok/s", flush=True)
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
if a.json:
    json.dump(rows, open(a.json, "w"), indent=2)
