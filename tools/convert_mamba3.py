#!/usr/bin/env python3
"""Convert a state-spaces/mamba Mamba-3 language model checkpoint to what mamba-edge loads.

mamba_ssm saves `MambaLMHeadModel` as a torch state_dict (pytorch_model.bin / a .pt file)
plus a config.json that is `MambaConfig` as a dict (d_model, n_layer, vocab_size, ssm_cfg
with "layer": "Mamba3", rms_norm, tie_embeddings, pad_vocab_size_multiple, ...).
mamba-edge reads a Hugging Face style folder: config.json with model_type "mamba3"
(fields in docs/mamba3.md) + model.safetensors whose tensor names are mamba_ssm's own
module names (backbone.embedding.weight, backbone.layers.{i}.mixer.in_proj.weight, ...).
So the conversion is: keep the tensors and their names, drop a tied lm_head, cast to f32,
and rewrite the config.

    python3 tools/convert_mamba3.py --state-dict pytorch_model.bin --config config.json --out DIR

Needs torch only to read the .pt/.bin file; safetensors is written by hand (no dependency).
"""
import argparse
import json
import os
import struct
import sys

# Mamba3.__init__ defaults (mamba_ssm/modules/mamba3.py); a checkpoint's ssm_cfg overrides them.
MAMBA3_DEFAULTS = dict(
    d_state=128, expand=2, headdim=64, ngroups=1, rope_fraction=0.5, A_floor=1e-4,
    is_outproj_norm=False, is_mimo=False, mimo_rank=4, chunk_size=64,
)


def edge_config(mcfg):
    """mamba_ssm MambaConfig dict -> mamba-edge config.json dict (docs/mamba3.md)."""
    ssm = dict(MAMBA3_DEFAULTS)
    ssm.update(mcfg.get("ssm_cfg") or {})
    layer = ssm.pop("layer", "Mamba3")
    if layer != "Mamba3":
        raise SystemExit(f'ssm_cfg.layer is "{layer}", not "Mamba3"')
    if mcfg.get("d_intermediate", 0):
        raise SystemExit("d_intermediate > 0 (an MLP after each mixer) is not supported by mamba-edge's mamba3 graph")
    if mcfg.get("attn_layer_idx"):
        raise SystemExit("attention layers (attn_layer_idx) are not supported by mamba-edge's mamba3 graph")
    if not mcfg.get("rms_norm", True):
        raise SystemExit("rms_norm false (LayerNorm blocks) is not supported by mamba-edge's mamba3 graph")
    vocab = mcfg["vocab_size"]
    mult = mcfg.get("pad_vocab_size_multiple", 1) or 1
    if vocab % mult:
        vocab += mult - vocab % mult  # MambaLMHeadModel pads the table to this size
    return {
        "model_type": "mamba3",
        "vocab_size": vocab,
        "hidden_size": mcfg["d_model"],
        "num_hidden_layers": mcfg["n_layer"],
        "state_size": ssm["d_state"],
        "expand": ssm["expand"],
        "head_dim": ssm["headdim"],
        "n_groups": ssm["ngroups"],
        "rope_fraction": ssm["rope_fraction"],
        "a_floor": ssm["A_floor"],
        "is_mimo": bool(ssm["is_mimo"]),
        "mimo_rank": ssm["mimo_rank"] if ssm["is_mimo"] else 1,
        "is_outproj_norm": bool(ssm["is_outproj_norm"]),
        "chunk_size": ssm["chunk_size"],
        "layer_norm_epsilon": mcfg.get("norm_epsilon", 1e-5),
        "tie_word_embeddings": bool(mcfg.get("tie_embeddings", True)),
    }


def edge_tensors(state_dict, cfg):
    """name -> float32 tensor, mamba_ssm names kept; a tied lm_head is dropped."""
    import torch
    out = {}
    for name, t in state_dict.items():
        if cfg["tie_word_embeddings"] and name == "lm_head.weight":
            continue
        out[name] = t.detach().to(torch.float32).contiguous().cpu()
    return out


def _f32_bytes(t):
    import torch
    t = t.detach().to(torch.float32).contiguous().clone()  # its own storage, exactly numel floats
    assert sys.byteorder == "little"
    return bytes(t.untyped_storage())


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (F32 only): 8-byte header length, JSON header, raw data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name]
        data = _f32_bytes(t)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def convert(state_dict, mcfg, out_dir):
    cfg = edge_config(mcfg)
    tensors = edge_tensors(state_dict, cfg)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})
    return cfg, tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state-dict", required=True, help="torch state_dict file (.pt / pytorch_model.bin)")
    ap.add_argument("--config", required=True, help="mamba_ssm config.json (MambaConfig as a dict)")
    ap.add_argument("--out", required=True, help="output folder (config.json + model.safetensors)")
    a = ap.parse_args()
    import torch
    sd = torch.load(a.state_dict, map_location="cpu", weights_only=True)
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    with open(a.config) as f:
        mcfg = json.load(f)
    cfg, tensors = convert(sd, mcfg, a.out)
    print(json.dumps(cfg, indent=1))
    print(f"{len(tensors)} tensors -> {os.path.join(a.out, 'model.safetensors')}")


if __name__ == "__main__":
    main()
