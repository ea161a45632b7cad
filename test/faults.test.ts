// Bad input and faults (issue "every case gives a right answer or a clear
// typed error, with no hang and no leak"). Each case asserts the value or the
// specific error class and what its message names.

import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/types.js';
import { WebGpuBackend } from '../src/backend/webgpu.js';
import {
  AbortError,
  DataError,
  DeviceLimitError,
  DeviceLostError,
  ShapeError,
} from '../src/errors.js';
import { HyperProblem, type ProblemOptions } from '../src/solvers/problem.js';
import { ConjugateGradient } from '../src/solvers/cg.js';
import { hoag } from '../src/solvers/hoag.js';
import { getBackends, randomArray } from './helpers/backends.js';
import { relErr } from './helpers/allclose.js';

let cpu: Backend;
let gpu: Backend;
beforeAll(async () => {
  ({ cpu, gpu } = await getBackends());
});
const both = () =>
  [
    ['cpu', cpu],
    ['gpu', gpu],
  ] as const;

/** A small ridge problem: n rows, p features, y = X·w0 + noise (one w0 per p). */
function ridgeData(n: number, p: number, seed: number, scale = 1) {
  const X = randomArray(n * p, seed, -1, 1).map((x) => x * scale);
  const w0 = randomArray(p, 1000 + p);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0.1 * Math.sin(i);
    for (let j = 0; j < p; j++) s += (X[i * p + j] / scale) * w0[j];
    y[i] = s;
  }
  return { X, y, n };
}

function linear(p: number, extra: Partial<ProblemOptions> = {}, seed = 1): ProblemOptions {
  return {
    model: { sizes: [p, 1], bias: false },
    train: ridgeData(30, p, seed),
    val: ridgeData(40, p, seed + 10),
    weights: new Float64Array(p),
    ...extra,
  };
}

describe('1–2. shapes and data', () => {
  it('X and y row counts differ; train and validation features differ; weights of the wrong length', () => {
    const ok = linear(3);
    expect(
      () => new HyperProblem(cpu, { ...ok, train: { ...ok.train, y: ok.train.y.slice(1) } }),
    ).toThrow(/X and y row counts differ/);
    expect(
      () =>
        new HyperProblem(cpu, {
          ...ok,
          val: { X: new Float64Array(40 * 4), y: new Float64Array(40), n: 40 },
        }),
    ).toThrow(ShapeError);
    expect(() => new HyperProblem(cpu, { ...ok, weights: new Float64Array(4) })).toThrow(
      /4 values, but the architecture \[3,1\]/,
    );
  });

  it('NaN or Inf anywhere in X or y, and zero rows, are DataErrors naming the place', () => {
    const ok = linear(3);
    const X = ok.train.X.slice();
    X[3 * 7 + 2] = NaN;
    expect(() => new HyperProblem(cpu, { ...ok, train: { ...ok.train, X } })).toThrow(
      /training data: X row 8, column 3 is NaN/,
    );
    const y = ok.val.y.slice();
    y[5] = Infinity;
    expect(() => new HyperProblem(cpu, { ...ok, val: { ...ok.val, y } })).toThrow(DataError);
    expect(
      () =>
        new HyperProblem(cpu, {
          ...ok,
          train: { X: new Float64Array(0), y: new Float64Array(0), n: 0 },
        }),
    ).toThrow(/no rows/);
  });

  it('one training row and a constant feature still give the closed-form answer', async () => {
    // One row x, α > 0: w* = x·y/(‖x‖² + α) (rank one), dF/dα by the ridge formula.
    const x = [0.5, -1, 2];
    const yv = 1.5;
    const alpha = 0.3;
    const train = { X: Float64Array.from(x), y: Float64Array.from([yv]), n: 1 };
    // A constant validation feature (column 0 = 1) is fine for the model.
    const val = {
      X: Float64Array.from([1, 0.2, 0.1, 1, -0.4, 0.3]),
      y: Float64Array.from([0.3, -0.2]),
      n: 2,
    };
    for (const [name, backend] of both()) {
      const prob = new HyperProblem(backend, {
        model: { sizes: [3, 1], bias: false },
        train,
        val,
        alpha,
        nugget: 0,
        weights: new Float64Array(3),
      });
      const r = await prob.hypergradient({ fit: { method: 'newton', gtol: 1e-12 } });
      const xx = x.reduce((a, v) => a + v * v, 0);
      // With A = xxᵀ + αI: w* = x·y/(xx + α), dw*/dα = −A⁻¹w* = −w*/(xx + α).
      const w = x.map((v) => (v * yv) / (xx + alpha));
      const dw = w.map((v) => -v / (xx + alpha));
      let dF = 0;
      for (let i = 0; i < 2; i++) {
        const row = Array.from(val.X.subarray(3 * i, 3 * i + 3));
        const res = row.reduce((a, v, j) => a + v * w[j], 0) - val.y[i];
        dF += (res * row.reduce((a, v, j) => a + v * dw[j], 0)) / 2;
      }
      expect(relErr(r.hypergradient[0], dF), name).toBeLessThan(name === 'cpu' ? 1e-10 : 1e-4);
      prob.destroy();
    }
  });
});

describe('3–6. hard numerics', () => {
  it('λ = 0 with a singular Hessian (n < p): finite, and the status says how well CG converged', async () => {
    for (const [, backend] of both()) {
      const opts = linear(12, { alpha: 0, nugget: 0, solve: 'validation' });
      opts.train = ridgeData(4, 12, 3);
      const prob = new HyperProblem(backend, opts);
      const r = await prob.hypergradient({
        fit: { method: 'newton', maxIter: 10 },
        cg: { maxIter: 40 },
      });
      expect(r.hypergradient.every(Number.isFinite)).toBe(true);
      expect(r.cg.status).not.toBe('converged');
      expect(r.valid).toBe(false);
      expect(r.warnings.length).toBeGreaterThan(0);
      prob.destroy();
    }
  });

  it('λ = 1e-12 and λ = 1e12 give finite results that match the closed form', async () => {
    for (const alpha of [1e-12, 1e12]) {
      for (const [name, backend] of both()) {
        const prob = new HyperProblem(backend, linear(4, { alpha, nugget: 0 }));
        const r = await prob.hypergradient({ fit: { method: 'newton' } });
        expect(r.hypergradient.every(Number.isFinite), `${name} α=${alpha}`).toBe(true);
        expect(Number.isFinite(r.value)).toBe(true);
        // At λ = 1e12, w* ≈ Xᵀy/(nλ) → 0 and dF/dα ≈ ⟨∇L_val(0), −Xᵀy/(nλ²)⟩ ~ 1e-24:
        // tiny but finite, and not NaN from 0/0.
        if (alpha === 1e12) expect(Math.abs(r.hypergradient[0])).toBeLessThan(1e-20);
        prob.destroy();
      }
    }
  });

  it('features scaled by 1e4: the same hypergradient (α scaled by 1e8), CG iterations reported', async () => {
    const base = linear(5, { alpha: 0.1, nugget: 0 });
    const scaled: ProblemOptions = {
      ...base,
      train: { ...base.train, X: base.train.X.map((x) => x * 1e4) },
      val: { ...base.val, X: base.val.X.map((x) => x * 1e4) },
      alpha: 0.1 * 1e8,
    };
    // Scaling X by s maps w* to w*/s and α to α·s²: F is unchanged and
    // dF/dα scales by 1/s², an exact identity of the model.
    for (const [name, backend] of both()) {
      const a = new HyperProblem(backend, base);
      const b = new HyperProblem(backend, scaled);
      const fit = { method: 'newton' as const, gtol: name === 'cpu' ? 1e-12 : 1e-6 };
      const ra = await a.hypergradient({ fit });
      const rb = await b.hypergradient({ fit });
      expect(rb.cg.iterations).toBeGreaterThan(0);
      expect(relErr(rb.hypergradient[0] * 1e8, ra.hypergradient[0]), name).toBeLessThan(
        name === 'cpu' ? 1e-8 : 1e-3,
      );
      a.destroy();
      b.destroy();
    }
  });

  it('an indefinite Hessian (tanh network away from its minimum): negative curvature, finite, flagged', async () => {
    for (const [, backend] of both()) {
      const prob = new HyperProblem(backend, {
        model: { sizes: [3, 8, 1], activation: 'tanh' },
        train: ridgeData(6, 3, 5),
        val: ridgeData(10, 3, 6),
        alpha: 1e-4,
        weights: randomArray(41, 9, -3, 3),
        solve: 'validation',
      });
      const r = await prob.hypergradient({ fit: false });
      expect(r.cg.status).toBe('negative_curvature');
      expect(r.hypergradient.every(Number.isFinite)).toBe(true);
      expect(r.valid).toBe(false);
      expect(r.warnings.join(' ')).toMatch(/negative curvature/);
      prob.destroy();
    }
  });

  it('a validation gradient of ~1e-13: no 0/0, and the right small hypergradient', async () => {
    // Validation targets generated by the fitted model itself, plus 1e-13.
    const opts = linear(4, { alpha: 0.2, nugget: 0 });
    const ref = new HyperProblem(cpu, opts);
    await ref.fit({ method: 'newton', gtol: 1e-14 });
    const w = await ref.getWeights();
    ref.destroy();
    const Xv = opts.val.X;
    const yv = new Float64Array(opts.val.n).map((_, i) => {
      let s = 0;
      for (let j = 0; j < 4; j++) s += Xv[i * 4 + j] * w[j];
      return s + 1e-13 * Math.cos(i);
    });
    for (const solve of ['validation', 'hyper'] as const) {
      const prob = new HyperProblem(cpu, {
        ...opts,
        val: { X: Xv, y: yv, n: opts.val.n },
        weights: w,
        solve,
      });
      const r = await prob.hypergradient({ fit: false });
      expect(r.hypergradient.every(Number.isFinite)).toBe(true);
      expect(Math.abs(r.hypergradient[0])).toBeLessThan(1e-11);
      expect(Math.abs(r.hypergradient[0])).toBeGreaterThan(0);
      // Scaling: residuals ×1e6 give a hypergradient ×1e6 (linear in ∇L_val).
      const yv2 = yv.map((v, i) => v + (1e6 - 1) * 1e-13 * Math.cos(i));
      const p2 = new HyperProblem(cpu, {
        ...opts,
        val: { X: Xv, y: yv2, n: opts.val.n },
        weights: w,
        solve,
      });
      const r2 = await p2.hypergradient({ fit: false });
      expect(relErr(r2.hypergradient[0], 1e6 * r.hypergradient[0])).toBeLessThan(1e-2);
      prob.destroy();
      p2.destroy();
    }
  });
});

describe('7–9. outer steps, warm starts, scalars', () => {
  it('an outer step far too large is rejected; λ stays finite and the history says why', async () => {
    // Validation targets 0.7·X·w0: the best α is interior, F at α = 1e6
    // (w* ≈ 0) is far above F near the optimum, and one step of 40 e-folds
    // from α = 1e-4 lands there.
    const opts = linear(5, { alpha: 1e-4 });
    opts.val = { ...opts.val, y: opts.val.y.map((v) => 0.7 * v) };
    const prob = new HyperProblem(cpu, opts);
    const r = await hoag(prob, {
      steps: 4,
      initialStep: 40,
      maxStep: 40,
      fit: { method: 'newton' },
    });
    const rejected = r.history.filter((h) => !h.accepted);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected[0].reason).toMatch(/F rose .* step rejected/);
    expect(r.lambda.every(Number.isFinite)).toBe(true);
    // After a rejection the best point is re-measured at a tighter tolerance,
    // so its F can differ from the first (ε₀ = 1e-3) measurement by ~ε₀.
    expect(r.value).toBeLessThanOrEqual(r.initialValue * (1 + 1e-3));
    prob.destroy();
  });

  it('CG warm start: at the exact solution 0 iterations; elsewhere the same answer as cold', async () => {
    for (const [name, backend] of both()) {
      const prob = new HyperProblem(backend, linear(6, { alpha: 0.1 }));
      const cold = await prob.hypergradient({
        fit: { method: 'newton' },
        warmStart: false,
        cg: { rtol: 1e-7 },
      });
      const again = await prob.hypergradient({ fit: false, cg: { rtol: 1e-5 } });
      // The previous q solves the same system to 1e-7 < 1e-5: nothing to do.
      expect(again.cg.iterations, name).toBe(0);
      prob.setLambda(0.2);
      const warm = await prob.hypergradient({ fit: { method: 'newton' } });
      prob.resetWarmStart();
      const cold2 = await prob.hypergradient({ fit: false });
      expect(relErr(warm.hypergradient[0], cold2.hypergradient[0])).toBeLessThan(
        name === 'cpu' ? 1e-9 : 1e-4,
      );
      expect(cold.hypergradient[0]).not.toBe(warm.hypergradient[0]);
      prob.destroy();
    }
  });

  it('a model with a single parameter and a single hyperparameter', async () => {
    // L = ½·mean((w·x − y)²) + ½αw²: w* = Σxy/(Σx² + nα); closed-form dF/dα.
    const x = [1, 2, -1, 0.5];
    const y = [0.9, 2.2, -1.1, 0.4];
    const xv = [0.3, -2];
    const yv = [0.2, -1.7];
    const alpha = 0.25;
    const n = 4;
    const sxx = x.reduce((a, v) => a + v * v, 0) / n;
    const sxy = x.reduce((a, v, i) => a + v * y[i], 0) / n;
    const w = sxy / (sxx + alpha);
    const dw = -w / (sxx + alpha);
    const dF = xv.reduce((a, v, i) => a + (v * w - yv[i]) * v * dw, 0) / 2;
    for (const [name, backend] of both()) {
      const prob = new HyperProblem(backend, {
        model: { sizes: [1, 1], bias: false },
        train: { X: Float64Array.from(x), y: Float64Array.from(y), n },
        val: { X: Float64Array.from(xv), y: Float64Array.from(yv), n: 2 },
        alpha,
        nugget: 0,
        weights: [0],
      });
      const r = await prob.hypergradient({ fit: { method: 'newton', gtol: 1e-12 } });
      expect(relErr(r.hypergradient[0], dF), name).toBeLessThan(name === 'cpu' ? 1e-12 : 1e-5);
      prob.destroy();
    }
  });
});

describe('10–14. device limits, loss, abort, memory, sharing (WebGPU)', () => {
  it('a dataset whose activations exceed the storage-binding limit: DeviceLimitError naming size and limit, nothing leaked', async () => {
    const g = gpu as WebGpuBackend;
    const limit = Math.min(
      g.device.limits.maxStorageBufferBindingSize,
      g.device.limits.maxBufferSize,
    );
    // Enough rows that one n × 8 f32 activation buffer passes the limit.
    const n = Math.floor(limit / (8 * 4)) + 1;
    const before = { ...g.stats };
    let error: unknown;
    try {
      new HyperProblem(g, {
        model: { sizes: [1, 8, 1] },
        train: { X: new Float64Array(n), y: new Float64Array(n), n },
        val: { X: new Float64Array(10), y: new Float64Array(10), n: 10 },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DeviceLimitError);
    expect(String(error)).toContain(`${Math.ceil((n * 8 * 4) / 4) * 4} bytes exceed the device's`);
    expect(String(error)).toContain(`${limit} bytes`);
    expect(g.stats.buffersLive).toBe(before.buffersLive);
    expect(g.stats.bytesLive).toBe(before.bytesLive);
  });

  it('device lost in the middle of CG: a DeviceLostError, no hang; earlier results stay valid', async () => {
    const own = await WebGpuBackend.create();
    const prob = new HyperProblem(own, linear(6, { alpha: 0.1 }));
    const first = await prob.hypergradient({ fit: { method: 'newton' } });
    const kept = first.hypergradient[0];
    const run = prob.hypergradient({
      fit: false,
      warmStart: false,
      cg: {
        rtol: 1e-30,
        maxIter: 10_000,
        checkEvery: 1,
        onProgress: (p) => {
          if (p.iterations >= 2) own.device.destroy();
        },
      },
    });
    await expect(run).rejects.toBeInstanceOf(DeviceLostError);
    expect(first.hypergradient[0]).toBe(kept);
    expect(Number.isFinite(kept)).toBe(true);
  });

  it('an AbortSignal fired mid-run rejects with AbortError; destroy releases every device buffer', async () => {
    const own = await WebGpuBackend.create();
    const base = own.stats.buffersLive;
    const live: number[] = [];
    for (let round = 0; round < 2; round++) {
      const prob = new HyperProblem(own, linear(6, { alpha: 0.1 }));
      const ctl = new AbortController();
      const run = hoag(prob, {
        steps: 50,
        signal: ctl.signal,
        fit: { method: 'newton' },
        onStep: (s) => s.k === 1 && ctl.abort(),
      });
      await expect(run).rejects.toBeInstanceOf(AbortError);
      prob.destroy();
      live.push(own.stats.buffersLive);
    }
    // What stays is the backend's pool of readback staging buffers (at most
    // 8 by design), the same after the second round as after the first.
    expect(live[1]).toBe(live[0]);
    expect(live[0] - base).toBeLessThanOrEqual(8);
    own.destroy();
    expect(own.stats.buffersLive).toBe(0);
  });

  it('5,000 CG iterations hold the same device memory as the first', async () => {
    const n = 64;
    const A = gpu.createBuffer(n * n);
    const diag = new Float64Array(n * n);
    for (let i = 0; i < n; i++) diag[i * n + i] = 1 + i;
    gpu.write(A, diag);
    const b = gpu.createBuffer(n);
    const x = gpu.createBuffer(n);
    gpu.write(b, randomArray(n, 3));
    const cg = new ConjugateGradient(
      gpu,
      { n, ops: (i, o) => [gpu.matmul({ m: n, n: 1, k: n, a: A, b: i, c: o })] },
      b,
      x,
    );
    await cg.solve({ rtol: 0, maxIter: 1, checkEvery: 1 });
    const after1 = { bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive };
    // rtol = 0 never converges: all 5,000 iterations run (64 per submit).
    const r = await cg.solve({ rtol: 0, maxIter: 5000, checkEvery: 64 });
    expect(r.iterations + (r.status === 'max_iter' ? 0 : 5000)).toBeGreaterThanOrEqual(
      r.status === 'max_iter' ? 5000 : 0,
    );
    expect({ bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive }).toEqual(after1);
    cg.destroy();
    for (const q of [A, b, x]) gpu.destroyBuffer(q);
  });

  it('two solvers sharing one device at once give exactly the results each gives alone', async () => {
    const make = (seed: number) => new HyperProblem(gpu, linear(5, { alpha: 0.1 }, seed));
    const alone = [];
    for (const seed of [1, 2]) {
      const p = make(seed);
      alone.push((await p.hypergradient({ fit: { method: 'newton' } })).hypergradient[0]);
      p.destroy();
    }
    const [p1, p2] = [make(1), make(2)];
    const together = await Promise.all(
      [p1, p2].map((p) => p.hypergradient({ fit: { method: 'newton' } })),
    );
    expect(together.map((r) => r.hypergradient[0])).toEqual(alone);
    p1.destroy();
    p2.destroy();
  });
});
