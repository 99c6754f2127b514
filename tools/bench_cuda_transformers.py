"""PyTorch + transformers on the same random-weight folders that bench/cuda.ts wrote and timed
(issue 9 item 4, the transformers column), run in the same job on the same GPU.

    python3 tools/bench_cuda_transformers.py OUT.json DIR [DIR ...]

prefill tokens/s: one forward over T random tokens (logits of the last position only), f32, TF32 off
(PyTorch's default for matmul), after a warm-up forward. decode tokens/s: greedy `generate` of 129 vs 1
new tokens after a 2048-token prompt, (t129 − t1) / 128, so the prompt's time cancels. transformers
uses its pure-PyTorch path where the mamba_ssm / causal_conv1d kernels are not installed; the output
records which path ran.
"""
import json
import os
import re
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

out_path, dirs = sys.argv[1], sys.argv[2:]
results = []


def sync_time(fn):
    torch.cuda.synchronize()
    t = time.perf_counter()
    r = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t, r


def load(d):
    """from_pretrained, coercing config fields that transformers' strict config check rejects (JSON writes
    the float 0.0 as 0, an int: time_step_limit [0, Infinity] fails 'list[float]') and retrying."""
    path = os.path.join(d, "config.json")
    for _ in range(8):
        try:
            return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        except Exception as e:  # noqa: BLE001
            m = re.search(r"Validation error for field '(\w+)'", str(e))
            if not m:
                raise
            with open(path) as f:
                cfg = json.load(f)
            v = cfg[m.group(1)]
            cfg[m.group(1)] = [float(x) for x in v] if isinstance(v, list) else float(v)
            with open(path, "w") as f:
                json.dump(cfg, f, indent=2)
            print(f"coerced config field {m.group(1)} to float for transformers' strict config check", flush=True)
    raise RuntimeError("config still rejected")


for d in dirs:
    name = os.path.basename(d.rstrip("/"))
    model = load(d).cuda().eval()
    fast = {}
    try:
        import importlib
        mod = importlib.import_module(type(model).__module__)
        fast = {k: bool(getattr(mod, k)) for k in ("is_fast_path_available",) if hasattr(mod, k)}
    except Exception as e:  # noqa: BLE001
        fast = {"error": str(e)}
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        warm = torch.randint(0, vocab, (1, 256), generator=g).cuda()
        model(warm, use_cache=False)
        for T in (2048, 16384):
            ids = torch.randint(0, vocab, (1, T), generator=g).cuda()
            try:
                sec, _ = sync_time(lambda: model(ids, use_cache=False, logits_to_keep=1))
            except TypeError:
                sec, _ = sync_time(lambda: model(ids, use_cache=False))
            results.append({"model": name, "engine": "transformers", "what": "prefill", "tokens": T, "seconds": sec, "tokensPerSec": T / sec})
            print(f"{name}: transformers prefill {T}: {T / sec:.0f} tok/s ({sec:.2f} s)", flush=True)
            if sec > 8 and T < 16384:  # the next length is 8× longer: skip it rather than overrun the job's time
                results.append({"model": name, "engine": "transformers", "what": "prefill-skipped", "tokens": 16384, "why": f"{T} tokens took {sec:.1f} s"})
                break
        prompt = torch.randint(0, vocab, (1, 2048), generator=g).cuda()
        kw = dict(do_sample=False, pad_token_id=0)
        try:
            model.generate(prompt[:, :64], max_new_tokens=4, min_new_tokens=4, **kw)
            t1, _ = sync_time(lambda: model.generate(prompt, max_new_tokens=1, min_new_tokens=1, **kw))
            t129, _ = sync_time(lambda: model.generate(prompt, max_new_tokens=129, min_new_tokens=129, **kw))
            rate = 128 / (t129 - t1)
            results.append({"model": name, "engine": "transformers", "what": "decode", "tokens": 128, "afterPrompt": 2048, "tokensPerSec": rate})
            print(f"{name}: transformers decode: {rate:.0f} tok/s", flush=True)
        except Exception as e:  # noqa: BLE001
            print(f"{name}: transformers decode failed: {e}", flush=True)
    results.append({"model": name, "engine": "transformers", "what": "info", "transformers": transformers.__version__,
                    "torch": torch.__version__, "device": torch.cuda.get_device_name(0), "fastPath": fast})
    del model
    torch.cuda.empty_cache()

with open(out_path, "w") as f:
    json.dump(results, f, indent=2)
