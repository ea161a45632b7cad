// The float64 CPU backend: the oracle the GPU kernels are tested against and
// the fallback where no WebGPU adapter exists. Every op does in float64 what
// its WGSL twin does in f32, with the same operand conventions (types.ts).

import { ArgumentError, DestroyedError, ShapeError } from '../errors.js';
import { cgScalarStep } from './cg-scalar.js';
import { checkGumbelSpec, gumbelRows, type GumbelArrays } from './gumbel.js';
import {
  CG,
  type ActivationSpec,
  type Activation,
  type AxpbySpec,
  type Backend,
  type BackendStats,
  type Buf,
  type CgScalarSpec,
  type CgUpdateSpec,
  type Coef,
  type GumbelSpec,
  type MatmulSpec,
  type Op,
  type ReduceSpec,
} from './types.js';

class CpuBuf implements Buf {
  destroyed = false;
  constructor(
    readonly data: Float64Array,
    readonly label: string,
  ) {}
  get length(): number {
    return this.data.length;
  }
}

class CpuOp implements Op {
  constructor(
    readonly label: string,
    readonly fn: () => void,
  ) {}
  destroy(): void {}
}

/** Checks that [offset, offset + n) lies inside buf and returns its data. */
export function span(buf: Buf | undefined, offset: number, n: number, what: string): Float64Array {
  if (!buf) throw new ArgumentError(`${what}: buffer missing`);
  const b = buf as CpuBuf;
  if (!(b instanceof CpuBuf))
    throw new ArgumentError(`${what}: buffer ${buf.label} belongs to another backend`);
  if (b.destroyed) throw new DestroyedError(`${what}: buffer ${buf.label} was destroyed`);
  if (!Number.isInteger(offset) || offset < 0 || offset + n > b.length)
    throw new ShapeError(
      `${what}: needs elements [${offset}, ${offset + n}) of buffer ${buf.label}, which has ${b.length}`,
    );
  return b.data;
}

function coefReader(c: Coef, what: string): () => number {
  if (typeof c === 'number') return () => c;
  const data = span(c.buf, c.index, 1, what);
  const scale = c.scale ?? 1;
  return () => scale * data[c.index];
}

/** σ, σ', σ'' of an activation at z (LeakyReLU: σ'(0) = slope, as PyTorch). */
export function activationDerivatives(act: Activation, z: number): [number, number, number] {
  switch (act.kind) {
    case 'leaky_relu':
      return z > 0 ? [z, 1, 0] : [act.slope * z, act.slope, 0];
    case 'tanh': {
      const t = Math.tanh(z);
      const d = 1 - t * t;
      return [t, d, -2 * t * d];
    }
    case 'identity':
      return [z, 1, 0];
  }
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly info = 'CPU float64 (JavaScript)';
  readonly eps = 2 ** -53;
  readonly stats: BackendStats = {
    submits: 0,
    dispatches: 0,
    readbacks: 0,
    bytesLive: 0,
    buffersLive: 0,
  };
  #buffers = new Set<CpuBuf>();
  #destroyed = false;

  createBuffer(length: number, label = 'buffer'): Buf {
    this.#check();
    if (!Number.isInteger(length) || length < 0)
      throw new ArgumentError(`createBuffer: length must be a non-negative integer, got ${length}`);
    const b = new CpuBuf(new Float64Array(length), label);
    this.#buffers.add(b);
    this.stats.buffersLive++;
    this.stats.bytesLive += length * 8;
    return b;
  }

  write(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    span(buf, offset, data.length, 'write').set(data, offset);
  }

  async read(buf: Buf, offset = 0, length = buf.length - offset): Promise<Float64Array> {
    return this.runRead([], buf, offset, length);
  }

  async runRead(
    ops: readonly Op[],
    buf: Buf,
    offset = 0,
    length = buf.length - offset,
  ): Promise<Float64Array> {
    const d = span(buf, offset, length, 'read');
    this.#execute(ops);
    this.stats.readbacks++;
    const out = d.slice(offset, offset + length);
    // The work above is synchronous: give the event loop a turn now and then
    // (at most every 20 ms), so that timers, Ctrl-C handlers, worker messages
    // and AbortSignals get through during a long CPU run.
    const now = performance.now();
    if (now - this.#lastYield > 20) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.#lastYield = performance.now();
    }
    return out;
  }
  #lastYield = 0;

  destroyBuffer(buf: Buf): void {
    const b = buf as CpuBuf;
    if (b.destroyed || !this.#buffers.delete(b)) return;
    b.destroyed = true;
    this.stats.buffersLive--;
    this.stats.bytesLive -= b.length * 8;
  }

  matmul(s: MatmulSpec): Op {
    const { m, n, k } = s;
    const A = span(s.a, s.aOffset ?? 0, m * k, 'matmul A');
    const B = span(s.b, s.bOffset ?? 0, k * n, 'matmul B');
    const C = span(s.c, s.cOffset ?? 0, m * n, 'matmul C');
    const bias = s.bias ? span(s.bias, s.biasOffset ?? 0, n, 'matmul bias') : undefined;
    const ao = s.aOffset ?? 0;
    const bo = s.bOffset ?? 0;
    const co = s.cOffset ?? 0;
    const bio = s.biasOffset ?? 0;
    const alpha = s.alpha ?? 1;
    // Strides of op(A)[i, p] and op(B)[p, j] in the stored layouts.
    const [ai, ap] = s.transA ? [1, m] : [k, 1];
    const [bp, bj] = s.transB ? [1, k] : [n, 1];
    return new CpuOp(s.label ?? 'matmul', () => {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < k; p++) acc += A[ao + i * ai + p * ap] * B[bo + p * bp + j * bj];
          let v = alpha * acc;
          if (bias) v += bias[bio + j];
          const idx = co + i * n + j;
          C[idx] = s.accumulate ? C[idx] + v : v;
        }
      }
    });
  }

  activation(s: ActivationSpec): Op {
    const { n, act } = s;
    const z = span(s.z, 0, n, 'activation z');
    const out = span(s.out, 0, n, 'activation out');
    switch (s.mode) {
      case 'value':
        return new CpuOp(s.label ?? 'act.value', () => {
          for (let i = 0; i < n; i++) out[i] = activationDerivatives(act, z[i])[0];
        });
      case 'derivMul': {
        const g = span(s.g, 0, n, 'activation g');
        return new CpuOp(s.label ?? 'act.derivMul', () => {
          for (let i = 0; i < n; i++) out[i] = g[i] * activationDerivatives(act, z[i])[1];
        });
      }
      case 'tangentBackward': {
        const zd = span(s.zdot, 0, n, 'activation zdot');
        const g = span(s.g, 0, n, 'activation g');
        const gd = span(s.gdot, 0, n, 'activation gdot');
        return new CpuOp(s.label ?? 'act.tangentBackward', () => {
          for (let i = 0; i < n; i++) {
            const [, d1, d2] = activationDerivatives(act, z[i]);
            out[i] = gd[i] * d1 + g[i] * d2 * zd[i];
          }
        });
      }
    }
  }

  axpby(s: AxpbySpec): Op {
    const { n } = s;
    const zo = s.zOffset ?? 0;
    const xo = s.xOffset ?? 0;
    const yo = s.yOffset ?? 0;
    const z = span(s.z, zo, n, 'axpby z');
    const readX = s.a !== 0;
    const readY = s.b !== 0;
    const x = readX && s.x ? span(s.x, xo, n, 'axpby x') : undefined;
    const y = readY ? span(s.y, yo, n, 'axpby y') : undefined;
    const a = coefReader(s.a, 'axpby a');
    const b = coefReader(s.b, 'axpby b');
    return new CpuOp(s.label ?? 'axpby', () => {
      const av = a();
      const bv = b();
      for (let i = 0; i < n; i++) {
        let v = 0;
        if (readX) v = av * (x ? x[xo + i] : 1);
        if (y) v += bv * y[yo + i];
        z[zo + i] = v;
      }
    });
  }

  reduce(s: ReduceSpec): Op {
    if (s.sqrt && s.accumulate)
      throw new ArgumentError('reduce: sqrt and accumulate exclude each other');
    const { n } = s;
    const xo = s.xOffset ?? 0;
    const yo = s.y ? (s.yOffset ?? 0) : xo;
    const x = span(s.x, xo, n, 'reduce x');
    const y = s.y ? span(s.y, yo, n, 'reduce y') : x;
    const oi = s.outIndex ?? 0;
    const out = span(s.out, oi, 1, 'reduce out');
    const scale = s.scale ?? 1;
    return new CpuOp(s.label ?? 'reduce', () => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += x[xo + i] * y[yo + i];
      let v = scale * acc;
      if (s.sqrt) v = Math.sqrt(v);
      out[oi] = s.accumulate ? out[oi] + v : v;
    });
  }

  cgScalar(s: CgScalarSpec): Op {
    const st = span(s.state, 0, CG.STOP + 1, 'cgScalar state');
    return new CpuOp(s.label ?? `cg.${s.mode}`, () => cgScalarStep(st, s));
  }

  cgUpdate(s: CgUpdateSpec): Op {
    const { n } = s;
    const x = span(s.x, 0, n, 'cgUpdate x');
    const p = span(s.p, 0, n, 'cgUpdate p');
    const r = span(s.r, 0, n, 'cgUpdate r');
    const ap = span(s.ap, 0, n, 'cgUpdate ap');
    const st = span(s.state, 0, CG.STOP + 1, 'cgUpdate state');
    return new CpuOp(s.label ?? 'cg.update', () => {
      const step = st[CG.STEP];
      let acc = 0;
      for (let i = 0; i < n; i++) {
        if (step !== 0) {
          x[i] += step * p[i];
          r[i] -= step * ap[i];
        }
        acc += r[i] * r[i];
      }
      st[CG.RR_NEW] = acc;
    });
  }

  gumbel(s: GumbelSpec): Op {
    checkGumbelSpec(s);
    const n = s.rows * s.k;
    const what = `gumbel.${s.pass}`;
    const arrays: GumbelArrays = { out: span(s.out, 0, n, `${what} out`) };
    if (s.pass !== 'uniform' && s.pass !== 'noise') {
      arrays.logits = span(s.logits, 0, n, `${what} logits`);
      if (s.noise) arrays.noise = span(s.noise, 0, n, `${what} noise`);
      if (s.pass !== 'forward') arrays.direction = span(s.direction, 0, n, `${what} direction`);
    }
    return new CpuOp(s.label ?? what, () => gumbelRows(s, arrays));
  }

  run(ops: readonly Op[]): void {
    this.#execute(ops);
  }

  #execute(ops: readonly Op[]): void {
    this.#check();
    this.stats.submits++;
    for (const op of ops) {
      if (!(op instanceof CpuOp))
        throw new ArgumentError(`run: op ${op.label} belongs to another backend`);
      op.fn();
      this.stats.dispatches++;
    }
  }

  async sync(): Promise<void> {
    this.#check();
  }

  destroy(): void {
    for (const b of [...this.#buffers]) this.destroyBuffer(b);
    this.#destroyed = true;
  }

  #check(): void {
    if (this.#destroyed) throw new DestroyedError('the CPU backend was destroyed');
  }
}
