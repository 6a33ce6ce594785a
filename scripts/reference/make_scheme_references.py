#!/usr/bin/python3
"""Writes PyTorch reference values for djl-quant's scheme and observer tests.

Run with Debian's python (torch 1.13.x installed from Debian):

    /usr/bin/python3 scripts/reference/make_scheme_references.py \
        quant-plugin/src/test/resources/reference/scheme_references.json

Every input is generated here deterministically (torch.manual_seed) and stored in the JSON next to
the outputs, so the Java tests need no Python. Floats are written as the shortest decimal of the
float32 value; parsing it as a double and casting to float gives the float32 value back exactly.
CI does not run this script; re-run it only to regenerate the committed JSON.
"""
import json
import sys

import numpy as np
import torch
from torch.ao.quantization import observer as obs

SEED = 20240611


def f32(t):
    """Tensor/array -> flat list of python floats holding float32 values."""
    a = np.asarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, dtype=np.float32)
    return [float(v) for v in a.reshape(-1)]


def ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def make_batches():
    g = torch.Generator().manual_seed(SEED)
    sets = {}
    # 3 batches [8, 16] of a normal with a shifted mean, varying spread
    sets["normal"] = [torch.randn(8, 16, generator=g) * (0.5 + 0.5 * i) + 0.25 for i in range(3)]
    # mostly small values with a few outliers (histograms should clip them)
    b = []
    for i in range(3):
        t = torch.randn(8, 16, generator=g) * 0.1
        t[i, 3] = 4.0 + i
        t[7 - i, 11] = -2.5 - i
        b.append(t)
    sets["outliers"] = b
    # uniform, positive only (ReLU-like)
    sets["positive"] = [torch.rand(8, 16, generator=g) * 6.0 for _ in range(3)]
    # all negative
    sets["negative"] = [-(torch.rand(8, 16, generator=g) * 3.0 + 0.5) for _ in range(2)]
    # edge cases
    sets["zeros"] = [torch.zeros(8, 16)]
    sets["constant"] = [torch.full((8, 16), 3.0)]
    sets["constant_negative"] = [torch.full((8, 16), -0.75)]
    return sets


DTYPES = {"INT8": torch.qint8, "UINT8": torch.quint8}
SCHEMES = {
    ("SYMMETRIC", False): torch.per_tensor_symmetric,
    ("AFFINE", False): torch.per_tensor_affine,
    ("SYMMETRIC", True): torch.per_channel_symmetric,
    ("AFFINE", True): torch.per_channel_affine,
}


def probe_of(batches):
    # the last batch plus values outside the observed range (clamping) and 0
    last = batches[-1].clone()
    last[0, 0] = float(last.min()) * 2.0 - 1.0
    last[0, 1] = float(last.max()) * 2.0 + 1.0
    last[0, 2] = 0.0
    return last


def run_observer(o, batches):
    for b in batches:
        o(b)
    scale, zp = o.calculate_qparams()
    return scale.reshape(-1), zp.reshape(-1)


def per_tensor_cases(sets):
    out = []
    for name, batches in sets.items():
        probe = probe_of(batches)
        for dt_name, dt in DTYPES.items():
            for sch in ("SYMMETRIC", "AFFINE"):
                for rr in (False, True):
                    if rr and sch == "SYMMETRIC" and dt == torch.quint8:
                        continue  # PyTorch refuses it ("Cannot reduce range for symmetric quint8")
                    kinds = [("minMax", lambda: obs.MinMaxObserver(
                        dtype=dt, qscheme=SCHEMES[(sch, False)], reduce_range=rr))]
                    for m in (0.01, 0.3):
                        kinds.append(("movingAverageMinMax", (lambda m=m: obs.MovingAverageMinMaxObserver(
                            averaging_constant=m, dtype=dt, qscheme=SCHEMES[(sch, False)],
                            reduce_range=rr)), m))
                    for k in kinds:
                        kind, ctor = k[0], k[1]
                        momentum = k[2] if len(k) > 2 else None
                        o = ctor()
                        scale, zp = run_observer(o, batches)
                        qmin, qmax = o.quant_min, o.quant_max
                        s, z = float(scale[0]), int(zp[0])
                        fq = torch.fake_quantize_per_tensor_affine(probe, s, z, qmin, qmax)
                        case = {
                            "data": name, "observer": kind, "dtype": dt_name, "scheme": sch,
                            "reduceRange": rr, "momentum": momentum,
                            "qmin": qmin, "qmax": qmax,
                            "min": float(o.min_val), "max": float(o.max_val),
                            "scale": f32(scale)[0], "zeroPoint": z,
                            "fakeQuant": f32(fq),
                        }
                        if not rr:
                            case["quantized"] = ints(
                                torch.quantize_per_tensor(probe, s, z, dt).int_repr().to(torch.int64))
                        out.append(case)
    return out


def custom_range_cases(sets):
    """INT4 / UINT4 / INT2-like ranges through PyTorch's quant_min/quant_max."""
    out = []
    ranges = [("INT4", torch.qint8, -8, 7), ("UINT4", torch.quint8, 0, 15),
              ("INT2", torch.qint8, -2, 1)]
    for name in ("normal", "outliers", "positive", "negative"):
        batches = sets[name]
        probe = probe_of(batches)
        for dt_name, dt, qmin, qmax in ranges:
            for sch in ("SYMMETRIC", "AFFINE"):
                if sch == "SYMMETRIC" and dt == torch.quint8:
                    continue  # PyTorch picks the lower midpoint 7 there; we use 8 (documented)
                o = obs.MinMaxObserver(dtype=dt, qscheme=SCHEMES[(sch, False)],
                                       quant_min=qmin, quant_max=qmax)
                scale, zp = run_observer(o, batches)
                s, z = float(scale[0]), int(zp[0])
                fq = torch.fake_quantize_per_tensor_affine(probe, s, z, qmin, qmax)
                out.append({
                    "data": name, "observer": "minMax", "dtype": dt_name, "scheme": sch,
                    "reduceRange": False, "momentum": None, "qmin": qmin, "qmax": qmax,
                    "min": float(o.min_val), "max": float(o.max_val),
                    "scale": f32(scale)[0], "zeroPoint": z, "fakeQuant": f32(fq),
                })
    return out


def per_channel_cases(sets):
    out = []
    for name in ("normal", "outliers", "positive", "negative", "zeros", "constant"):
        batches = sets[name]
        probe = probe_of(batches)
        for axis in (0, 1):
            for dt_name, dt in DTYPES.items():
                for sch in ("SYMMETRIC", "AFFINE"):
                    kinds = [("perChannelMinMax", lambda: obs.PerChannelMinMaxObserver(
                        ch_axis=axis, dtype=dt, qscheme=SCHEMES[(sch, True)]), None),
                             ("perChannelMovingAverageMinMax",
                              lambda: obs.MovingAveragePerChannelMinMaxObserver(
                                  averaging_constant=0.1, ch_axis=axis, dtype=dt,
                                  qscheme=SCHEMES[(sch, True)]), 0.1)]
                    for kind, ctor, momentum in kinds:
                        o = ctor()
                        scale, zp = run_observer(o, batches)
                        qmin, qmax = o.quant_min, o.quant_max
                        fq = torch.fake_quantize_per_channel_affine(
                            probe, scale, zp.to(torch.int32), axis, qmin, qmax)
                        q = torch.quantize_per_channel(probe, scale.double(), zp, axis, dt)
                        out.append({
                            "data": name, "observer": kind, "dtype": dt_name, "scheme": sch,
                            "axis": axis, "momentum": momentum, "qmin": qmin, "qmax": qmax,
                            "min": f32(o.min_val), "max": f32(o.max_val),
                            "scales": f32(scale), "zeroPoints": ints(zp),
                            "fakeQuant": f32(fq),
                            "quantized": ints(q.int_repr().to(torch.int64)),
                        })
    return out


def histogram_cases(sets):
    out = []
    for name in ("normal", "outliers", "positive", "negative"):
        batches = sets[name]
        for dt_name, dt in DTYPES.items():
            for sch in ("SYMMETRIC", "AFFINE"):
                o = obs.HistogramObserver(bins=2048, dtype=dt, qscheme=SCHEMES[(sch, False)])
                scale, zp = run_observer(o, batches)
                out.append({
                    "data": name, "observer": "histogram", "dtype": dt_name, "scheme": sch,
                    "qmin": o.quant_min, "qmax": o.quant_max,
                    "min": float(o.min_val), "max": float(o.max_val),
                    "scale": f32(scale)[0], "zeroPoint": int(zp[0]),
                })
    return out


def rounding_cases():
    """x * (1/s) lands exactly on .5: PyTorch rounds half to even."""
    out = []
    for s, z in ((1.0, 0), (0.5, 0), (0.25, 3), (2.0, -5)):
        xs = torch.tensor([k * s + s / 2 for k in range(-6, 6)], dtype=torch.float32)
        q = torch.quantize_per_tensor(xs, s, z, torch.qint8).int_repr().to(torch.int64)
        fq = torch.fake_quantize_per_tensor_affine(xs, s, z, -128, 127)
        out.append({"scale": s, "zeroPoint": z, "x": f32(xs), "quantized": ints(q),
                    "fakeQuant": f32(fq)})
    return out


def reciprocal_cases():
    """Inputs where round(x * (1.0f/s)) != round(x / s) in float32: shows which one PyTorch uses."""
    rng = np.random.default_rng(SEED)
    found = []
    for s in (np.float32(0.1), np.float32(0.3), np.float32(0.007), np.float32(1.7)):
        inv = np.float32(1.0) / s
        ks = np.arange(-100, 100, dtype=np.float32)
        # values right next to the k + 0.5 boundaries
        base = ((ks + np.float32(0.5)) * s).astype(np.float32)
        cand = np.concatenate([np.nextafter(base, np.float32(-1e9)), base,
                               np.nextafter(base, np.float32(1e9))]).astype(np.float32)
        cand = np.concatenate([cand, (rng.standard_normal(2000) * 50 * s).astype(np.float32)])
        a = np.rint((cand * inv).astype(np.float32))
        b = np.rint((cand / s).astype(np.float32))
        diff = cand[a != b]
        diff = diff[np.abs(np.rint(diff * inv)) < 120][:16]
        if len(diff) == 0:
            continue
        xs = torch.tensor(diff, dtype=torch.float32)
        q = torch.quantize_per_tensor(xs, float(s), 0, torch.qint8).int_repr().to(torch.int64)
        fq = torch.fake_quantize_per_tensor_affine(xs, float(s), 0, -128, 127)
        mul = [int(v) for v in np.rint((diff * inv).astype(np.float32))]
        div = [int(v) for v in np.rint((diff / s).astype(np.float32))]
        found.append({"scale": float(s), "zeroPoint": 0, "x": f32(xs), "quantized": ints(q),
                      "fakeQuant": f32(fq), "byReciprocal": mul, "byDivision": div})
    return found


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "scheme_references.json"
    torch.set_num_threads(1)
    sets = make_batches()
    rec = reciprocal_cases()
    uses_mul = all(r["quantized"] == r["byReciprocal"] for r in rec)
    uses_div = all(r["quantized"] == r["byDivision"] for r in rec)
    fq_mul = all(
        f32(torch.tensor(r["fakeQuant"])) == [float(np.float32(v) * np.float32(r["scale"]))
                                              for v in r["byReciprocal"]] for r in rec)
    doc = {
        "generator": "scripts/reference/make_scheme_references.py",
        "torch": torch.__version__,
        "qengine": torch.backends.quantized.engine,
        "seed": SEED,
        "eps": float(torch.finfo(torch.float32).eps),
        "findings": {"quantizeUsesReciprocal": uses_mul, "quantizeUsesDivision": uses_div,
                     "fakeQuantUsesReciprocal": fq_mul},
        "inputs": {k: {"shape": list(v[0].shape), "batches": [f32(b) for b in v]}
                   for k, v in sets.items()},
        "perTensor": per_tensor_cases(sets) + custom_range_cases(sets),
        "perChannel": per_channel_cases(sets),
        "histogram": histogram_cases(sets),
        "roundHalfEven": rounding_cases(),
        "reciprocal": rec,
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(path, "torch", torch.__version__, "findings", doc["findings"],
          "cases", len(doc["perTensor"]), len(doc["perChannel"]), len(doc["histogram"]))


if __name__ == "__main__":
    main()
