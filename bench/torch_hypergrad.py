"""PyTorch peer of the benchmark: the notebook's hypergradient on the CPU.

Reads a JSON written by bench/run.ts (network sizes, weights, data, the HVP
direction) from the path in argv[1] and prints one JSON object: the values it
computed (gradient, HVP, hypergradient) for the harness to check against ours,
and median timings. HVPs are double-backward autograd, as in the notebook:
the gradient graph is built once with create_graph=True, then each product is
grad(grad(L)·v) with retain_graph=True, plus nugget·v inside CG. CG is the
notebook's plain CG (x0 = 0) stopping at ||r|| <= rtol·||b||.
"""

import json
import sys
import time

import torch


def median_ms(fn, warmup=1, min_runs=3, max_runs=15, budget_s=1.5):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    mid = len(times) // 2
    med = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return {"medianMs": med, "samples": len(times), "minMs": times[0], "maxMs": times[-1]}


def unflatten(flat, sizes):
    """PyTorch's nn.Sequential parameter order: per layer weight [out, in], then bias."""
    params, off = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(flat[off : off + fan_out * fan_in].view(fan_out, fan_in))
        off += fan_out * fan_in
        params.append(flat[off : off + fan_out])
        off += fan_out
    return params


def forward(params, X, slope):
    h = X
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i].T + params[2 * i + 1]
        if i + 1 < n_layers:
            h = torch.nn.functional.leaky_relu(h, slope)
    return h


def loss(params, X, y, alpha, slope, penalised=True):
    r = forward(params, X, slope).reshape(-1) - y
    value = 0.5 * (r * r).mean()
    if penalised:
        value = value + 0.5 * alpha * sum((W * W).sum() for W in params[0::2])
    return value


def flat(ts):
    return torch.cat([t.reshape(-1) for t in ts])


def main():
    cfg = json.load(open(sys.argv[1]))
    torch.set_num_threads(cfg.get("threads", 1))
    dtype = torch.float64
    sizes, slope, nugget = cfg["sizes"], cfg["slope"], cfg["nugget"]
    t = lambda a: torch.tensor(a, dtype=dtype)
    rows = lambda d: (t(d["X"]).view(d["n"], sizes[0]), t(d["y"]))
    w0 = t(cfg["w"])
    v = t(cfg["v"])
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "dtype": "float64"}

    # Gradient and HVP of the training loss at rows = 25 (case B) and the big set.
    for key in ("train", "big"):
        X, y = rows(cfg[key])
        params = [p.clone().requires_grad_(True) for p in unflatten(w0, sizes)]
        alpha = t(cfg["alpha"])

        def gradient():
            return torch.autograd.grad(loss(params, X, y, alpha, slope), params)

        g = flat(gradient())
        grads = torch.autograd.grad(loss(params, X, y, alpha, slope), params, create_graph=True)
        vs = unflatten(v, sizes)

        def hvp():
            dot = sum((gi * vi).sum() for gi, vi in zip(grads, vs))
            return torch.autograd.grad(dot, params, retain_graph=True)

        hv = flat(hvp())

        # The notebook rebuilds nothing per product; "with graph" also counts
        # the create_graph backward that one HVP needs when used alone.
        def hvp_with_graph():
            gs = torch.autograd.grad(loss(params, X, y, alpha, slope), params, create_graph=True)
            dot = sum((gi * vi).sum() for gi, vi in zip(gs, vs))
            return torch.autograd.grad(dot, params)

        out[key] = {
            "rows": cfg[key]["n"],
            "grad": g.tolist(),
            "hv": hv.tolist(),
            "gradient": median_ms(gradient),
            "hvp": median_ms(hvp),
            "hvpWithGraph": median_ms(hvp_with_graph),
        }

    # The hypergradient (notebook: CG on the validation side, then grad_lambda).
    Xt, yt = rows(cfg["train"])
    Xv, yv = rows(cfg["val"])
    rtol = cfg["cgRtol"]

    def hypergradient():
        params = [p.clone().requires_grad_(True) for p in unflatten(w0, sizes)]
        alpha = t(cfg["alpha"]).requires_grad_(True)
        gl = torch.autograd.grad(loss(params, Xt, yt, alpha, slope), params, create_graph=True)

        def A(d):
            ds = unflatten(d, sizes)
            dot = sum((gi * di).sum() for gi, di in zip(gl, ds))
            return flat(torch.autograd.grad(dot, params, retain_graph=True)) + nugget * d

        b = flat(torch.autograd.grad(loss(params, Xv, yv, alpha, slope, penalised=False), params))
        x = torch.zeros_like(b)
        r = b.clone()
        p = r.clone()
        rr = r @ r
        bnorm = torch.sqrt(b @ b)
        iters = 0
        while torch.sqrt(rr) > rtol * bnorm and iters < cfg["cgMaxIter"]:
            ap = A(p)
            step = rr / (p @ ap)
            x += step * p
            r -= step * ap
            rr_new = r @ r
            p = r + (rr_new / rr) * p
            rr = rr_new
            iters += 1
        # grad_lambda: d/dα (∇_ω L_train · q) with q fixed; the plain validation
        # loss has no direct α term.
        qs = unflatten(x.detach(), sizes)
        dot = sum((gi * qi).sum() for gi, qi in zip(gl, qs))
        (cross,) = torch.autograd.grad(dot, alpha)
        return -cross.item(), iters

    hg, iters = hypergradient()
    out["hypergradient"] = {"value": hg, "cgIterations": iters, "time": median_ms(hypergradient)}

    # One CG iteration: an HVP plus the vector updates, on case B.
    params = [p.clone().requires_grad_(True) for p in unflatten(w0, sizes)]
    gl = torch.autograd.grad(loss(params, Xt, yt, t(cfg["alpha"]), slope), params, create_graph=True)
    state = {"p": t(cfg["v"]), "x": torch.zeros(len(cfg["v"]), dtype=dtype), "r": t(cfg["v"])}

    def cg_iteration():
        ps = unflatten(state["p"], sizes)
        dot = sum((gi * pi).sum() for gi, pi in zip(gl, ps))
        ap = flat(torch.autograd.grad(dot, params, retain_graph=True)) + nugget * state["p"]
        rr = state["r"] @ state["r"]
        step = rr / (state["p"] @ ap)
        state["x"] += step * state["p"]
        r = state["r"] - step * ap
        state["p"] = r + (r @ r) / rr * state["p"]
        state["r"] = r

    out["cgIteration"] = median_ms(cg_iteration, min_runs=20)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
