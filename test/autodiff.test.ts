// Gradients and forward-over-reverse Hessian-vector products of the MLP
// objective: float64 against finite differences, f32 GPU against float64,
// symmetry, the closed form of the mixed product, a dense Hessian of a tiny
// network, and the reference cases.

import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/types.js';
import { Mlp, type MlpSpec } from '../src/model/mlp.js';
import { Objective } from '../src/model/objective.js';
import { expectAllClose } from './helpers/allclose.js';
import { getBackends, randomArray } from './helpers/backends.js';
import { caseA, caseB, hvpCheckVector, refData } from './helpers/reference.js';

const U32 = 2 ** -24;

/** An objective with its buffers, evaluated on the given backend. */
async function evaluate(
  backend: Backend,
  spec: MlpSpec,
  w: Float64Array,
  lambda: number[],
  data: { X: Float64Array; y: Float64Array; n: number },
  v?: Float64Array,
  penalty: 'scalar' | 'perLayer' = 'scalar',
) {
  const mlp = new Mlp(spec);
  const params = backend.createBuffer(mlp.nParams);
  const hyper = backend.createBuffer(lambda.length);
  backend.write(params, w);
  backend.write(hyper, lambda);
  const obj = new Objective(backend, mlp, params, hyper, data, { penalised: true, penalty });
  backend.run(obj.gradientOps);
  const out: {
    value: number;
    grad: Float64Array;
    hyperGrad: Float64Array;
    hv?: Float64Array;
    mixed?: Float64Array;
  } = {
    value: (await backend.read(obj.value))[0],
    grad: await backend.read(obj.grad),
    hyperGrad: await backend.read(obj.hyperGrad),
  };
  if (v) {
    const vb = backend.createBuffer(mlp.nParams);
    const hv = backend.createBuffer(mlp.nParams);
    const mixed = backend.createBuffer(lambda.length);
    backend.write(vb, v);
    backend.run(obj.hvpOps(vb, hv, mixed));
    out.hv = await backend.read(hv);
    out.mixed = await backend.read(mixed);
    for (const b of [vb, hv, mixed]) backend.destroyBuffer(b);
  }
  obj.destroy();
  backend.destroyBuffer(params);
  backend.destroyBuffer(hyper);
  return out;
}

function randomProblem(spec: MlpSpec, n: number, seed: number) {
  const mlp = new Mlp(spec);
  return {
    mlp,
    w: randomArray(mlp.nParams, seed, -0.8, 0.8),
    v: randomArray(mlp.nParams, seed + 1),
    u: randomArray(mlp.nParams, seed + 2),
    data: {
      X: randomArray(n * mlp.inputs, seed + 3, -2, 2),
      y: randomArray(n * mlp.outputs, seed + 4),
      n,
    },
  };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const normInf = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));

const SPECS: [string, MlpSpec][] = [
  ['leaky_relu', { sizes: [3, 5, 4, 2], activation: 'leaky_relu' }],
  ['tanh', { sizes: [3, 5, 4, 2], activation: 'tanh' }],
];

let cpu: Backend;
let gpu: Backend;
beforeAll(async () => {
  ({ cpu, gpu } = await getBackends());
});

describe('float64 CPU backend against finite differences', () => {
  for (const [name, spec] of SPECS) {
    it(`gradient and HVP, ${name}`, async () => {
      const { w, v, data } = randomProblem(spec, 7, 11);
      const lambda = [0.3];
      const base = await evaluate(cpu, spec, w, lambda, data, v);
      // Central differences: truncation h²·|f'''|/6 and rounding ε·|f|/h;
      // with h = 1e-5 both are ~1e-10 relative to the O(1) values here, so
      // 1e-7 relative leaves a thousandfold margin.
      const h = 1e-5;
      const fdGrad = new Float64Array(w.length);
      for (let i = 0; i < w.length; i++) {
        const wp = w.slice();
        const wm = w.slice();
        wp[i] += h;
        wm[i] -= h;
        const fp = (await evaluate(cpu, spec, wp, lambda, data)).value;
        const fm = (await evaluate(cpu, spec, wm, lambda, data)).value;
        fdGrad[i] = (fp - fm) / (2 * h);
      }
      expectAllClose(base.grad, fdGrad, { atol: 1e-7 * normInf(fdGrad), label: 'gradient vs FD' });
      // HVP against central differences of the gradient along v: same
      // orders (the gradient is C² away from LeakyReLU kinks, which these
      // random points are far from at h = 1e-5).
      const gp = await evaluate(
        cpu,
        spec,
        w.map((x, i) => x + h * v[i]),
        lambda,
        data,
      );
      const gm = await evaluate(
        cpu,
        spec,
        w.map((x, i) => x - h * v[i]),
        lambda,
        data,
      );
      const fdHv = gp.grad.map((g, i) => (g - gm.grad[i]) / (2 * h));
      expectAllClose(base.hv!, fdHv, { atol: 1e-7 * normInf(fdHv), label: 'HVP vs FD' });
      // Mixed product against differences of ⟨∇_ω L, v⟩ in λ.
      const lp = await evaluate(cpu, spec, w, [lambda[0] + h], data);
      const lm = await evaluate(cpu, spec, w, [lambda[0] - h], data);
      const fdMixed = (dot(lp.grad, v) - dot(lm.grad, v)) / (2 * h);
      expect(Math.abs(base.mixed![0] - fdMixed)).toBeLessThan(1e-7 * Math.abs(fdMixed));
    });
  }
});

describe('f32 GPU against float64 CPU on fresh random models', () => {
  for (const [name, spec] of SPECS) {
    it(`gradient, HVP, mixed product, symmetry: ${name}`, async () => {
      const { w, v, u, data } = randomProblem({ ...spec, sizes: [6, 16, 12, 2] }, 37, 21);
      const lambda = [0.05, 0.2, 0.7];
      const specPL = { ...spec, sizes: [6, 16, 12, 2] };
      // The oracle runs on the f32-rounded inputs the GPU actually holds, so
      // only the kernels' own rounding remains.
      const r32 = (a: Float64Array) => a.map(Math.fround);
      const dataR = { X: r32(data.X), y: r32(data.y), n: data.n };
      const c = await evaluate(cpu, specPL, r32(w), lambda, dataR, r32(v), 'perLayer');
      const g = await evaluate(gpu, specPL, w, lambda, data, v, 'perLayer');
      // Error model: each output is a chain of ≤ 2·depth + 2 = 8 f32 stages
      // (matmuls with inner dimension ≤ k = 37 rows, element-wise products,
      // tanh with a few ulp), each adding ≤ γ_k·(sum of |terms|). With
      // O(1) data and weights, |terms| sums stay within a few times the
      // largest output, so 8·k·u·max|output| (≈ 1.8e-5 relative) bounds the
      // difference; the measured error is about 1e-6.
      const tol = (ref: Float64Array) => 8 * 37 * U32 * normInf(ref);
      expectAllClose(g.grad, c.grad, { atol: tol(c.grad), label: 'gradient' });
      expectAllClose(g.hv!, c.hv!, { atol: tol(c.hv!), label: 'HVP' });
      expectAllClose(g.mixed!, c.mixed!, { atol: tol(c.mixed!), label: 'mixed' });
      expect(Math.abs(g.value - c.value)).toBeLessThan(8 * 37 * U32 * Math.abs(c.value));
      // Symmetry ⟨u, Hv⟩ = ⟨v, Hu⟩ on both backends (f64: rounding only).
      for (const [backend, bound] of [
        [cpu, 1e-12],
        [gpu, 1e-4],
      ] as const) {
        const hv = (await evaluate(backend, specPL, w, lambda, data, v, 'perLayer')).hv!;
        const hu = (await evaluate(backend, specPL, w, lambda, data, u, 'perLayer')).hv!;
        const [a, b] = [dot(u, hv), dot(v, hu)];
        expect(Math.abs(a - b) / Math.max(Math.abs(a), normInf(hv))).toBeLessThan(bound);
      }
    });
  }

  it('mixed product equals its closed form ⟨W_l, v_W_l⟩ per layer on both backends', async () => {
    const spec: MlpSpec = { sizes: [4, 8, 3, 1], activation: 'tanh' };
    const { mlp, w, v, data } = randomProblem(spec, 9, 5);
    for (const backend of [cpu, gpu]) {
      const r = await evaluate(backend, spec, w, [0.1, 0.2, 0.3], data, v, 'perLayer');
      const closed = [0, 1, 2].map((l) => {
        const b = mlp.weightBlock(l);
        return dot(
          w.subarray(b.offset, b.offset + b.size),
          v.subarray(b.offset, b.offset + b.size),
        );
      });
      // f32: a dot of ≤ 32 products of O(1) numbers, tree-summed: error ≤ 32·u·Σ|w·v| ≤ 32·u·32.
      expectAllClose(r.mixed!, closed, {
        atol: backend.eps < 1e-10 ? 1e-14 : 32 * 32 * U32,
        label: 'mixed',
      });
    }
  });
});

describe('dense Hessian of a tiny network from HVPs', () => {
  it('3→4→1: symmetric, and matches finite differences of the gradient', async () => {
    const spec: MlpSpec = { sizes: [3, 4, 1], activation: 'tanh' };
    const { mlp, w, data } = randomProblem(spec, 6, 31);
    const P = mlp.nParams;
    const H: Float64Array[] = [];
    const Hgpu: Float64Array[] = [];
    const h = 1e-5;
    for (let j = 0; j < P; j++) {
      const e = new Float64Array(P);
      e[j] = 1;
      H.push((await evaluate(cpu, spec, w, [0.1], data, e)).hv!);
      Hgpu.push((await evaluate(gpu, spec, w, [0.1], data, e)).hv!);
      const gp = await evaluate(
        cpu,
        spec,
        w.map((x, i) => x + (i === j ? h : 0)),
        [0.1],
        data,
      );
      const gm = await evaluate(
        cpu,
        spec,
        w.map((x, i) => x - (i === j ? h : 0)),
        [0.1],
        data,
      );
      const fd = gp.grad.map((g, i) => (g - gm.grad[i]) / (2 * h));
      expectAllClose(H[j], fd, {
        atol: 1e-7 * Math.max(1, normInf(fd)),
        label: `column ${j} vs FD`,
      });
    }
    const scale = Math.max(...H.map(normInf));
    for (let i = 0; i < P; i++)
      for (let j = 0; j < i; j++) {
        expect(Math.abs(H[i][j] - H[j][i])).toBeLessThan(1e-13 * scale);
        // f32: each entry is a short chain over 6 rows: 8·6·u relative to the largest entry.
        expect(Math.abs(Hgpu[i][j] - Hgpu[j][i])).toBeLessThan(2 * 8 * 6 * U32 * scale);
        expect(Math.abs(Hgpu[i][j] - H[i][j])).toBeLessThan(8 * 6 * U32 * scale);
      }
  });
});

describe('reference cases (shared/reference, float64 PyTorch)', () => {
  it('case B: initial weights, checks at init, gradient norm and HVP at ω*', async () => {
    const d = refData(caseB);
    const spec: MlpSpec = { sizes: caseB.model.layer_sizes, activation: 'leaky_relu' };
    const mlp = new Mlp(spec);
    const init = mlp.init(100);
    expect(Array.from(init)).toEqual(caseB.initial_weights.theta_init);
    const inst = caseB.instances[0];
    const data = { X: d.Xtr, y: d.ytr, n: d.ntr };
    const c0 = await evaluate(cpu, spec, init, [inst.alpha], data);
    const ci = inst.checks_at_init;
    expect(Math.abs(c0.value - ci.L_train)).toBeLessThan(1e-12 * ci.L_train);
    expectAllClose(c0.grad.subarray(0, 8), ci.grad_first8, { atol: 1e-14 });
    const v = hvpCheckVector(mlp.nParams);
    const ws = Float64Array.from(inst.w_star);
    const c = await evaluate(cpu, spec, ws, [inst.alpha], data, v);
    // The file records ‖∇L_train(ω*)‖ = 1.6e-14; ours differs only by the
    // order of float64 summation (≈ 1e-14 absolute for these O(1) terms).
    expect(Math.hypot(...c.grad)).toBeLessThan(inst.inner_solve.grad_norm2 + 1e-13);
    expectAllClose(c.hv!.subarray(0, 16), inst.hvp_check.Hv_first16, { atol: 1e-12 });
    expect(Math.abs(dot(v, c.hv!) - inst.hvp_check.v_dot_Hv)).toBeLessThan(
      1e-10 * inst.hvp_check.v_dot_Hv,
    );
    // f32: the HVP at ω* through two 64-wide layers and 25 rows; bound
    // 8·64·u·max|Hv| (≈ 3e-5 relative), measured ≈ 1e-6.
    const g = await evaluate(gpu, spec, ws, [inst.alpha], data, v);
    expectAllClose(g.hv!, c.hv!, { atol: 8 * 64 * U32 * normInf(c.hv!), label: 'GPU Hv at ω*' });
    // The f32 gradient at ω* is rounding noise: ‖g‖ ≲ 8·64·u·(scale of the terms, ≈ ‖W‖ ≈ 10).
    expect(Math.hypot(...g.grad)).toBeLessThan(8 * 64 * U32 * 10);
  });

  it('case A: gradient norm, Hessian matrix and HVP at ω* for every α', async () => {
    const d = refData(caseA);
    const spec: MlpSpec = { sizes: [10, 1], bias: false };
    for (const inst of caseA.instances) {
      const v = hvpCheckVector(10);
      const c = await evaluate(
        cpu,
        spec,
        Float64Array.from(inst.w_star),
        [inst.alpha],
        { X: d.Xtr, y: d.ytr, n: d.ntr },
        v,
      );
      expect(Math.hypot(...c.grad)).toBeLessThan(1e-13);
      // The linear model's Hessian is XᵀX/n + αI, recorded in the file.
      const Hv = inst.hessian_matrix.map((row: number[]) => dot(row, v));
      expectAllClose(c.hv!, Hv, { atol: 1e-12, label: `Hv α=${inst.alpha}` });
    }
  });
});
