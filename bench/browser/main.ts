// The browser half of the benchmark, served by vite and driven by bench/run.ts
// through Playwright: our WebGPU backend side by side with jax-js (the same
// HVP as jvp(grad(loss)), on WebGPU and on its WebAssembly CPU backend) and
// with tfjs-backend-webgpu (matmul at the same shapes), all on the one
// Chromium adapter. Submits, dispatches and readbacks of every library are
// counted by wrapping the WebGPU prototypes, so per-call work is measured,
// not assumed.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { blockUntilReady, defaultDevice, grad, init, jit, jvp, nn, numpy as np } from '@jax-js/jax';
import { WebGpuBackend } from '../../src/index.js';
import { measure, relDiff, type CaseB, type Rows, type Timing } from '../measure.js';
import {
  derivativeCosts,
  matmulCosts,
  matmulOperands,
  MATMULS_PER_SAMPLE,
  type Counts,
  type MatmulShape,
} from '../suite.js';

export interface BrowserInput {
  caseB: CaseB;
  big: Rows;
  v: number[];
  matmulShapes: MatmulShape[];
}

// ---- WebGPU work counters (every library on the page goes through these) ----

const gpuCounts = { submits: 0, dispatches: 0, readbacks: 0 };
{
  const pass = GPUComputePassEncoder.prototype;
  const dispatch = pass.dispatchWorkgroups;
  pass.dispatchWorkgroups = function (
    this: GPUComputePassEncoder,
    ...a: Parameters<typeof dispatch>
  ) {
    gpuCounts.dispatches++;
    return dispatch.apply(this, a);
  };
  const queue = GPUQueue.prototype;
  const submit = queue.submit;
  queue.submit = function (this: GPUQueue, ...a: Parameters<typeof submit>) {
    gpuCounts.submits++;
    return submit.apply(this, a);
  };
  const buffer = GPUBuffer.prototype;
  const mapAsync = buffer.mapAsync;
  buffer.mapAsync = function (this: GPUBuffer, ...a: Parameters<typeof mapAsync>) {
    gpuCounts.readbacks++;
    return mapAsync.apply(this, a);
  };
}

/** WebGPU calls made by one run of fn. */
async function gpuWork(fn: () => Promise<unknown>) {
  const before = { ...gpuCounts };
  await fn();
  return {
    submits: gpuCounts.submits - before.submits,
    dispatches: gpuCounts.dispatches - before.dispatches,
    readbacks: gpuCounts.readbacks - before.readbacks,
  };
}

const log = (msg: string) => console.log(`[browser] ${msg}`);

// ---- tfjs: matmul at the same shapes ----

async function tfjsMatmuls(shapes: MatmulShape[], ours: Map<string, Float64Array>) {
  await tf.setBackend('webgpu');
  await tf.ready();
  const out = [];
  for (const s of shapes) {
    const { a, b } = matmulOperands(s);
    const A = tf.tensor2d(a, s.transA ? [s.k, s.m] : [s.m, s.k]);
    const B = tf.tensor2d(b, s.transB ? [s.n, s.k] : [s.k, s.n]);
    // A readback of the last product is the only wait tfjs honours: after
    // submitQueue(), onSubmittedWorkDone() resolved before the kernels ran
    // (it reported > 10 GFLOP/s on SwiftShader). Ours is timed the same way.
    const batch = async () => {
      const cs = [];
      for (let i = 0; i < MATMULS_PER_SAMPLE; i++) cs.push(tf.matMul(A, B, s.transA, s.transB));
      await cs[cs.length - 1].data();
      cs.forEach((c) => c.dispose());
    };
    const t = await measure(batch);
    const work = await gpuWork(async () => {
      const c = tf.matMul(A, B, s.transA, s.transB);
      await c.data();
      c.dispose();
    });
    const C = tf.matMul(A, B, s.transA, s.transB);
    const c = await C.data();
    C.dispose();
    A.dispose();
    B.dispose();
    const ms = t.medianMs / MATMULS_PER_SAMPLE;
    out.push({
      shape: s.name,
      time: { ...t, medianMs: ms },
      gflops: (2 * s.m * s.n * s.k) / (ms * 1e6),
      work,
      relDiffVsOurs: relDiff(Array.from(c), ours.get(s.name)!),
    });
    log(`tfjs matmul ${s.name}: ${ms.toFixed(2)} ms`);
  }
  return out;
}

// ---- jax-js: gradient and HVP as jvp(grad(loss)) ----

type Params = {
  W0: np.Array;
  b0: np.Array;
  W1: np.Array;
  b1: np.Array;
  W2: np.Array;
  b2: np.Array;
};
const ORDER = ['W0', 'b0', 'W1', 'b1', 'W2', 'b2'] as const;

/** PyTorch's flat order (weight [out,in], then bias, per layer) into jax-js arrays. */
function toParams(flat: number[], sizes: number[]): Params {
  const p: Record<string, np.Array> = {};
  let off = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    p[`W${l}`] = np
      .array(Float32Array.from(flat.slice(off, off + fin * fout)))
      .reshape([fout, fin]);
    off += fin * fout;
    p[`b${l}`] = np.array(Float32Array.from(flat.slice(off, off + fout)));
    off += fout;
  }
  return p as Params;
}

const refs = (p: Params): Params =>
  Object.fromEntries(ORDER.map((k) => [k, p[k].ref])) as unknown as Params;

async function flatten(p: Params): Promise<number[]> {
  const out: number[] = [];
  for (const k of ORDER) out.push(...(await p[k].data()));
  return out;
}

function disposeTree(p: Params) {
  for (const k of ORDER) p[k].dispose();
}

async function jaxDerivatives(
  device: 'webgpu' | 'wasm',
  c: CaseB,
  data: Rows,
  v: number[],
  ourHv: number[],
) {
  defaultDevice(device);
  const X = np.array(Float32Array.from(data.X)).reshape([data.n, c.sizes[0]]);
  const y = np.array(Float32Array.from(data.y)).reshape([data.n, 1]);
  const alpha = c.alpha;
  // ½·mean((f − y)²) + ½·α·Σ‖W‖², the objective ours computes.
  const loss = (p: Params) => {
    let h = nn.leakyRelu(np.matmul(X.ref, p.W0.ref.transpose()).add(p.b0), c.slope);
    h = nn.leakyRelu(np.matmul(h, p.W1.ref.transpose()).add(p.b1), c.slope);
    const f = np.matmul(h, p.W2.ref.transpose()).add(p.b2);
    const r = f.sub(y.ref);
    const pen = np.square(p.W0).sum().add(np.square(p.W1).sum()).add(np.square(p.W2).sum());
    return np
      .square(r)
      .mean()
      .mul(0.5)
      .add(pen.mul(0.5 * alpha));
  };
  const gradient = jit(grad(loss));
  const hvp = jit((p: Params, t: Params) => jvp(grad(loss), [p], [t])[1]);
  const params = toParams(c.wStar, c.sizes);
  const dir = toParams(v, c.sizes);
  // Each call ends on a one-element readback, as ours does in the browser:
  // the device queue is in order, so it waits for every kernel of the call.
  const settled = async (out: Params) => {
    await blockUntilReady(out);
    await out.b2.ref.data();
    disposeTree(out);
  };
  const runGrad = () => settled(gradient(refs(params)));
  const runHvp = () => settled(hvp(refs(params), refs(dir)) as Params);
  const budgetMs = data.n > 1000 ? 0 : 1500;
  const gT: Timing = await measure(runGrad, { budgetMs });
  const hT: Timing = await measure(runHvp, { budgetMs });
  const gradientWork = await gpuWork(runGrad);
  const hvpWork = await gpuWork(runHvp);
  const hvOut = hvp(refs(params), refs(dir)) as Params;
  const hv = await flatten(hvOut); // data() consumes each leaf
  // params, dir, X and y are left to the page's end: jax-js's jit keeps
  // them as captured constants and reports them freed if disposed here.
  log(
    `jax-js ${device} ${data.n} rows: gradient ${gT.medianMs.toFixed(1)} ms, hvp ${hT.medianMs.toFixed(1)} ms`,
  );
  return {
    device,
    rows: data.n,
    gradient: gT,
    hvp: hT,
    ratio: hT.medianMs / gT.medianMs,
    gradientWork,
    hvpWork,
    relDiffVsOurs: relDiff(hv, ourHv),
  };
}

// ---- the whole browser run ----

async function runBench(input: BrowserInput) {
  const { caseB: c, big, v } = input;
  const ours = await WebGpuBackend.create();
  log(`adapter: ${ours.info}`);

  const oursC = new Map<string, Float64Array>();
  const matmul = await matmulCosts(
    ours,
    input.matmulShapes,
    (s, cc) => oursC.set(s.name, cc),
    'read',
  );
  const matmulWork: Counts[] = [];
  for (const s of input.matmulShapes) {
    // One matmul, one submit, one sync: the same unit as tfjs's work above.
    const { a, b } = matmulOperands(s);
    const [A, B, C] = [a.length, b.length, s.m * s.n].map((n) => ours.createBuffer(n));
    ours.write(A, a);
    ours.write(B, b);
    const op = ours.matmul({ ...s, a: A, b: B, c: C });
    matmulWork.push(
      await gpuWork(async () => {
        ours.run([op]);
        await ours.read(C, 0, 1);
      }),
    );
    op.destroy();
    [A, B, C].forEach((x) => ours.destroyBuffer(x));
  }
  log('ours matmul done');
  const tfjs = await tfjsMatmuls(input.matmulShapes, oursC);

  const derivatives = [];
  for (const data of [c.train, big]) {
    const d = await derivativeCosts(
      ours,
      c.sizes,
      c.wStar,
      c.alpha,
      data,
      data.n > 1000 ? 0 : 1500,
      'read',
    );
    log(
      `ours webgpu ${data.n} rows: gradient ${d.gradient.medianMs.toFixed(1)} ms, hvp ${d.hvp.medianMs.toFixed(1)} ms`,
    );
    derivatives.push(d);
  }

  const devices = await init('webgpu', 'wasm');
  const jax = [];
  for (const device of ['webgpu', 'wasm'] as const) {
    if (!devices.includes(device)) {
      jax.push({ device, skipped: `jax-js init() did not start '${device}'` });
      continue;
    }
    for (const [i, data] of [c.train, big].entries())
      jax.push(await jaxDerivatives(device, c, data, v, derivatives[i].hv));
  }
  const info = ours.info;
  ours.destroy();
  return {
    userAgent: navigator.userAgent,
    adapter: info,
    matmul: matmul.map((m, i) => ({ ...m, work: matmulWork[i] })),
    tfjs,
    derivatives: derivatives.map(({ grad: _g, ...d }) => d),
    jax,
  };
}

export type BrowserResult = Awaited<ReturnType<typeof runBench>>;

(globalThis as unknown as { runBench: typeof runBench }).runBench = runBench;
(globalThis as unknown as { benchReady: boolean }).benchReady = true;
