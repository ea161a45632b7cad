// The Gumbel-softmax primitive (src/model/gumbel-softmax.ts): the generator
// against Random123's known answers, the two backends drawing the same
// uniforms bit for bit, the Gumbel-max frequencies against softmax(z) by a
// chi-square test, rows summing to 1, one-hot hard samples, straight-through,
// the derivative ops against central differences (float64) and the f32 GPU
// against float64. Tolerances are rounding-error bounds derived next to each
// check, with u = 2^-24 and γ_n = n·u/(1 − n·u); WGSL allows 2.5 ulp for a
// division and 3 + 2|x| ulp for exp(x). Outputs are poisoned with NaN first.

import { afterAll, describe, expect, test } from 'vitest';
import type { Backend, Buf, Op } from '../src/backend/types.js';
import { WebGpuBackend } from '../src/backend/webgpu.js';
import { ArgumentError } from '../src/errors.js';
import {
  gumbelNoise,
  gumbelSoftmax,
  gumbelSoftmaxBackward,
  gumbelSoftmaxTangent,
  sampleGumbelSoftmax,
  type GumbelMode,
  type GumbelSoftmaxSpec,
} from '../src/model/gumbel-softmax.js';
import { gumbelNoiseAt, philox2x32, philoxUniform } from '../src/util/philox.js';
import { compareClose } from './helpers/allclose.js';
import { getBackends, poison, randomArray, roundF32 } from './helpers/backends.js';

const u = 2 ** -24;
const gamma = (n: number) => (n * u) / (1 - n * u);

/**
 * Bound on the GPU's noise: |g_gpu − g| ≤ NOISE_ULPS·u·(1 + |g|). In the WGSL
 * ln (gumbel.wgsl, lnPositive) m − 1 is exact, s = f/(2 + f) is within 3.5u
 * (one addition, a 2.5-ulp division), ln m = 2s(1 + s²p/2) within about 6u
 * (s²p/2 ≤ 0.01 damps the polynomial's own errors), and the two fma that add
 * e·ln 2 (|e·ln 2| ≥ |ln m| when e ≠ 0) bring the relative error ρ of ln to
 * under 10u. So −ln u is within ρ relative, and g = −ln(−ln u) within ρ
 * absolute from that plus ρ·|g| of its own. The measured worst case is printed.
 */
const NOISE_ULPS = 10;

/** Figures quoted in the closing notes. */
const measured: Record<string, string> = {};
afterAll(() => {
  const rows = Object.entries(measured).map(([k, v]) => `  ${k.padEnd(44)} ${v}`);
  console.log(`gumbel-softmax figures:\n${rows.join('\n')}`);
});

/** A sample to take: f32-representable logits and, if given, noise. */
interface Sample {
  rows: number;
  k: number;
  logits: Float64Array;
  tau: number;
  seed?: number;
  noise?: Float64Array;
  mode?: GumbelMode;
}

/** Runs one gumbel op on `b` with the sample's operands uploaded and `out` poisoned. */
async function runOp(
  b: Backend,
  s: Sample,
  make: (spec: GumbelSoftmaxSpec & { out: Buf }, direction?: Buf) => Op,
  direction?: Float64Array,
): Promise<Float64Array> {
  const n = s.rows * s.k;
  const made: Buf[] = [];
  const upload = (data: Float64Array | undefined, label: string) => {
    if (!data) return undefined;
    const buf = b.createBuffer(n, label);
    b.write(buf, data);
    made.push(buf);
    return buf;
  };
  const logits = upload(s.logits, 'logits')!;
  const noise = upload(s.noise, 'noise');
  const dir = upload(direction, 'direction');
  const out = b.createBuffer(n, 'out');
  made.push(out);
  poison(b, out);
  const seed = s.noise ? undefined : s.seed;
  const op = make(
    { rows: s.rows, k: s.k, tau: s.tau, mode: s.mode, seed, logits, noise, out },
    dir,
  );
  b.run([op]);
  const got = await b.read(out);
  op.destroy();
  for (const buf of made) b.destroyBuffer(buf);
  return got;
}

const forward = (b: Backend, s: Sample) => runOp(b, s, (spec) => gumbelSoftmax(b, spec));

const backward = (b: Backend, s: Sample, dy: Float64Array) =>
  runOp(b, s, (spec, dir) => gumbelSoftmaxBackward(b, { ...spec, dy: dir! }), dy);

const tangent = (b: Backend, s: Sample, zdot: Float64Array) =>
  runOp(b, s, (spec, dir) => gumbelSoftmaxTangent(b, { ...spec, zdot: dir! }), zdot);

async function drawNoise(b: Backend, rows: number, k: number, seed: number, uniform: boolean) {
  const out = b.createBuffer(rows * k, 'noise');
  poison(b, out);
  const op = gumbelNoise(b, { rows, k, seed, out, uniform });
  b.run([op]);
  const got = await b.read(out);
  op.destroy();
  b.destroyBuffer(out);
  return got;
}

/** The float64 noise of the sample: given, or the generator's. */
function noiseOf(s: Sample): Float64Array {
  if (s.noise) return s.noise;
  const g = new Float64Array(s.rows * s.k);
  for (let r = 0; r < s.rows; r++)
    for (let j = 0; j < s.k; j++) g[r * s.k + j] = gumbelNoiseAt(s.seed!, r, j);
  return g;
}

/**
 * Per-element bounds on |GPU − float64| for the soft sample y and, given v,
 * for the Jacobian product y ⊙ (v − ⟨v, y⟩)/τ, to first order:
 * - t = z + g: δt_j = (noise bound, 0 for given noise) + u|t_j|; the row
 *   maximum m is off by at most max δt.
 * - a = (t − m)/τ: δa_j = (δt_j + max δt)/τ + 3.5u|a_j| (subtraction, division).
 * - e = exp(a): relative η_j = δa_j + (3 + 2|a_j|)u.
 * - S = Σe in k − 1 additions; y_j = e_j/S: relative
 *   ε_j = η_j + Σ_i y_i η_i + γ_{k−1} + 2.5u.
 * - d = ⟨v, y⟩ in k fma: |Δd| ≤ Σ|v_i| y_i (ε_i + γ_2k); then v_j − d, the
 *   product and the division by τ add 4.5u.
 * Plus 2^-125 per element for exp's underflow (flushed to zero).
 */
function f32Bounds(s: Sample, v?: Float64Array) {
  const { rows, k, tau } = s;
  const g = noiseOf(s);
  const tolY = new Float64Array(rows * k);
  const tolJ = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const idx = (j: number) => r * k + j;
    const t = Array.from({ length: k }, (_, j) => s.logits[idx(j)] + g[idx(j)]);
    const dt = t.map(
      (tj, j) => (s.noise ? 0 : NOISE_ULPS * u * (1 + Math.abs(g[idx(j)]))) + u * Math.abs(tj),
    );
    const m = Math.max(...t);
    const dm = Math.max(...dt);
    const a = t.map((tj) => (tj - m) / tau);
    const eta = a.map(
      (aj, j) => (dt[j] + dm) / tau + 3.5 * u * Math.abs(aj) + (3 + 2 * Math.abs(aj)) * u,
    );
    const e = a.map(Math.exp);
    const sum = e.reduce((x, y) => x + y, 0);
    const y = e.map((ej) => ej / sum);
    const mean = y.reduce((acc, yi, i) => acc + yi * eta[i], 0);
    const eps = eta.map((h) => 1.01 * (h + mean + gamma(k - 1) + 2.5 * u));
    const floor = 2 ** -125;
    for (let j = 0; j < k; j++) tolY[idx(j)] = y[j] * eps[j] + floor;
    if (!v) continue;
    const vr = Array.from({ length: k }, (_, j) => v[idx(j)]);
    const d = vr.reduce((acc, vj, j) => acc + vj * y[j], 0);
    const dd = vr.reduce((acc, vj, j) => acc + Math.abs(vj) * y[j] * (eps[j] + gamma(2 * k)), 0);
    for (let j = 0; j < k; j++)
      tolJ[idx(j)] =
        (1.01 * (y[j] * Math.abs(vr[j] - d) * (eps[j] + 4.5 * u) + y[j] * dd)) / tau + floor;
  }
  return { tolY, tolJ };
}

/** Checks actual against expected within tol and records the worst error. */
function check(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number | ArrayLike<number>,
) {
  const r = compareClose(actual, expected, { atol: tol, label: name });
  expect(r.ok, r.message).toBe(true);
  let ratio = 0;
  for (let i = 0; i < actual.length; i++) {
    const t = typeof tol === 'number' ? tol : tol[i];
    ratio = Math.max(ratio, Math.abs(actual[i] - expected[i]) / t);
  }
  measured[name] =
    `max abs err ${r.maxAbsError.toExponential(2)}, ${(100 * ratio).toFixed(1)}% of tol`;
}

const argmax = (row: ArrayLike<number>) => {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
};

describe('the generator', () => {
  test('Philox2x32-10 gives Random123’s known answers', () => {
    const hex = (w: [number, number]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox2x32(0, 0, 0))).toBe('ff1dae59 6cd10df2');
    expect(hex(philox2x32(0xffffffff, 0xffffffff, 0xffffffff))).toBe('2c3f628b ab4fd7ad');
    expect(hex(philox2x32(0x243f6a88, 0x85a308d3, 0x13198a2e))).toBe('dd7ce038 f62a4c12');
  });

  test('both backends draw the same uniforms, bit for bit, and the noise within its bound', async () => {
    const { cpu, gpu } = await getBackends();
    const rows = 3001;
    const k = 7;
    for (const seed of [0, 12345, 0xffffffff]) {
      const [uc, ug] = [
        await drawNoise(cpu, rows, k, seed, true),
        await drawNoise(gpu, rows, k, seed, true),
      ];
      const differ = ug.findIndex((x, i) => !Object.is(x, uc[i]));
      expect(differ, `uniform ${differ}: gpu ${ug[differ]}, cpu ${uc[differ]}`).toBe(-1);
      expect(Math.min(...uc)).toBeGreaterThanOrEqual(u);
      expect(Math.max(...uc)).toBeLessThanOrEqual(1 - u);
      expect(uc[5 * k + 3]).toBe(philoxUniform(seed, 5, 3));

      const [gc, gg] = [
        await drawNoise(cpu, rows, k, seed, false),
        await drawNoise(gpu, rows, k, seed, false),
      ];
      check(
        `noise seed=${seed}`,
        gg,
        gc,
        gc.map((x) => NOISE_ULPS * u * (1 + Math.abs(x))),
      );
      const ulps = Math.max(...gg.map((x, i) => Math.abs(x - gc[i]) / (u * (1 + Math.abs(gc[i])))));
      measured[`noise seed=${seed}`] += `, worst ${ulps.toFixed(2)}·u·(1 + |g|)`;
    }
  });

  test('the extreme uniforms give finite noise on the GPU', async () => {
    // u = 1 − 2^-24 makes −ln u ≈ 6e-8, where the builtin log would fail;
    // pass it as given noise: g = −ln(−ln u) for the two extreme uniforms.
    const { cpu, gpu } = await getBackends();
    const g = roundF32([-Math.log(-Math.log(u)), -Math.log(-Math.log(1 - u))]);
    const s: Sample = { rows: 1, k: 2, logits: new Float64Array(2), tau: 1, noise: g };
    check('extreme noise forward', await forward(gpu, s), await forward(cpu, s), f32Bounds(s).tolY);
  });
});

describe('forward', () => {
  test('Gumbel-max frequencies match softmax(z): chi-square, α = 0.001', async () => {
    const { cpu, gpu } = await getBackends();
    const z = roundF32([0.2, -1.0, 1.3, 0.0, -0.4]);
    const k = z.length;
    const rows = 20_000;
    const s: Sample = {
      rows,
      k,
      logits: roundF32(Array.from({ length: rows }, () => [...z]).flat()),
      tau: 0,
      seed: 2024,
    };
    const p = Array.from(z, Math.exp);
    const total = p.reduce((a, b) => a + b, 0);
    // χ²_{0.999} with k − 1 = 4 degrees of freedom.
    const critical = 18.4668;
    for (const b of [cpu, gpu]) {
      const y = await forward(b, s);
      const counts = new Array<number>(k).fill(0);
      for (let r = 0; r < rows; r++) counts[argmax(y.subarray(r * k, r * k + k))]++;
      const chi2 = counts.reduce((acc, o, j) => {
        const e = (rows * p[j]) / total;
        return acc + (o - e) ** 2 / e;
      }, 0);
      measured[`chi-square (${b.kind})`] =
        `${chi2.toFixed(3)} < ${critical} (counts ${counts.join(', ')})`;
      expect(chi2).toBeLessThan(critical);
    }
  });

  test('τ = 0 gives one-hot rows; the GPU picks the CPU’s argmax but at near-ties', async () => {
    const { cpu, gpu } = await getBackends();
    const rows = 2000;
    const k = 6;
    const s: Sample = {
      rows,
      k,
      logits: roundF32(randomArray(rows * k, 7, -2, 2)),
      tau: 0,
      seed: 99,
    };
    const [yc, yg] = [await forward(cpu, s), await forward(gpu, s)];
    const g = noiseOf(s);
    let ties = 0;
    for (let r = 0; r < rows; r++) {
      const row = yg.subarray(r * k, r * k + k);
      expect(row.every((x) => x === 0 || x === 1) && row.reduce((a, b) => a + b, 0) === 1).toBe(
        true,
      );
      const [a, b] = [argmax(yc.subarray(r * k, r * k + k)), argmax(row)];
      if (a === b) continue;
      // A flip needs t_a − t_b within the two noise bounds.
      const t = (j: number) => s.logits[r * k + j] + g[r * k + j];
      const dt = (j: number) => NOISE_ULPS * u * (1 + Math.abs(g[r * k + j])) + u * Math.abs(t(j));
      expect(t(a) - t(b)).toBeLessThanOrEqual(dt(a) + dt(b));
      ties++;
    }
    measured['τ = 0 argmax flips GPU vs CPU'] = `${ties} of ${rows} rows`;
  });

  test.each([1, 0.5, 0.1])(
    'soft samples, τ = %s: rows sum to 1; GPU against float64',
    async (tau) => {
      const { cpu, gpu } = await getBackends();
      const rows = 3000;
      const k = 5;
      const s: Sample = {
        rows,
        k,
        logits: roundF32(randomArray(rows * k, 11, -3, 3)),
        tau,
        seed: 31337,
      };
      const [yc, yg] = [await forward(cpu, s), await forward(gpu, s)];
      check(`forward τ=${tau} GPU vs CPU`, yg, yc, f32Bounds(s).tolY);
      // Σ_j y_j = Σ_j fl(e_j/S̃) with S̃ = Σ e_j in k − 1 roundings: within
      // γ_{k−1} + 2.5u of 1 (the host sums the f32 values exactly enough).
      const sums = (y: Float64Array) =>
        Array.from({ length: rows }, (_, r) =>
          y.subarray(r * k, r * k + k).reduce((a, b) => a + b, 0),
        );
      check(
        `row sums τ=${tau} (GPU)`,
        sums(yg),
        new Float64Array(rows).fill(1),
        gamma(k - 1) + 2.5 * u,
      );
      check(
        `row sums τ=${tau} (CPU)`,
        sums(yc),
        new Float64Array(rows).fill(1),
        (2 * k + 2) * 2 ** -53,
      );
    },
  );

  test('given noise reproduces the seeded sample on each backend', async () => {
    const { cpu, gpu } = await getBackends();
    const rows = 257;
    const k = 4;
    const seed = 5;
    const logits = roundF32(randomArray(rows * k, 12, -2, 2));
    for (const b of [cpu, gpu]) {
      const noise = await drawNoise(b, rows, k, seed, false);
      const seeded = await forward(b, { rows, k, logits, tau: 0.7, seed });
      const given = await forward(b, { rows, k, logits, tau: 0.7, noise });
      expect(Array.from(given)).toEqual(Array.from(seeded));
    }
  });

  test('more than 65,535 workgroups (2-D grid)', async () => {
    // One-invocation workgroups put a row per workgroup.
    const { cpu } = await getBackends();
    const small = await WebGpuBackend.create({ tuning: { workgroupSize: 1 } });
    const rows = 65_536 + 3;
    const k = 2;
    expect(rows).toBeGreaterThan(small.device.limits.maxComputeWorkgroupsPerDimension);
    const s: Sample = { rows, k, logits: roundF32(randomArray(rows * k, 13)), tau: 0.5, seed: 8 };
    check('forward 2-D grid', await forward(small, s), await forward(cpu, s), f32Bounds(s).tolY);
    small.destroy();
  });

  test('sampleGumbelSoftmax on host logits', async () => {
    const { cpu, gpu } = await getBackends();
    const logits = roundF32([0.5, -0.25, 1, 2, 0, -1]);
    const opts = { tau: 0.5, seed: 3 };
    const live = gpu.stats.buffersLive;
    const [yc, yg] = [
      await sampleGumbelSoftmax(cpu, logits, 2, 3, opts),
      await sampleGumbelSoftmax(gpu, logits, 2, 3, opts),
    ];
    check('sampleGumbelSoftmax', yg, yc, f32Bounds({ rows: 2, k: 3, logits, ...opts }).tolY);
    // It frees what it made (the staging buffer of the read stays pooled).
    expect(gpu.stats.buffersLive).toBeLessThanOrEqual(live + 1);
  });
});

describe('derivatives at fixed noise', () => {
  const rows = 4;
  const k = 6;
  const tau = 0.7;
  const base: Sample = { rows, k, logits: randomArray(rows * k, 21, -1.5, 1.5), tau, seed: 77 };
  const w = randomArray(rows * k, 22);
  const zdot = randomArray(rows * k, 23);
  const shifted = (h: number, dir: Float64Array): Sample => ({
    ...base,
    logits: base.logits.map((z, i) => z + h * dir[i]),
  });

  test('float64: the backward pass matches central differences of ⟨w, y(z)⟩', async () => {
    const { cpu } = await getBackends();
    const grad = await backward(cpu, base, w);
    // Truncation h²/6·|f'''| with f''' = O(τ⁻³) ≈ 3, rounding 2^-53/h: both
    // below 1e-9 at h = 1e-5.
    const h = 1e-5;
    const fd = new Float64Array(rows * k);
    for (let i = 0; i < rows * k; i++) {
      const e = new Float64Array(rows * k);
      e[i] = 1;
      const f = async (hh: number) =>
        (await forward(cpu, shifted(hh, e))).reduce((a, y, j) => a + w[j] * y, 0);
      fd[i] = ((await f(h)) - (await f(-h))) / (2 * h);
    }
    check('backward vs central differences (f64)', grad, fd, 1e-8);
  });

  test('float64: the tangent matches central differences of y(z + hż)', async () => {
    const { cpu } = await getBackends();
    const ydot = await tangent(cpu, base, zdot);
    const h = 1e-5;
    const [yp, ym] = [await forward(cpu, shifted(h, zdot)), await forward(cpu, shifted(-h, zdot))];
    check(
      'tangent vs central differences (f64)',
      ydot,
      yp.map((y, i) => (y - ym[i]) / (2 * h)),
      1e-8,
    );
  });

  test('⟨w, J ż⟩ = ⟨Jᵀw, ż⟩ on both backends', async () => {
    const { cpu, gpu } = await getBackends();
    const s = { ...base, logits: roundF32(base.logits) };
    const [wf, zf] = [roundF32(w), roundF32(zdot)];
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Array.from(a).reduce((acc, x, i) => acc + x * b[i], 0);
    const abs = (a: ArrayLike<number>) => Array.from(a, Math.abs);
    const gap = async (b: Backend) => {
      const [t, bw] = [await tangent(b, s, zf), await backward(b, s, wf)];
      return {
        gap: Math.abs(dot(wf, t) - dot(bw, zf)),
        scale: dot(abs(wf), abs(t)) + dot(abs(bw), abs(zf)),
      };
    };
    const c = await gap(cpu);
    expect(c.gap).toBeLessThan(1e-14 * c.scale);

    // Both GPU passes use the same sample ỹ (same kernel, same noise), so
    // only their last steps differ: per row, with d_v = ⟨v, ỹ⟩ in k fma
    // (|Δd_v| ≤ γ_2k·Σ|v_i|ỹ_i), out_j = ỹ_j·(v_j − d_v)/τ within
    // 4.5u·ỹ_j|v_j − d_v|/τ + ỹ_j|Δd_v|/τ; ⟨w, ·⟩ and ⟨·, ż⟩ weight these by
    // |w_j| and |ż_j|. ỹ is taken from the CPU, within 1% of the GPU's.
    const y = await forward(cpu, s);
    let bound = 0;
    for (let r = 0; r < s.rows; r++) {
      const row = (a: Float64Array) => Array.from(a.subarray(r * s.k, (r + 1) * s.k));
      const [yr, wr, zr] = [row(y), row(wf), row(zf)];
      const err = (v: number[], weight: number[]) => {
        const d = dot(v, yr);
        const dd = gamma(2 * s.k) * dot(abs(v), yr);
        return v.reduce(
          (acc, vj, j) => acc + Math.abs(weight[j]) * yr[j] * (4.5 * u * Math.abs(vj - d) + dd),
          0,
        );
      };
      bound += (1.01 * (err(zr, wr) + err(wr, zr))) / s.tau;
    }
    const g = await gap(gpu);
    measured['adjoint gap (GPU)'] = `${g.gap.toExponential(2)} (bound ${bound.toExponential(2)})`;
    expect(g.gap).toBeLessThanOrEqual(bound);
  });

  test.each([1, 0.25])('GPU against float64, τ = %s', async (t) => {
    const { cpu, gpu } = await getBackends();
    const rows = 1000;
    const k = 7;
    const s: Sample = {
      rows,
      k,
      logits: roundF32(randomArray(rows * k, 31, -2, 2)),
      tau: t,
      seed: 4242,
    };
    const dy = roundF32(randomArray(rows * k, 32));
    check(
      `backward τ=${t} GPU vs CPU`,
      await backward(gpu, s, dy),
      await backward(cpu, s, dy),
      f32Bounds(s, dy).tolJ,
    );
    check(
      `tangent τ=${t} GPU vs CPU`,
      await tangent(gpu, s, dy),
      await tangent(cpu, s, dy),
      f32Bounds(s, dy).tolJ,
    );
  });
});

describe('straight-through', () => {
  test('forward is the hard one-hot; backward and tangent are the soft ones', async () => {
    const { cpu, gpu } = await getBackends();
    const rows = 500;
    const k = 5;
    const soft: Sample = {
      rows,
      k,
      logits: roundF32(randomArray(rows * k, 41, -2, 2)),
      tau: 0.5,
      seed: 17,
    };
    const st: Sample = { ...soft, mode: 'straight-through' };
    const hard: Sample = { ...soft, mode: 'hard' };
    const dy = roundF32(randomArray(rows * k, 42));
    for (const b of [cpu, gpu]) {
      const y = await forward(b, st);
      expect(Array.from(y)).toEqual(Array.from(await forward(b, hard)));
      // The one-hot marks the soft sample's largest entry (the softmax is monotone).
      const ys = await forward(b, soft);
      for (let r = 0; r < rows; r++)
        expect(y[r * k + argmax(ys.subarray(r * k, r * k + k))]).toBe(1);
      expect(Array.from(await backward(b, st, dy))).toEqual(
        Array.from(await backward(b, soft, dy)),
      );
      expect(Array.from(await tangent(b, st, dy))).toEqual(Array.from(await tangent(b, soft, dy)));
    }
    expect(() =>
      gumbelSoftmaxBackward(cpu, {
        rows,
        k,
        tau: 0.5,
        seed: 1,
        mode: 'hard',
        logits: cpu.createBuffer(1),
        dy: cpu.createBuffer(1),
        out: cpu.createBuffer(1),
      }),
    ).toThrow(ArgumentError);
  });
});

describe('argument checks', () => {
  test('seed, noise source, temperature and aliasing', async () => {
    const { cpu, gpu } = await getBackends();
    for (const b of [cpu, gpu]) {
      const z = b.createBuffer(6);
      const out = b.createBuffer(6);
      const base = { rows: 2, k: 3, logits: z, out };
      expect(() => gumbelSoftmax(b, { ...base, tau: 1, seed: -1 })).toThrow(ArgumentError);
      expect(() => gumbelSoftmax(b, { ...base, tau: 1, seed: 2 ** 32 })).toThrow(ArgumentError);
      expect(() => gumbelSoftmax(b, { ...base, tau: 1 })).toThrow(ArgumentError);
      expect(() => gumbelSoftmax(b, { ...base, tau: 1, seed: 1, noise: z })).toThrow(ArgumentError);
      expect(() => gumbelSoftmax(b, { ...base, tau: -1, seed: 1 })).toThrow(ArgumentError);
      expect(() => gumbelSoftmax(b, { ...base, tau: 1, seed: 1, out: z })).toThrow(ArgumentError);
      expect(() => gumbelSoftmaxBackward(b, { ...base, tau: 0, seed: 1, dy: z })).toThrow(
        ArgumentError,
      );
      b.destroyBuffer(z);
      b.destroyBuffer(out);
    }
  });
});
