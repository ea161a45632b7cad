// Our own costs on one backend (issue 7, parts 1 and 2): matmul at the MLP's
// shapes, one gradient, one HVP, one CG iteration with its submit, dispatch
// and readback counts, memory across 5,000 CG iterations, a full
// hypergradient, one HOAG outer step, and how HVP time and device memory grow
// with rows and width. Backend-agnostic, so Node (CPU, Dawn) and the browser
// run the same code.

import {
  ConjugateGradient,
  HyperProblem,
  Mlp,
  Objective,
  hoag,
  type Backend,
  type Buf,
  type DataSet,
} from '../src/index.js';
import {
  caseBFromJson,
  generatedRows,
  hvpDirection,
  measure,
  relDiff,
  type CaseB,
  type Rows,
  type Timing,
} from './measure.js';

export { caseBFromJson };

/** A matmul of the MLP: C[m×n] = op(A)·op(B), as MatmulSpec. */
export interface MatmulShape {
  name: string;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
}

/** The products one gradient of the 10→64→64→1 network makes, at `rows` rows. */
export function mlpMatmulShapes(rows: number): MatmulShape[] {
  return [
    { name: `forward X·W0ᵀ (${rows}×64×10)`, m: rows, n: 64, k: 10, transB: true },
    { name: `forward H1·W1ᵀ (${rows}×64×64)`, m: rows, n: 64, k: 64, transB: true },
    { name: `forward H2·W2ᵀ (${rows}×1×64)`, m: rows, n: 1, k: 64, transB: true },
    { name: `adjoint dZᵀ·H (64×64×${rows})`, m: 64, n: 64, k: rows, transA: true },
  ];
}

/** Deterministic operands of a matmul benchmark (the same on every side). */
export function matmulOperands(s: MatmulShape): { a: Float32Array; b: Float32Array } {
  const a = Float32Array.from({ length: s.m * s.k }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
  const b = Float32Array.from({ length: s.k * s.n }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
  return { a, b };
}

/** Matmuls per timed sample: one submit of this many, then one sync. */
export const MATMULS_PER_SAMPLE = 8;

export interface MatmulResult {
  shape: MatmulShape;
  /** Per matmul. */
  time: Timing;
  gflops: number;
}

export async function matmulCosts(
  b: Backend,
  shapes: MatmulShape[],
  keep?: (shape: MatmulShape, c: Float64Array) => void,
  wait: Wait = 'sync',
): Promise<MatmulResult[]> {
  const out: MatmulResult[] = [];
  for (const s of shapes) {
    const { a, b: bb } = matmulOperands(s);
    const A = b.createBuffer(a.length, 'A');
    const B = b.createBuffer(bb.length, 'B');
    const C = b.createBuffer(s.m * s.n, 'C');
    b.write(A, a);
    b.write(B, bb);
    const op = b.matmul({
      m: s.m,
      n: s.n,
      k: s.k,
      a: A,
      b: B,
      c: C,
      transA: s.transA,
      transB: s.transB,
    });
    const batch = new Array(MATMULS_PER_SAMPLE).fill(op);
    const t = await measure(async () => {
      b.run(batch);
      await settle(b, C, wait);
    });
    const time = scale(t, 1 / MATMULS_PER_SAMPLE);
    out.push({ shape: s, time, gflops: (2 * s.m * s.n * s.k) / (time.medianMs * 1e6) });
    keep?.(s, await b.read(C));
    op.destroy();
    for (const x of [A, B, C]) b.destroyBuffer(x);
  }
  return out;
}

/**
 * How a timed sample waits for the device: 'sync' (queue idle) or 'read'
 * (read back one element of the output, as peers that only wait on a
 * readback must be timed; used in the browser for like-for-like figures).
 */
export type Wait = 'sync' | 'read';

async function settle(b: Backend, out: Buf, wait: Wait): Promise<void> {
  if (wait === 'read') await b.read(out, 0, 1);
  else await b.sync();
}

function scale(t: Timing, f: number): Timing {
  return { medianMs: t.medianMs * f, samples: t.samples, minMs: t.minMs * f, maxMs: t.maxMs * f };
}

export interface Counts {
  submits: number;
  dispatches: number;
  readbacks: number;
}

function counted(b: Backend, ops: () => void): Counts {
  const before = { ...b.stats };
  ops();
  return {
    submits: b.stats.submits - before.submits,
    dispatches: b.stats.dispatches - before.dispatches,
    readbacks: b.stats.readbacks - before.readbacks,
  };
}

export interface DerivativeResult {
  rows: number;
  sizes: number[];
  gradient: Timing;
  hvp: Timing;
  /** hvp / gradient medians (goal ≤ 2.5). */
  ratio: number;
  gradientWork: Counts;
  hvpWork: Counts;
  /** Device bytes live with the objective and its HVP built. */
  bytesLive: number;
  /** ∇²L·v for the fixed direction (for checks against the peers). */
  hv: number[];
  grad: number[];
}

/** One training objective (data term + L2 penalty, scalar α) at weights w. */
function buildObjective(b: Backend, mlp: Mlp, w: ArrayLike<number>, alpha: number, data: DataSet) {
  const params = b.createBuffer(mlp.nParams, 'weights');
  const hyper = b.createBuffer(1, 'alpha');
  b.write(params, w);
  b.write(hyper, [alpha]);
  const obj = new Objective(b, mlp, params, hyper, data, {
    penalised: true,
    penalty: 'scalar',
    label: 'train',
  });
  return {
    obj,
    params,
    destroy() {
      obj.destroy();
      b.destroyBuffer(params);
      b.destroyBuffer(hyper);
    },
  };
}

/** Time one gradient and one HVP (hvpOps after gradientOps) of ½·mean sq. error + ½α‖W‖². */
export async function derivativeCosts(
  b: Backend,
  sizes: readonly number[],
  w: ArrayLike<number>,
  alpha: number,
  data: Rows,
  budgetMs = 1500,
  wait: Wait = 'sync',
): Promise<DerivativeResult> {
  const mlp = new Mlp({ sizes, activation: 'leaky_relu', slope: 0.01 });
  const o = buildObjective(b, mlp, w, alpha, data);
  const bufs: Buf[] = [];
  try {
    const v = b.createBuffer(mlp.nParams, 'v');
    const hv = b.createBuffer(mlp.nParams, 'Hv');
    const mixed = b.createBuffer(1, 'mixed');
    bufs.push(v, hv, mixed);
    b.write(v, hvpDirection(mlp.nParams));
    const hvp = o.obj.hvpOps(v, hv, mixed);
    const gradientWork = counted(b, () => b.run(o.obj.gradientOps));
    const hvpWork = counted(b, () => b.run(hvp));
    await b.sync();
    const bytesLive = b.stats.bytesLive;
    const gradient = await measure(
      async () => {
        b.run(o.obj.gradientOps);
        await settle(b, o.obj.grad, wait);
      },
      { budgetMs },
    );
    const hvpT = await measure(
      async () => {
        b.run(hvp);
        await settle(b, hv, wait);
      },
      { budgetMs },
    );
    return {
      rows: data.n,
      sizes: [...sizes],
      gradient,
      hvp: hvpT,
      ratio: hvpT.medianMs / gradient.medianMs,
      gradientWork,
      hvpWork,
      bytesLive,
      hv: Array.from(await b.read(hv)),
      grad: Array.from(await b.read(o.obj.grad)),
    };
  } finally {
    for (const x of bufs) b.destroyBuffer(x);
    o.destroy();
  }
}

export interface CgCostResult {
  /** CG iterations in the timed solve (rtol 0, so it runs maxIter unless it breaks down). */
  iterations: number;
  checkEvery: number;
  perIteration: Timing;
  /** Per CG iteration, from the backend's counters over one solve. */
  submitsPerIteration: number;
  dispatchesPerIteration: number;
  readbacksPerIteration: number;
  memory: {
    iterations: number;
    solves: number;
    bytesBefore: number;
    bytesAfter: number;
    buffersBefore: number;
    buffersAfter: number;
  };
}

/** CG on (H_train + c·I) q = ∇_ω L_val of case B at w*: per-iteration cost and flat memory. */
export async function cgCosts(
  b: Backend,
  c: CaseB,
  memoryIterations = 5000,
): Promise<CgCostResult> {
  const mlp = new Mlp({ sizes: c.sizes, activation: 'leaky_relu', slope: c.slope });
  const t = buildObjective(b, mlp, c.wStar, c.alpha, c.train);
  const val = new Objective(b, mlp, t.params, t.obj.hyper, c.val, {
    penalised: false,
    penalty: 'scalar',
    label: 'val',
  });
  const x = b.createBuffer(mlp.nParams, 'q');
  const mixed = b.createBuffer(1, 'mixed');
  const cg = new ConjugateGradient(
    b,
    { n: mlp.nParams, ops: (inp, out) => t.obj.hvpOps(inp, out, mixed, c.nugget) },
    val.grad,
    x,
  );
  try {
    b.run([...t.obj.gradientOps, ...val.gradientOps]);
    const checkEvery = 8;
    const maxIter = 64;
    const solveOpts = { rtol: 0, maxIter, checkEvery };
    await cg.solve(solveOpts);
    let last = await cg.solve(solveOpts);
    const perSolve = await measure(async () => {
      last = await cg.solve(solveOpts);
    });
    const it = Math.max(last.iterations, 1);

    // Memory across many iterations: solves of at most 500 iterations, cold,
    // until memoryIterations iterations have run in total.
    await b.sync();
    const bytesBefore = b.stats.bytesLive;
    const buffersBefore = b.stats.buffersLive;
    let done = 0;
    let solves = 0;
    while (done < memoryIterations) {
      // k = 64 here: the loop tests memory, and fewer readbacks keep it short.
      const r = await cg.solve({
        rtol: 0,
        maxIter: Math.min(500, memoryIterations - done),
        checkEvery: 64,
      });
      done += Math.max(r.iterations, 1);
      solves++;
    }
    await b.sync();
    return {
      iterations: last.iterations,
      checkEvery,
      perIteration: scale(perSolve, 1 / it),
      submitsPerIteration: last.submits / it,
      dispatchesPerIteration: last.dispatches / it,
      readbacksPerIteration: last.readbacks / it,
      memory: {
        iterations: done,
        solves,
        bytesBefore,
        bytesAfter: b.stats.bytesLive,
        buffersBefore,
        buffersAfter: b.stats.buffersLive,
      },
    };
  } finally {
    cg.destroy();
    b.destroyBuffer(x);
    b.destroyBuffer(mixed);
    val.destroy();
    t.destroy();
  }
}

export interface HypergradientCost {
  value: number;
  /** |value − reference| / |reference| (reference case B, val_plain). */
  relErrorVsReference: number;
  cgIterations: number;
  cgStatus: string;
  solveSide: string;
  time: Timing;
  work: Counts;
}

function caseBProblem(b: Backend, c: CaseB, solve?: 'validation' | 'hyper'): HyperProblem {
  return new HyperProblem(b, {
    model: { sizes: c.sizes, activation: 'leaky_relu', slope: c.slope },
    train: c.train,
    val: c.val,
    alpha: c.alpha,
    weights: c.wStar,
    nugget: c.nugget,
    validation: 'plain',
    solve,
  });
}

/**
 * Steps 2 and 3 at the stored w* (no inner fit), cold CG each time: the same
 * work as the notebook's CG + grad_lambda, so peers can be timed against it.
 */
export async function hypergradientCosts(
  b: Backend,
  c: CaseB,
  solve?: 'validation' | 'hyper',
): Promise<HypergradientCost> {
  const p = caseBProblem(b, c, solve);
  try {
    let r = await p.hypergradient({ fit: false });
    // Work of one cold call, from the backend's counters.
    p.resetWarmStart();
    const before = { ...b.stats };
    r = await p.hypergradient({ fit: false });
    const work = {
      submits: b.stats.submits - before.submits,
      dispatches: b.stats.dispatches - before.dispatches,
      readbacks: b.stats.readbacks - before.readbacks,
    };
    const time = await measure(async () => {
      p.resetWarmStart();
      r = await p.hypergradient({ fit: false });
    });
    const value = r.hypergradient[0];
    return {
      value,
      relErrorVsReference: Math.abs(value - c.hypergradient) / Math.abs(c.hypergradient),
      cgIterations: r.cg.iterations,
      cgStatus: r.cg.status,
      solveSide: p.solveSide,
      time,
      work,
    };
  } finally {
    p.destroy();
  }
}

export interface HoagStepCost {
  time: Timing;
  innerIterations: number;
  cgIterations: number;
  lambdaAfter: number[];
}

/**
 * One HOAG outer step as it happens mid-run: ω warm from w*(α = 1), λ moved
 * to 0.9, so the step refits (L-BFGS), solves CG and updates λ. (From 0.5
 * the refit took 135 L-BFGS iterations: 110 s a step on SwiftShader.)
 */
export async function hoagStepCosts(b: Backend, c: CaseB): Promise<HoagStepCost> {
  const p = caseBProblem(b, c);
  try {
    let r: Awaited<ReturnType<typeof hoag>> | undefined;
    const time = await measure(
      async () => {
        p.setWeights(c.wStar);
        p.setLambda(0.9);
        p.resetWarmStart();
        r = await hoag(p, { steps: 1 });
      },
      // Each step is a whole refit: three runs, no budget beyond that.
      { warmup: 0, min: 3, max: 3 },
    );
    return {
      time,
      innerIterations: r!.innerIterations,
      cgIterations: r!.cgIterations,
      lambdaAfter: r!.lambda,
    };
  } finally {
    p.destroy();
  }
}

export interface GrowthPoint {
  rows: number;
  width: number;
  hvp: Timing;
  bytesLive: number;
  /** bytesLive / (rows·width·4 bytes). */
  perRowWidth: number;
}

/** Time per HVP and device memory over a grid of (rows, hidden width). */
export async function growth(
  b: Backend,
  grid: { rows: number; width: number }[],
  onPoint?: (p: GrowthPoint) => void,
): Promise<GrowthPoint[]> {
  const out: GrowthPoint[] = [];
  const pool = new Map<number, Rows>();
  for (const { rows, width } of grid) {
    const data = pool.get(rows) ?? generatedRows(rows, NOTEBOOK_INPUTS);
    pool.set(rows, data);
    const sizes = [NOTEBOOK_INPUTS, width, width, 1];
    const w = new Mlp({ sizes }).init(7);
    const d = await derivativeCosts(b, sizes, w, 1, data, 0);
    const bytesLive = d.bytesLive;
    const p = { rows, width, hvp: d.hvp, bytesLive, perRowWidth: bytesLive / (rows * width * 4) };
    onPoint?.(p);
    out.push(p);
  }
  return out;
}

const NOTEBOOK_INPUTS = 10;

/** Compares an HVP of ours with a peer's (same direction, same point). */
export function hvpAgreement(ours: ArrayLike<number>, theirs: ArrayLike<number>): number {
  return relDiff(theirs, ours);
}
