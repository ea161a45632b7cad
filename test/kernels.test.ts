// Every WebGPU kernel against the float64 CPU backend on fresh seeded random
// inputs of awkward sizes (method.md, "Checks the implementation must pass":
// float64 backend). Inputs are rounded to f32 before the CPU sees them, so
// the CPU result is the exact answer for the data the GPU holds and only the
// kernel's own f32 arithmetic is measured. Each tolerance is a rounding-error
// bound derived next to it, with u = 2^-24 and γ_k = k·u/(1 − k·u); outputs
// are poisoned with NaN first, so an unwritten element fails. WGSL's fma may
// be unfused (its accuracy is "inherited from x·y + z"), so every fma counts
// as two roundings.

import { afterAll, describe, expect, test } from 'vitest';
import type { CpuBackend } from '../src/backend/cpu.js';
import {
  CG,
  CG_STATE_LENGTH,
  CgStatus,
  type Activation,
  type Backend,
  type Buf,
  type CgScalarSpec,
} from '../src/backend/types.js';
import { WebGpuBackend } from '../src/backend/webgpu.js';
import { compareClose, type CloseReport } from './helpers/allclose.js';
import { getBackends, poison, randomArray, roundF32 } from './helpers/backends.js';

const u = 2 ** -24;
const gamma = (k: number) => (k * u) / (1 - k * u);

/** Measured max relative error (max |err| / max |expected|) per kernel and size. */
const measured: Record<string, Record<string, number>> = {};

function check(
  kernel: string,
  size: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number | ArrayLike<number>,
): CloseReport {
  const r = compareClose(actual, expected, { atol, label: `${kernel} ${size}` });
  expect(r.ok, r.message).toBe(true);
  (measured[kernel] ??= {})[size] = Math.max(measured[kernel]?.[size] ?? 0, r.maxRelError);
  return r;
}

afterAll(() => {
  const rows = Object.entries(measured).flatMap(([k, sizes]) =>
    Object.entries(sizes).map(
      ([s, e]) => `  ${k.padEnd(28)} ${s.padEnd(22)} ${e.toExponential(2)}`,
    ),
  );
  console.log(`max relative error per kernel and size (vs float64):\n${rows.join('\n')}`);
});

/** The same data in a buffer of each backend; the CPU gets the f32-rounded values. */
function upload(cpu: Backend, gpu: Backend, data: ArrayLike<number>, label: string) {
  const d = roundF32(data);
  const c = cpu.createBuffer(d.length, label);
  const g = gpu.createBuffer(d.length, label);
  cpu.write(c, d);
  gpu.write(g, d);
  return { c, g, d };
}

/** Poisoned output buffers of length n on both backends. */
function outputs(cpu: Backend, gpu: Backend, n: number, label: string) {
  const c = cpu.createBuffer(n, label);
  const g = gpu.createBuffer(n, label);
  poison(cpu, c);
  poison(gpu, g);
  return { c, g };
}

async function runBoth(
  cpu: Backend,
  gpu: Backend,
  make: (b: Backend, pick: <T>(c: T, g: T) => T) => ReturnType<Backend['matmul']>,
) {
  const cop = make(cpu, (c) => c);
  const gop = make(gpu, (_c, g) => g);
  cpu.run([cop]);
  gpu.run([gop]);
  cop.destroy();
  gop.destroy();
}

describe('matmul', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 7, 7],
    [64, 64, 64],
    [257, 257, 257],
    [1, 257, 7],
    [33, 1, 65],
    [1000, 7, 64],
    [5, 1000, 17],
    [130, 300, 3],
  ];
  const largest = [513, 300, 257] as [number, number, number];
  const cases = [
    ...shapes.flatMap((s) =>
      [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ].map(([ta, tb]) => ({ shape: s, ta, tb, bias: false, acc: false, alpha: 1 })),
    ),
    ...shapes.map((s, i) => ({
      shape: s,
      ta: i % 2 === 1,
      tb: i % 3 === 1,
      bias: true,
      acc: false,
      alpha: -0.75,
    })),
    ...shapes.map((s, i) => ({
      shape: s,
      ta: i % 3 === 2,
      tb: i % 2 === 0,
      bias: i % 2 === 0,
      acc: true,
      alpha: 1.5,
    })),
    { shape: largest, ta: false, tb: true, bias: true, acc: false, alpha: 1 },
  ];

  test.each(cases)('$shape transA=$ta transB=$tb bias=$bias accumulate=$acc', async (cs) => {
    const { cpu, gpu } = await getBackends();
    const [m, n, k] = cs.shape;
    const seed = m * 1_000_003 + n * 1009 + k * 7 + (cs.ta ? 1 : 0) + (cs.tb ? 2 : 0);
    // Operands at odd element offsets inside larger buffers, as parameter
    // blocks inside one flat buffer; C lies in the same buffer as A and B
    // when accumulating, which binds one buffer for three operands.
    const ao = 3;
    const bo = ao + m * k + 5;
    const bio = 1;
    const flat = upload(cpu, gpu, randomArray(bo + k * n + 2, seed), 'flat');
    const bias = upload(cpu, gpu, randomArray(n + 4, seed + 1), 'bias');
    const co = cs.acc ? bo + k * n + 2 + 7 : 6;
    const cInit = randomArray(co + m * n + 9, seed + 2);
    let C: { c: Buf; g: Buf };
    if (cs.acc) {
      // Accumulate into a region of the flat buffer, after A and B.
      const all = roundF32([...flat.d, ...cInit.slice(flat.d.length)]);
      const c = cpu.createBuffer(all.length, 'flat+C');
      const g = gpu.createBuffer(all.length, 'flat+C');
      cpu.write(c, all);
      gpu.write(g, all);
      C = { c, g };
    } else {
      C = outputs(cpu, gpu, co + m * n + 9, 'C');
    }
    const A = cs.acc ? C : flat;
    const spec = (pick: <T>(c: T, g: T) => T) => ({
      m,
      n,
      k,
      a: pick(A.c, A.g),
      aOffset: ao,
      transA: cs.ta,
      b: pick(A.c, A.g),
      bOffset: bo,
      transB: cs.tb,
      c: pick(C.c, C.g),
      cOffset: co,
      bias: cs.bias ? pick(bias.c, bias.g) : undefined,
      biasOffset: bio,
      accumulate: cs.acc,
      alpha: cs.alpha,
    });
    const before = await cpu.read(C.c);
    await runBoth(cpu, gpu, (b, pick) => b.matmul(spec(pick)));
    const got = await gpu.read(C.g);
    const want = await cpu.read(C.c);

    // Bound: fl(alpha·Σ_p a_ip·b_pj + bias_j (+ C_ij)) with k fma steps and up
    // to three more roundings: γ_{k+3}·(|alpha|·Σ_p |a_ip||b_pj| + |bias_j| + |C_ij|).
    const opA = (i: number, p: number) => flat.d[ao + (cs.ta ? p * m + i : i * k + p)];
    const opB = (p: number, j: number) => flat.d[bo + (cs.tb ? j * k + p : p * n + j)];
    const tol = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += Math.abs(opA(i, p) * opB(p, j));
        const extra =
          (cs.bias ? Math.abs(bias.d[bio + j]) : 0) +
          (cs.acc ? Math.abs(before[co + i * n + j]) : 0);
        tol[i * n + j] = gamma(k + 3) * (Math.abs(cs.alpha) * s + extra);
      }
    const size = m === 257 && n === 257 ? 'n=257' : m === largest[0] ? `${m}x${n}x${k}` : 'other';
    check('matmul', size, got.subarray(co, co + m * n), want.subarray(co, co + m * n), tol);
    // Nothing outside C was written (poisoned elements stay NaN; with
    // accumulate, A and B and the tail keep their values).
    const outside = [...got.subarray(0, co), ...got.subarray(co + m * n)];
    const wantOutside = [...before.subarray(0, co), ...before.subarray(co + m * n)];
    expect(outside.every((v, i) => Object.is(v, wantOutside[i]) || v === wantOutside[i])).toBe(
      true,
    );
  });
});

describe('activation', () => {
  const acts: Activation[] = [
    { kind: 'leaky_relu', slope: Math.fround(0.01) },
    { kind: 'tanh' },
    { kind: 'identity' },
  ];
  const sizes = [1, 7, 255, 256, 257, 100_003];

  // f32 bound on exp(x) relative to its value, from the WGSL spec's accuracy
  // of 3 + 2|x| ulp; an ulp is at most 2u relative.
  const epsExp = (x: number) => (3 + 2 * Math.abs(x)) * 2 * u;

  /**
   * Bounds on the relative errors of σ and σ' at z, as computed in
   * activation.wgsl. tanh: t = (1 − e)/(1 + e) with e = exp(−2|z|) has
   * relative error ≤ 2·ε_exp + 3u (the factors e/(1 ∓ e) ≤ 1 for |z| ≥ 1/2),
   * and the Taylor branch (|z| < 1/2) ≤ 6u (Horner with 8 fma steps on terms
   * that shrink ×0.12); σ' = 4e/(1 + e)² ≤ 2·ε_exp + 4u. LeakyReLU and
   * identity are exact or one product: u.
   */
  function relBounds(act: Activation, z: number): [number, number] {
    if (act.kind !== 'tanh') return [u, 0];
    const ee = epsExp(2 * z);
    return [2 * ee + 6 * u, 2 * ee + 4 * u];
  }

  for (const act of acts)
    test.each(sizes)(`${act.kind} n=%i all modes, out aliasing g / gdot`, async (n) => {
      const { cpu, gpu } = await getBackends();
      const seed = n * 31 + act.kind.length;
      // tanh saturates past |z| ≈ 9; the range covers both branches and the tails.
      const z = upload(cpu, gpu, randomArray(n, seed, -6, 6), 'z');
      const zd = upload(cpu, gpu, randomArray(n, seed + 1), 'zdot');
      const g = upload(cpu, gpu, randomArray(n, seed + 2), 'g');
      const gd = upload(cpu, gpu, randomArray(n, seed + 3), 'gdot');
      const size = n === 257 ? 'n=257' : n === 100_003 ? 'n=100003' : 'other';
      const sig = (x: number) =>
        act.kind === 'tanh'
          ? Math.tanh(x)
          : act.kind === 'leaky_relu' && x <= 0
            ? act.slope * x
            : x;
      const d1 = (x: number) =>
        act.kind === 'tanh'
          ? 1 - Math.tanh(x) ** 2
          : act.kind === 'leaky_relu' && x <= 0
            ? act.slope
            : 1;

      // value: out = σ(z).
      const out = outputs(cpu, gpu, n, 'out');
      await runBoth(cpu, gpu, (b, pick) =>
        b.activation({ act, mode: 'value', n, z: pick(z.c, z.g), out: pick(out.c, out.g) }),
      );
      check(
        `act.${act.kind}.value`,
        size,
        await gpu.read(out.g),
        await cpu.read(out.c),
        Array.from(z.d, (x) => relBounds(act, x)[0] * Math.abs(sig(x))),
      );

      // derivMul: out = g ⊙ σ'(z), written over g (one more rounding: u).
      const gcopy = upload(cpu, gpu, g.d, 'g copy');
      await runBoth(cpu, gpu, (b, pick) =>
        b.activation({
          act,
          mode: 'derivMul',
          n,
          z: pick(z.c, z.g),
          g: pick(gcopy.c, gcopy.g),
          out: pick(gcopy.c, gcopy.g),
        }),
      );
      check(
        `act.${act.kind}.derivMul`,
        size,
        await gpu.read(gcopy.g),
        await cpu.read(gcopy.c),
        Array.from(z.d, (x, i) => (relBounds(act, x)[1] + u) * Math.abs(g.d[i] * d1(x))),
      );

      // tangentBackward: out = ġ ⊙ σ' + g ⊙ σ'' ⊙ ż, written over ġ. With
      // σ'' = −2tσ' (rel. error ≤ ε_t + ε_d + u), two products and the
      // (unfused) fma: |ġσ'|·(ε_d + 2u) + |gσ''ż|·(ε_t + ε_d + 4u).
      await runBoth(cpu, gpu, (b, pick) =>
        b.activation({
          act,
          mode: 'tangentBackward',
          n,
          z: pick(z.c, z.g),
          zdot: pick(zd.c, zd.g),
          g: pick(g.c, g.g),
          gdot: pick(gd.c, gd.g),
          out: pick(gd.c, gd.g),
        }),
      );
      const tol = Array.from(z.d, (x, i) => {
        const [et, ed] = relBounds(act, x);
        const d2 = act.kind === 'tanh' ? -2 * Math.tanh(x) * d1(x) : 0;
        return (
          Math.abs(gd.d[i] * d1(x)) * (ed + 2 * u) +
          Math.abs(g.d[i] * d2 * zd.d[i]) * (et + ed + 4 * u)
        );
      });
      check(
        `act.${act.kind}.tangentBackward`,
        size,
        await gpu.read(gd.g),
        await cpu.read(gd.c),
        tol,
      );
    });
});

describe('axpby', () => {
  // fl(fl(a·x) + b·y) by an fma, a and b possibly fl(scale·c): γ_3·(|a·x| + |b·y|).
  const tolOf = (
    a: number,
    x: ArrayLike<number> | undefined,
    b: number,
    y: ArrayLike<number> | undefined,
    n: number,
  ) =>
    Array.from(
      { length: n },
      (_, i) => gamma(3) * (Math.abs(a * (x ? x[i] : 1)) + Math.abs(y ? b * y[i] : 0)),
    );

  test.each([1, 7, 256, 257, 100_003])(
    'n=%i constants, buffer coefficients, offsets, aliasing',
    async (n) => {
      const { cpu, gpu } = await getBackends();
      const size = n === 257 ? 'n=257' : n === 100_003 ? 'n=100003' : 'other';
      const x = upload(cpu, gpu, randomArray(n + 3, n), 'x');
      const y = upload(cpu, gpu, randomArray(n + 5, n + 1), 'y');
      const coef = upload(cpu, gpu, [0.5, -1.25, 3], 'coefficients');
      const xs = x.d.subarray(3);
      const ys = y.d.subarray(5);

      // z = a·x + b·y with constants, at offsets.
      const z = outputs(cpu, gpu, n + 2, 'z');
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({
          n,
          a: 0.75,
          x: p(x.c, x.g),
          xOffset: 3,
          b: -2,
          y: p(y.c, y.g),
          yOffset: 5,
          z: p(z.c, z.g),
          zOffset: 2,
        }),
      );
      check(
        'axpby',
        size,
        (await gpu.read(z.g)).subarray(2),
        (await cpu.read(z.c)).subarray(2),
        tolOf(0.75, xs, -2, ys, n),
      );
      expect((await gpu.read(z.g, 0, 2)).every(Number.isNaN)).toBe(true);

      // Coefficients from a buffer: a = −0.5·c[1], b = 2·c[2]; y poisoned
      // beyond its range stays unread.
      const z2 = outputs(cpu, gpu, n, 'z2');
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({
          n,
          a: { buf: p(coef.c, coef.g), index: 1, scale: -0.5 },
          x: p(x.c, x.g),
          xOffset: 3,
          b: { buf: p(coef.c, coef.g), index: 2, scale: 2 },
          y: p(y.c, y.g),
          yOffset: 5,
          z: p(z2.c, z2.g),
        }),
      );
      check('axpby', size, await gpu.read(z2.g), await cpu.read(z2.c), tolOf(0.625, xs, 6, ys, n));

      // b = 0 never reads y (NaN there must not leak); no x broadcasts a.
      const nanY = outputs(cpu, gpu, n, 'NaN y');
      const z3 = outputs(cpu, gpu, n, 'z3');
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({ n, a: 1.5, b: 0, y: p(nanY.c, nanY.g), z: p(z3.c, z3.g) }),
      );
      expect(Array.from(await gpu.read(z3.g))).toEqual(Array.from(await cpu.read(z3.c)));
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({
          n,
          a: 0,
          x: p(nanY.c, nanY.g),
          b: -1,
          y: p(x.c, x.g),
          yOffset: 3,
          z: p(z3.c, z3.g),
        }),
      );
      expect(Array.from(await gpu.read(z3.g))).toEqual(Array.from(await cpu.read(z3.c)));

      // Aliasing: z = x (x ← 2x − y), then z = y = x (x ← x + 0.25x).
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({
          n,
          a: 2,
          x: p(x.c, x.g),
          xOffset: 3,
          b: -1,
          y: p(y.c, y.g),
          yOffset: 5,
          z: p(x.c, x.g),
          zOffset: 3,
        }),
      );
      check(
        'axpby',
        size,
        (await gpu.read(x.g)).subarray(3),
        (await cpu.read(x.c)).subarray(3),
        tolOf(2, xs, -1, ys, n),
      );
      const x2 = roundF32(await cpu.read(x.c, 3));
      gpu.write(x.g, x2, 3);
      cpu.write(x.c, x2, 3);
      await runBoth(cpu, gpu, (b, p) =>
        b.axpby({
          n,
          a: 1,
          x: p(x.c, x.g),
          xOffset: 3,
          b: 0.25,
          y: p(x.c, x.g),
          yOffset: 3,
          z: p(x.c, x.g),
          zOffset: 3,
        }),
      );
      check(
        'axpby',
        size,
        await gpu.read(x.g, 3),
        await cpu.read(x.c, 3),
        tolOf(1, x2, 0.25, x2, n),
      );
    },
  );
});

describe('reduce', () => {
  /**
   * Depth of the summation tree (reduce.wgsl): `items` serial fma per
   * invocation, log2(wg) tree levels, ceil(partials / wg) serial adds in the
   * final pass, log2(wg) levels again; the error is ≤ γ_depth·Σ|x_i·y_i|.
   */
  function depth(gpu: WebGpuBackend, n: number): number {
    const { workgroupSize: wg, items } = gpu.tuning.reduce;
    const partials = Math.ceil(n / (wg * items));
    return items + 2 * Math.log2(wg) + Math.ceil(partials / wg);
  }

  test.each([0, 1, 255, 256, 257, 1024, 1025, 300_007])('n=%i dot, norm, accumulate', async (n) => {
    const { cpu, gpu } = await getBackends();
    const size = n === 257 ? 'n=257' : n === 300_007 ? 'n=300007' : 'other';
    const x = upload(cpu, gpu, randomArray(n + 2, n + 11), 'x');
    const y = upload(cpu, gpu, randomArray(n + 1, n + 12), 'y');
    const out = outputs(cpu, gpu, 4, 'out');
    const absDot = x.d.subarray(2).reduce((s, v, i) => s + Math.abs(v * y.d[1 + i]), 0);
    const sq = x.d.subarray(2).reduce((s, v) => s + v * v, 0);
    const dd = depth(gpu, n);

    // out[1] = 0.5·xᵀy at offsets (scale is exact: no extra rounding).
    await runBoth(cpu, gpu, (b, p) =>
      b.reduce({
        n,
        x: p(x.c, x.g),
        xOffset: 2,
        y: p(y.c, y.g),
        yOffset: 1,
        out: p(out.c, out.g),
        outIndex: 1,
        scale: 0.5,
      }),
    );
    check(
      'reduce.dot',
      size,
      await gpu.read(out.g, 1, 1),
      await cpu.read(out.c, 1, 1),
      gamma(dd) * 0.5 * absDot,
    );
    if (n === 0) expect((await gpu.read(out.g, 1, 1))[0]).toBe(0);

    // out[2] = ‖x‖ (y omitted): relative error of √(S(1 + θ)) ≤ θ/2 + u.
    await runBoth(cpu, gpu, (b, p) =>
      b.reduce({ n, x: p(x.c, x.g), xOffset: 2, out: p(out.c, out.g), outIndex: 2, sqrt: true }),
    );
    check(
      'reduce.norm',
      size,
      await gpu.read(out.g, 2, 1),
      await cpu.read(out.c, 2, 1),
      (gamma(dd) / 2 + u) * Math.sqrt(sq),
    );

    // out[1] += 0.5·xᵀy: one more rounding of the sum.
    await runBoth(cpu, gpu, (b, p) =>
      b.reduce({
        n,
        x: p(x.c, x.g),
        xOffset: 2,
        y: p(y.c, y.g),
        yOffset: 1,
        out: p(out.c, out.g),
        outIndex: 1,
        scale: 0.5,
        accumulate: true,
      }),
    );
    const acc = (await cpu.read(out.c, 1, 1))[0];
    check(
      'reduce.accumulate',
      size,
      await gpu.read(out.g, 1, 1),
      [acc],
      2 * gamma(dd + 1) * 0.5 * absDot,
    );

    // Deterministic: the same inputs give the same bits.
    const first = await gpu.read(out.g, 2, 1);
    gpu.run([gpu.reduce({ n, x: x.g, xOffset: 2, out: out.g, outIndex: 2, sqrt: true })]);
    expect(Array.from(await gpu.read(out.g, 2, 1))).toEqual(Array.from(first));
    expect((await gpu.read(out.g, 0, 1))[0]).toBeNaN();
  });
});

describe('cgScalar', () => {
  /** A state with the given slots set (f32-exact values), the rest 0. */
  const state = (slots: Partial<Record<keyof typeof CG, number>>) => {
    const s = new Float64Array(CG_STATE_LENGTH);
    for (const [k, v] of Object.entries(slots)) s[CG[k as keyof typeof CG]] = v;
    return s;
  };
  const opts = { rtol: Math.fround(1e-2), atol: Math.fround(1e-3), radius: 0, maxIter: 5 };
  const cases: {
    name: string;
    mode: CgScalarSpec['mode'];
    s: Float64Array;
    radius?: number;
    status?: number;
  }[] = [
    { name: 'init', mode: 'init', s: state({ RR: 4 }), radius: 3, status: CgStatus.RUNNING },
    { name: 'init zero rhs', mode: 'init', s: state({ RR: 0 }), status: CgStatus.ZERO_RHS },
    { name: 'init inf', mode: 'init', s: state({ RR: Infinity }), status: CgStatus.NOT_FINITE },
    { name: 'init nan', mode: 'init', s: state({ RR: NaN }), status: CgStatus.NOT_FINITE },
    {
      name: 'start running',
      mode: 'start',
      s: state({ ACTIVE: 1, INVB: 0.5, RR: 1 }),
      status: CgStatus.RUNNING,
    },
    {
      name: 'start converged',
      mode: 'start',
      s: state({ ACTIVE: 1, INVB: 0.5, RR: 1e-6 }),
      status: CgStatus.CONVERGED,
    },
    {
      name: 'start inactive',
      mode: 'start',
      s: state({ ACTIVE: 0, RR: 1, STATUS: 5 }),
      status: CgStatus.ZERO_RHS,
    },
    {
      name: 'start not finite',
      mode: 'start',
      s: state({ ACTIVE: 1, RR: Infinity }),
      status: CgStatus.NOT_FINITE,
    },
    {
      name: 'alpha',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: 7, ITERS: 2 }),
      status: CgStatus.RUNNING,
    },
    {
      name: 'alpha inside radius',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: 7, RADIUS: 10, XX: 1, XP: 0.5, PP: 2 }),
      status: CgStatus.RUNNING,
    },
    {
      name: 'alpha boundary xp ≥ 0',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: 0.25, RADIUS: 2, XX: 1, XP: 0.5, PP: 2 }),
      status: CgStatus.BOUNDARY,
    },
    {
      name: 'alpha boundary xp < 0',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: 0.125, RADIUS: 2, XX: 1, XP: -0.75, PP: 2 }),
      status: CgStatus.BOUNDARY,
    },
    {
      name: 'alpha negative curvature',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: -1, ITERS: 1 }),
      status: CgStatus.NEGATIVE_CURVATURE,
    },
    {
      name: 'alpha negative curvature radius',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: -1, RADIUS: 2, XX: 1, XP: 0.5, PP: 2 }),
      status: CgStatus.NEGATIVE_CURVATURE,
    },
    {
      name: 'alpha zero curvature',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: 0 }),
      status: CgStatus.NEGATIVE_CURVATURE,
    },
    {
      name: 'alpha nan curvature',
      mode: 'alpha',
      s: state({ ACTIVE: 1, RR: 3, PAP: NaN }),
      status: CgStatus.NEGATIVE_CURVATURE,
    },
    {
      name: 'alpha inactive',
      mode: 'alpha',
      s: state({ ACTIVE: 0, RR: 3, PAP: 7, STEP: 5, STATUS: 1 }),
      status: CgStatus.CONVERGED,
    },
    {
      name: 'beta',
      mode: 'beta',
      s: state({ ACTIVE: 1, RR: 3, RR_NEW: 1.5, THRESH: 0.01, ITERS: 1 }),
      status: CgStatus.RUNNING,
    },
    {
      name: 'beta converged',
      mode: 'beta',
      s: state({ ACTIVE: 1, RR: 3, RR_NEW: 1e-6, THRESH: 0.01, ITERS: 1 }),
      status: CgStatus.CONVERGED,
    },
    {
      name: 'beta max iter',
      mode: 'beta',
      s: state({ ACTIVE: 1, RR: 3, RR_NEW: 1.5, THRESH: 0.01, ITERS: 5 }),
      status: CgStatus.MAX_ITER,
    },
    {
      name: 'beta stop',
      mode: 'beta',
      s: state({ ACTIVE: 1, RR: 3, RR_NEW: 1.5, STOP: 1, STATUS: 2 }),
      status: CgStatus.BOUNDARY,
    },
    {
      name: 'beta not finite',
      mode: 'beta',
      s: state({ ACTIVE: 1, RR: 3, RR_NEW: Infinity }),
      status: CgStatus.NOT_FINITE,
    },
    {
      name: 'beta inactive',
      mode: 'beta',
      s: state({ ACTIVE: 0, RR: 3, BETA: 2, STATUS: 1 }),
      status: CgStatus.CONVERGED,
    },
  ];

  test.each(cases)('$name', async (cs) => {
    const { cpu, gpu } = await getBackends();
    const spec = { ...opts, radius: cs.radius ?? 0, mode: cs.mode };
    const st = upload(cpu, gpu, cs.s, 'state');
    cpu.run([cpu.cgScalar({ ...spec, state: st.c })]);
    gpu.run([gpu.cgScalar({ ...spec, state: st.g })]);
    const got = await gpu.read(st.g);
    const want = await cpu.read(st.c);
    // Flags, codes and counts are exact; every value is at most a few
    // roundings from exact inputs (the boundary step: sqrt of a sum of two
    // products, one division and one addition without cancellation, ≤ 6u).
    for (const slot of [CG.ACTIVE, CG.STATUS, CG.ITERS, CG.STOP])
      expect(got[slot]).toBe(want[slot]);
    expect(want[CG.STATUS]).toBe(cs.status);
    // NaN and ±Inf slots must match exactly; the finite ones within the bound.
    const special = Array.from(want, (v) => !Number.isFinite(v));
    const pick = (a: Float64Array) => Array.from(a).filter((_, i) => special[i]);
    expect(pick(got)).toEqual(pick(want));
    const finite = (a: Float64Array) => a.map((v, i) => (special[i] ? 0 : v));
    check(
      'cgScalar',
      'state',
      finite(got),
      finite(want),
      Array.from(want, (v) => (Number.isFinite(v) ? 8 * u * Math.abs(v) : 0)),
    );
  });
});

type Pair = { c: Buf; g: Buf; d: Float64Array };

/**
 * Checks x, r and rᵀr after a CG update with step s (state[STEP]) on both
 * backends. x ← fma(s, p, x) and r ← fma(−s, ap, r) take at most two
 * roundings each: δx_i ≤ γ_2·(|s·p_i| + |x_i|), likewise δr_i. rᵀr of the
 * computed r then differs by Σ 2|r_i|·δr_i, plus γ_depth·Σ r_i² from the tree.
 */
async function checkCgUpdate(
  cpu: Backend,
  gpu: Backend,
  size: string,
  step: number,
  b: { x: Pair; p: Pair; r: Pair; ap: Pair; st: Pair },
  depth: number,
): Promise<void> {
  const [wx, wr] = [await cpu.read(b.x.c), await cpu.read(b.r.c)];
  const dx = Array.from(wx, (v, i) => gamma(2) * (Math.abs(step * b.p.d[i]) + Math.abs(v)));
  const dr = Array.from(wr, (v, i) => gamma(2) * (Math.abs(step * b.ap.d[i]) + Math.abs(v)));
  check('cgUpdate.x', size, await gpu.read(b.x.g), wx, dx);
  check('cgUpdate.r', size, await gpu.read(b.r.g), wr, dr);
  const rr = wr.reduce((s, v) => s + v * v, 0);
  const fromR = wr.reduce((s, v, i) => s + 2 * Math.abs(v) * dr[i], 0);
  const [got, want] = [await gpu.read(b.st.g, CG.RR_NEW, 1), await cpu.read(b.st.c, CG.RR_NEW, 1)];
  check('cgUpdate.rr', size, got, want, gamma(depth) * rr + fromR);
}

describe('cgUpdate', () => {
  test.each([0, 1, 257, 300_007])('n=%i step ≠ 0 and step = 0', async (n) => {
    const { cpu, gpu } = await getBackends();
    const size = n === 257 ? 'n=257' : n === 300_007 ? 'n=300007' : 'other';
    const [x, p, r, ap] = ['x', 'p', 'r', 'ap'].map((l, i) =>
      upload(cpu, gpu, randomArray(n, n * 5 + i), l),
    );
    const st = upload(
      cpu,
      gpu,
      Object.assign(new Float64Array(CG_STATE_LENGTH), { [CG.STEP]: Math.fround(0.37) }),
      'state',
    );
    const { workgroupSize: wg, items } = gpu.tuning.reduce;
    const dd = items + 2 * Math.log2(wg) + Math.ceil(Math.ceil(n / (wg * items)) / wg);
    const run = () => {
      cpu.run([cpu.cgUpdate({ n, x: x.c, p: p.c, r: r.c, ap: ap.c, state: st.c })]);
      gpu.run([gpu.cgUpdate({ n, x: x.g, p: p.g, r: r.g, ap: ap.g, state: st.g })]);
    };
    run();
    await checkCgUpdate(cpu, gpu, size, Math.fround(0.37), { x, p, r, ap, st }, dd);

    // step = 0: x and r untouched even when p and ap are NaN.
    poison(cpu, p.c);
    poison(gpu, p.g);
    poison(cpu, ap.c);
    poison(gpu, ap.g);
    cpu.write(st.c, [0], CG.STEP);
    gpu.write(st.g, [0], CG.STEP);
    const xBefore = await gpu.read(x.g);
    const rBefore = await gpu.read(r.g);
    run();
    expect(Array.from(await gpu.read(x.g))).toEqual(Array.from(xBefore));
    expect(Array.from(await gpu.read(r.g))).toEqual(Array.from(rBefore));
    const rr0 = rBefore.reduce((s, v) => s + v * v, 0);
    check('cgUpdate.rr', size, await gpu.read(st.g, CG.RR_NEW, 1), [rr0], gamma(dd + 1) * rr0);
  });
});

describe('more than 65,535 workgroups (2-D grid)', () => {
  // A backend with 16-invocation workgroups and one element per invocation
  // reaches the 2-D grid at 1M elements, which SwiftShader runs in seconds.
  let small: WebGpuBackend;
  let cpu: CpuBackend;
  const n = 65_536 * 16 + 5;
  test('axpby, activation, reduce and cgUpdate', async () => {
    cpu = (await getBackends()).cpu;
    small = await WebGpuBackend.create({
      tuning: { workgroupSize: 16, reduce: { workgroupSize: 16, items: 1 } },
    });
    expect(Math.ceil(n / 16)).toBeGreaterThan(small.device.limits.maxComputeWorkgroupsPerDimension);
    const x = upload(cpu, small, randomArray(n, 1), 'x');
    const y = upload(cpu, small, randomArray(n, 2), 'y');
    const size = `n=${n}`;

    const z = outputs(cpu, small, n, 'z');
    await runBoth(cpu, small, (b, p) =>
      b.axpby({ n, a: 0.75, x: p(x.c, x.g), b: -2, y: p(y.c, y.g), z: p(z.c, z.g) }),
    );
    check(
      'axpby',
      size,
      await small.read(z.g),
      await cpu.read(z.c),
      Array.from(x.d, (v, i) => gamma(3) * (Math.abs(0.75 * v) + Math.abs(2 * y.d[i]))),
    );

    const act: Activation = { kind: 'leaky_relu', slope: Math.fround(0.01) };
    const out = outputs(cpu, small, n, 'out');
    await runBoth(cpu, small, (b, p) =>
      b.activation({ act, mode: 'value', n, z: p(x.c, x.g), out: p(out.c, out.g) }),
    );
    check(
      'act.leaky_relu.value',
      size,
      await small.read(out.g),
      await cpu.read(out.c),
      Array.from(x.d, (v) => u * Math.abs(v)),
    );

    const o = outputs(cpu, small, 1, 'out');
    await runBoth(cpu, small, (b, p) =>
      b.reduce({ n, x: p(x.c, x.g), y: p(y.c, y.g), out: p(o.c, o.g) }),
    );
    const partials = Math.ceil(n / 16);
    const dd = 1 + 2 * 4 + Math.ceil(partials / 16);
    const absDot = x.d.reduce((s, v, i) => s + Math.abs(v * y.d[i]), 0);
    check('reduce.dot', size, await small.read(o.g), await cpu.read(o.c), gamma(dd) * absDot);

    const r = upload(cpu, small, randomArray(n, 3), 'r');
    const st = upload(
      cpu,
      small,
      Object.assign(new Float64Array(CG_STATE_LENGTH), { [CG.STEP]: 0.5 }),
      'state',
    );
    await runBoth(cpu, small, (b, p) =>
      b.cgUpdate({
        n,
        x: p(x.c, x.g),
        p: p(y.c, y.g),
        r: p(r.c, r.g),
        ap: p(y.c, y.g),
        state: p(st.c, st.g),
      }),
    );
    await checkCgUpdate(cpu, small, size, 0.5, { x, p: y, r, ap: y, st }, dd);
    small.destroy();
  });
});
