// CG, the implicit hypergradient and HOAG on both backends: the reference
// cases, the ridge closed form, finite differences, HOAG's optimum on A2,
// and CG's behaviour on SPD, warm-started, indefinite and singular systems.

import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Buf } from '../src/backend/types.js';
import { ConjugateGradient } from '../src/solvers/cg.js';
import { HyperProblem } from '../src/solvers/problem.js';
import { hoag } from '../src/solvers/hoag.js';
import { finiteDifferenceCheck } from '../src/solvers/check.js';
import { getBackends, randomArray } from './helpers/backends.js';
import { caseA, caseB, refData, trajectory } from './helpers/reference.js';
import { expectAllClose, relErr } from './helpers/allclose.js';

const U32 = 2 ** -24;
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

// ---- dense helpers for closed forms ----

/** Solves A x = b (n×n row-major) by Gaussian elimination with partial pivoting. */
function solveDense(A: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[p * n + c])) p = r;
    for (let k = 0; k < n; k++) [M[c * n + k], M[p * n + k]] = [M[p * n + k], M[c * n + k]];
    [x[c], x[p]] = [x[p], x[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / M[c * n + c];
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= M[r * n + k] * x[k];
    x[r] = s / M[r * n + r];
  }
  return x;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));

/** Ridge closed form (method.md): w*, and dF/dα for the plain validation loss. */
function ridge(
  X: Float64Array,
  y: Float64Array,
  n: number,
  p: number,
  alpha: number,
  Xv: Float64Array,
  yv: Float64Array,
  nv: number,
) {
  const A = new Float64Array(p * p);
  const rhs = new Float64Array(p);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++) {
      rhs[a] += (X[i * p + a] * y[i]) / n;
      for (let b = 0; b < p; b++) A[a * p + b] += (X[i * p + a] * X[i * p + b]) / n;
    }
  for (let a = 0; a < p; a++) A[a * p + a] += alpha;
  const w = solveDense(A, rhs, p);
  const dw = solveDense(A, w, p).map((x) => -x);
  const gval = new Float64Array(p);
  let F = 0;
  for (let i = 0; i < nv; i++) {
    let r = -yv[i];
    for (let a = 0; a < p; a++) r += Xv[i * p + a] * w[a];
    F += (0.5 * r * r) / nv;
    for (let a = 0; a < p; a++) gval[a] += (r * Xv[i * p + a]) / nv;
  }
  return { w, F, dF: dot(gval, dw) };
}

// ---- CG on dense operators ----

/** A CG solver for a dense symmetric matrix (via the backend's matmul). */
function denseCg(backend: Backend, A: Float64Array, n: number) {
  const Ab = backend.createBuffer(n * n, 'A');
  backend.write(Ab, A);
  const b = backend.createBuffer(n, 'b');
  const x = backend.createBuffer(n, 'x');
  const op = {
    n,
    ops: (inp: Buf, out: Buf) => [backend.matmul({ m: n, n: 1, k: n, a: Ab, b: inp, c: out })],
  };
  const cg = new ConjugateGradient(backend, op, b, x);
  return { b, x, cg, destroy: () => [Ab, b, x].forEach((q) => backend.destroyBuffer(q)) };
}

/** Q·diag(eig)·Qᵀ with Q from Householder reflections of seeded random vectors. */
function spectrumMatrix(eig: number[], seed: number): Float64Array {
  const n = eig.length;
  const M = new Float64Array(n * n);
  for (let i = 0; i < n; i++) M[i * n + i] = eig[i];
  for (let h = 0; h < 3; h++) {
    const v = randomArray(n, seed + h);
    const vv = dot(v, v);
    // M ← (I − 2vvᵀ/vᵀv) M (I − 2vvᵀ/vᵀv)
    for (const side of [0, 1]) {
      const out = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) {
            const P = (a: number, b: number) => (a === b ? 1 : 0) - (2 * v[a] * v[b]) / vv;
            s += side === 0 ? P(i, k) * M[k * n + j] : M[i * n + k] * P(k, j);
          }
          out[i * n + j] = s;
        }
      M.set(out);
    }
  }
  return M;
}

describe('conjugate gradient', () => {
  it('SPD system with condition number 1e4 matches a dense solve', async () => {
    const n = 40;
    const eig = Array.from({ length: n }, (_, i) => 10 ** ((4 * i) / (n - 1)));
    const A = spectrumMatrix(eig, 7);
    const bh = randomArray(n, 3);
    const exact = solveDense(A, bh, n);
    for (const [name, backend] of both()) {
      const s = denseCg(backend, A, n);
      backend.write(s.b, bh);
      const r = await s.cg.solve({ rtol: backend.eps < 1e-10 ? 1e-12 : 1e-6, maxIter: 400 });
      const x = await backend.read(s.x);
      expect(r.status).toBe('converged');
      // Forward error ≤ κ·(relative residual): 1e4·1e-12 on f64. On f32 the
      // recursive residual reaches 1e-6, but the true one is limited by the
      // matvec's rounding, ≈ n·u·‖A‖‖x‖, so the error is ≲ κ·(1e-6 + n·u) ≈ 3e-2.
      const bound = name === 'cpu' ? 1e4 * 1e-12 * 10 : 1e4 * (1e-6 + n * U32);
      expect(norm(x.map((v, i) => v - exact[i])) / norm(exact)).toBeLessThan(bound);
      // One submit (with its state readback) per `checkEvery` = 8 iterations,
      // the set-up riding on the first, plus one to scale x back.
      expect(r.readbacks).toBeLessThanOrEqual(Math.ceil(r.iterations / 8) + 1);
      expect(r.submits).toBe(r.readbacks + 1);
      s.cg.destroy();
      s.destroy();
    }
  });

  it('a warm start at the exact solution takes 0 iterations; elsewhere it gives the cold answer', async () => {
    const n = 12;
    const A = spectrumMatrix(
      Array.from({ length: n }, (_, i) => 1 + i),
      9,
    );
    const xs = randomArray(n, 4);
    const bh = Float64Array.from({ length: n }, (_, i) => dot(A.subarray(i * n, i * n + n), xs));
    const s = denseCg(cpu, A, n);
    cpu.write(s.b, bh);
    cpu.write(s.x, xs);
    const warm = await s.cg.solve({ warmStart: true, rtol: 1e-10 });
    expect(warm.iterations).toBe(0);
    expect(warm.status).toBe('converged');
    expectAllClose(await cpu.read(s.x), xs, { atol: 1e-14 });
    cpu.write(s.x, randomArray(n, 99));
    await s.cg.solve({ warmStart: true, rtol: 1e-12 });
    expectAllClose(await cpu.read(s.x), xs, { atol: 1e-10, label: 'warm from elsewhere' });
    s.cg.destroy();
    s.destroy();
  });

  it('an indefinite operator stops on negative curvature with a finite result', async () => {
    const n = 10;
    const A = spectrumMatrix([-3, -1, 0.5, 1, 2, 3, 4, 5, 6, 7], 13);
    for (const [, backend] of both()) {
      const s = denseCg(backend, A, n);
      backend.write(s.b, randomArray(n, 5));
      const r = await s.cg.solve({ rtol: 1e-8 });
      expect(r.status).toBe('negative_curvature');
      expect(r.converged).toBe(false);
      expect((await backend.read(s.x)).every(Number.isFinite)).toBe(true);
      // With a trust region the step goes to the boundary instead.
      const t = await s.cg.solve({ rtol: 1e-8, radius: 0.5 });
      expect(['negative_curvature', 'boundary']).toContain(t.status);
      const x = await backend.read(s.x);
      expect(Math.abs(norm(x) - 0.5)).toBeLessThan(backend.eps < 1e-10 ? 1e-12 : 1e-5);
      s.cg.destroy();
      s.destroy();
    }
  });

  it('a singular ridge (n < p, α = 1e-12) gives a finite answer and says how well CG converged', async () => {
    const n = 5;
    const p = 20;
    const X = randomArray(n * p, 21);
    const y = randomArray(n, 22);
    for (const [, backend] of both()) {
      const prob = new HyperProblem(backend, {
        model: { sizes: [p, 1], bias: false },
        train: { X, y, n },
        val: { X, y, n },
        alpha: 1e-12,
        nugget: 0,
        weights: new Float64Array(p),
      });
      const r = await prob.hypergradient({
        fit: { method: 'newton', maxIter: 20 },
        cg: { maxIter: 60 },
      });
      expect(r.hypergradient.every(Number.isFinite)).toBe(true);
      expect(Number.isFinite(r.cg.relativeResidual)).toBe(true);
      expect(['converged', 'max_iter', 'negative_curvature']).toContain(r.cg.status);
      if (!r.cg.converged) expect(r.valid).toBe(false);
      prob.destroy();
    }
  });
});

describe('hypergradient against the reference cases', () => {
  const cases = [
    ['A', caseA, { sizes: [10, 1], bias: false }],
    ['B', caseB, { sizes: [10, 64, 64, 1] }],
  ] as const;
  for (const [label, c, model] of cases)
    for (const variant of ['plain', 'penalised'] as const)
      it(`case ${label}, val_${variant}, both backends, at the stored ω*`, async () => {
        const d = refData(c);
        for (const inst of c.instances) {
          if ('valid_smooth_local_minimum' in inst && !inst.valid_smooth_local_minimum) continue;
          const res = inst.results[`val_${variant}`];
          for (const [name, backend] of both()) {
            const prob = new HyperProblem(backend, {
              model,
              train: { X: d.Xtr, y: d.ytr, n: d.ntr },
              val: { X: d.Xval, y: d.yval, n: d.nval },
              alpha: inst.alpha,
              weights: inst.w_star,
              validation: variant,
            });
            const r = await prob.hypergradient({ fit: false });
            const err = relErr(r.hypergradient[0], res.hypergradient);
            // f64: CG to 1e-10 relative residual on H + cI, whose condition
            // number the file records (cond ≤ 1e7): error ≲ 1e-10·κ... but the
            // hyper-side right-hand side m∘w lies in H's range, where the
            // condition is λ_max/λ_min⁺; measured ≤ 2e-11.
            // f32: HVP rounding ≈ k·u·‖H‖‖p‖ with k ≤ 64 and CG's rtol 1e-6
            // give |δF'| ≲ ‖b‖·(1e-6·‖m∘w‖ + 64·u·λ_max·‖p‖)/λ_min⁺; with the
            // file's λ_max/λ_min⁺ this is ≤ 2e-4 relative. Measured: ≤ 3e-7 (A),
            // 4e-8 (B).
            const bound = name === 'cpu' ? 1e-9 : 2e-4;
            expect(err, `${name} α=${inst.alpha}`).toBeLessThan(bound);
            expect(r.cg.converged).toBe(true);
            prob.destroy();
          }
        }
      });

  it('case B α = 0.01 (not a smooth minimum) is flagged, not returned as a confident value', async () => {
    const d = refData(caseB);
    const inst = caseB.instances[1];
    const prob = new HyperProblem(cpu, {
      model: { sizes: [10, 64, 64, 1] },
      train: { X: d.Xtr, y: d.ytr, n: d.ntr },
      val: { X: d.Xval, y: d.yval, n: d.nval },
      alpha: inst.alpha,
      weights: inst.w_star,
      solve: 'validation',
    });
    const r = await prob.hypergradient({ fit: false });
    expect(r.valid).toBe(false);
    expect(r.cg.status).toBe('negative_curvature');
    expect(r.warnings.join(' ')).toMatch(/negative curvature/);
    prob.destroy();
  });

  it('both sides of the linear system agree in float64', async () => {
    const d = refData(caseB);
    const inst = caseB.instances[0];
    const vals = [];
    for (const solve of ['validation', 'hyper'] as const) {
      const prob = new HyperProblem(cpu, {
        model: { sizes: [10, 64, 64, 1] },
        train: { X: d.Xtr, y: d.ytr, n: d.ntr },
        val: { X: d.Xval, y: d.yval, n: d.nval },
        alpha: inst.alpha,
        weights: inst.w_star,
        solve,
      });
      vals.push((await prob.hypergradient({ fit: false })).hypergradient[0]);
      prob.destroy();
    }
    expect(relErr(vals[0], vals[1])).toBeLessThan(1e-9);
  });
});

describe('ridge closed form and finite differences', () => {
  it('hypergradient with the inner fit matches the closed form at several α', async () => {
    const d = refData(caseA);
    const yv = Float64Array.from(trajectory.A2_noisy.y_val);
    const ytr = Float64Array.from(trajectory.A2_noisy.y_train);
    for (const alpha of [1e-3, 0.1, 10]) {
      const ref = ridge(d.Xtr, ytr, d.ntr, 10, alpha, d.Xval, yv, d.nval);
      for (const [name, backend] of both()) {
        const prob = new HyperProblem(backend, {
          model: { sizes: [10, 1], bias: false },
          train: { X: d.Xtr, y: ytr, n: d.ntr },
          val: { X: d.Xval, y: yv, n: d.nval },
          alpha,
          nugget: 0,
          weights: new Float64Array(10),
        });
        const r = await prob.hypergradient({
          fit: { method: 'newton', gtol: name === 'cpu' ? 1e-13 : 1e-6 },
        });
        expectAllClose(await prob.getWeights(), ref.w, {
          atol: name === 'cpu' ? 1e-12 : 1e-5,
          label: `w* α=${alpha}`,
        });
        // f32: w* to ~1e-6 relative (gradient tolerance × condition ≈ 1e-6·1e2
        // for α = 1e-3) propagates to dF/dα at the same order: 1e-3 bound.
        expect(relErr(r.hypergradient[0], ref.dF), `${name} α=${alpha}`).toBeLessThan(
          name === 'cpu' ? 1e-9 : 1e-3,
        );
        prob.destroy();
      }
    }
  });

  it('finite differences of F agree with the implicit hypergradient (linear, and the MLP of case B)', async () => {
    const d = refData(caseA);
    const ytr = Float64Array.from(trajectory.A2_noisy.y_train);
    const yv = Float64Array.from(trajectory.A2_noisy.y_val);
    for (const [name, backend] of both()) {
      const prob = new HyperProblem(backend, {
        model: { sizes: [10, 1], bias: false },
        train: { X: d.Xtr, y: ytr, n: d.ntr },
        val: { X: d.Xval, y: yv, n: d.nval },
        alpha: 0.05,
        nugget: 0,
      });
      const r = await finiteDifferenceCheck(prob, { fit: { method: 'newton' } });
      // f64, h = 1e-4·α: truncation h²F'''/6 ≈ 1e-9 relative. f32, h = 1e-2·α:
      // truncation ≈ 1e-5 and F's rounding u·F/(h·F') ≈ 1e-4.
      expect(r.relativeError, name).toBeLessThan(name === 'cpu' ? 1e-7 : 2e-3);
      prob.destroy();
    }
    // The MLP of case B at α = 1 from the stored ω* (a smooth minimum): the
    // re-solves move ω* by O(h), staying on the same linear pieces.
    const b = refData(caseB);
    const prob = new HyperProblem(cpu, {
      model: { sizes: [10, 64, 64, 1] },
      train: { X: b.Xtr, y: b.ytr, n: b.ntr },
      val: { X: b.Xval, y: b.yval, n: b.nval },
      alpha: 1,
      weights: caseB.instances[0].w_star,
      nugget: 0,
    });
    const r = await finiteDifferenceCheck(prob, { hRel: 1e-4, fit: { method: 'newton' } });
    // The reference records rel(pinv, FD) = 4.4e-10 for this case: the
    // nugget-free implicit value against a central difference at h = 1e-4.
    expect(r.relativeError).toBeLessThan(1e-8);
    prob.destroy();
  });
});

/** A 10 → 8 → 1 tanh network on case B's data at α = 0.05. */
function smallTanhOptions() {
  const b = refData(caseB);
  return {
    model: { sizes: [10, 8, 1], activation: 'tanh' as const },
    train: { X: b.Xtr, y: b.ytr, n: b.ntr },
    val: { X: b.Xval, y: b.yval, n: b.nval },
    alpha: 0.05,
    seed: 3,
  };
}

const smallTanhProblem = () => new HyperProblem(cpu, smallTanhOptions());

describe('finite-difference check with a float64 oracle', () => {
  it('refines a loose f32 fit in float64; the f32 hypergradient there matches the float64 difference', async () => {
    const options = {
      ...smallTanhOptions(),
      // The default nugget c = 1e-6 biases the implicit value by about
      // c / (the Hessian's small eigenvalues): measured 3.3e-4 relative here
      // in float64 at ‖∇‖ 1e-13, stable over h = 1e-2…1e-4, 1.1e-7 with c = 0.
      nugget: 1e-9,
    };
    const prob = new HyperProblem(gpu, options);
    const oracle = new HyperProblem(cpu, options);
    // A deliberately loose f32 fit, as a capped HOAG step leaves it.
    const loose = await prob.fit({ method: 'lbfgs', maxIter: 15 });
    expect(loose.converged).toBe(false);
    const r = await finiteDifferenceCheck(prob, { oracle, fit: { method: 'newton' } });
    expect(r.differencedOn).toBe('oracle');
    expect(r.h).toBeCloseTo(1e-3 * 0.05, 15);
    for (const f of [r.fits.at, r.fits.minus, r.fits.plus]) expect(f.converged).toBe(true);
    // float64 CG (rtol 1e-10) may use its n = 97 iterations on this nearly
    // singular system (nugget 1e-9); it still gets far below f32's 1e-4.
    expect(r.oracleCg!.relativeResidual).toBeLessThan(1e-8);
    // f64 implicit vs f64 central difference at h = 1e-3·α: truncation ~1e-7,
    // re-solves to 1e-8 of the starting gradient: same order.
    expect(relErr(r.oracleHypergradient!, r.finiteDifference)).toBeLessThan(1e-5);
    // The f32 hypergradient at the float64 ω*: f32 CG stalls near a relative
    // residual of 1e-4 on this system (97 iterations, its size, with
    // eigenvalues down to ~3e-3); measured 1.3e-4 against float64 at c = 0.
    expect(r.relativeError).toBeLessThan(1e-3);
    // The loose fit's own value is far off: the refinement is what the check rests on.
    expect(relErr(r.hypergradientBeforeRefit!, r.finiteDifference)).toBeGreaterThan(
      10 * r.relativeError,
    );
    // The problem keeps λ and the refined ω*.
    expect(prob.lambda).toEqual([0.05]);
    expectAllClose(await prob.getWeights(), await oracle.getWeights(), { rtol: 1e-6, atol: 1e-7 });
    prob.destroy();
    oracle.destroy();
  });

  it("'auto' fits count L-BFGS and Newton iterations against one maxIter", async () => {
    const prob = smallTanhProblem();
    for (const maxIter of [5, 40]) {
      prob.setWeights(new Float64Array(prob.mlp.nParams).fill(0.1));
      const f = await prob.fit({ method: 'auto', gtol: 1e-12, maxIter });
      expect(f.iterations, `maxIter ${maxIter}`).toBeLessThanOrEqual(maxIter);
      if (maxIter === 5) expect(f.status).toBe('max_iter');
    }
    // A check whose re-solves are cut short says so in its result.
    prob.setWeights(new Float64Array(prob.mlp.nParams).fill(0.1));
    const r = await finiteDifferenceCheck(prob, { fit: { method: 'lbfgs', maxIter: 2 } });
    expect(r.fits.at).toMatchObject({ status: 'max_iter', converged: false, iterations: 2 });
    expect(r.fits.plus.converged && r.fits.minus.converged).toBe(false);
    prob.destroy();
  });

  it('L-BFGS with stallIter stops once the best ‖∇‖ has not halved over the window', async () => {
    const prob = smallTanhProblem();
    const w = 10;
    // gtol 0 never converges: only the window (at the rounding floor, if not
    // before) or maxIter stops it.
    const g: number[] = [];
    const f = await prob.fit({
      method: 'lbfgs',
      gtol: 0,
      maxIter: 5000,
      stallIter: w,
      onProgress: (p) => g.push(p.gradNorm),
    });
    expect(f.status).toBe('stalled');
    expect(f.iterations).toBeLessThan(5000);
    const bestUpTo = (k: number) => Math.min(f.initialGradNorm, ...g.slice(0, k));
    const k = f.iterations;
    expect(bestUpTo(k)).toBeGreaterThan(0.5 * bestUpTo(k - w));
    // ... and it had not stopped earlier: every earlier window halved it.
    for (let j = w; j < k; j++)
      expect(bestUpTo(j), `iteration ${j}`).toBeLessThanOrEqual(0.5 * bestUpTo(j - w));
    // 'auto' goes on from a stalled L-BFGS phase with Newton to a tight target.
    prob.setWeights(new Float64Array(prob.mlp.nParams).fill(0.1));
    const a = await prob.fit({ method: 'auto', gtol: 1e-10, maxIter: 1000, stallIter: 3 });
    expect(a.status).toBe('converged');
    expect(a.gradNorm).toBeLessThanOrEqual(1e-10 * a.initialGradNorm);
    prob.destroy();
  });
});

describe('HOAG outer loop', () => {
  const d = refData(caseA);
  const A2 = trajectory.A2_noisy;
  const alphaStar = A2.optimum.val_plain.optimal_alpha;
  for (const alpha0 of [1, 1e-3])
    it(`A2 (noisy ridge, val_plain) reaches α* ≈ 1.636e-3 within 1% from α = ${alpha0}`, async () => {
      for (const [name, backend] of both()) {
        const prob = new HyperProblem(backend, {
          model: { sizes: [10, 1], bias: false },
          train: { X: d.Xtr, y: Float64Array.from(A2.y_train), n: d.ntr },
          val: { X: d.Xval, y: Float64Array.from(A2.y_val), n: d.nval },
          alpha: alpha0,
          weights: new Float64Array(10),
        });
        const r = await hoag(prob, { steps: 60, fit: { method: 'newton' } });
        expect(
          relErr(r.lambda[0], alphaStar),
          `${name}: α = ${r.lambda[0]} after ${r.history.length} steps`,
        ).toBeLessThan(0.01);
        expect(r.value).toBeLessThanOrEqual(r.initialValue);
        expect(r.history.every((h) => Number.isFinite(h.value))).toBe(true);
        prob.destroy();
      }
    });

  it('case A (optimum α = 0) drives α to its lower bound and says so, with no NaN', async () => {
    const prob = new HyperProblem(cpu, {
      model: { sizes: [10, 1], bias: false },
      train: { X: d.Xtr, y: d.ytr, n: d.ntr },
      val: { X: d.Xval, y: d.yval, n: d.nval },
      alpha: 1,
      weights: new Float64Array(10),
    });
    let readbacks = 0;
    const r = await hoag(prob, {
      steps: 80,
      lambdaMin: 1e-8,
      fit: { method: 'newton' },
      onCgProgress: (p) => {
        readbacks++;
        expect(Number.isFinite(p.relativeResidual)).toBe(true);
      },
    });
    // Every outer step solves CG at least once and reports each readback.
    expect(readbacks).toBeGreaterThanOrEqual(r.history.length);
    expect(r.atLowerBound[0]).toBe(true);
    expect(r.lambda[0]).toBeCloseTo(1e-8, 15);
    expect(r.warnings.join(' ')).toMatch(/lower bound/);
    expect(
      r.history.every((h) => Number.isFinite(h.value) && h.hypergradient.every(Number.isFinite)),
    ).toBe(true);
    prob.destroy();
  });
});
