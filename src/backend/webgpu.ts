// The f32 WebGPU backend: every op of types.ts as one or two compute
// dispatches of the kernels in shaders/, prepared once (pipeline, bind group,
// uniform buffer) and replayed by `run` with one submit. cpu.ts is its float64
// twin; test/kernels.test.ts holds the two to the accuracy f32 allows.

import { ArgumentError, DestroyedError, ShapeError } from '../errors.js';
import { GpuBuf, GpuOp, KernelHost, type ParamField } from '../gpu/kernel-host.js';
import { requestGpu, type RequestGpuOptions } from '../gpu/runtime.js';
import { SHADER_SOURCES } from '../gpu/shaders.gen.js';
import { checkGumbelSpec } from './gumbel.js';
import {
  CG,
  type ActivationSpec,
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

/** Workgroup shapes; the defaults suit CPU adapters and real GPUs alike. */
export interface WebGpuTuning {
  /** Invocations per workgroup of the element-wise kernels. */
  workgroupSize: number;
  /**
   * Reductions: invocations per workgroup (a power of two) and elements each
   * invocation sums before the workgroup's tree.
   */
  reduce: { workgroupSize: number; items: number };
  /**
   * Matmul workgroup of wgX × wgY invocations, each computing a tm × tn block
   * of C (tn a multiple of 4: columns are held in vec4 registers).
   */
  matmul: { wgX: number; wgY: number; tm: number; tn: number };
}

export const DEFAULT_TUNING: WebGpuTuning = {
  workgroupSize: 256,
  reduce: { workgroupSize: 64, items: 16 },
  matmul: { wgX: 8, wgY: 8, tm: 4, tn: 8 },
};

export interface WebGpuBackendOptions extends RequestGpuOptions {
  tuning?: Partial<WebGpuTuning>;
}

/**
 * The tile of one matmul: the tuning's, narrowed to a thin result so that a
 * workgroup does not compute (clamped, discarded) columns or rows past C.
 * A tile of the default 32 × 64 on the MLP's 294 × 1 output layer computed 64
 * columns for one (the product cost as much as the 294 × 64 × 64 one on
 * SwiftShader); its weight adjoint, 1 × 64, computed 32 rows for one.
 * Columns are narrowed first (tn to the multiple of 4 that covers n, at
 * least 4, and wgX to the power of two that covers the rest), the
 * invocations freed go to wgY, and then rows are narrowed the same way.
 */
export function matmulTiles(m: number, n: number, base: WebGpuTuning['matmul']) {
  let { wgX, wgY, tm, tn } = base;
  const invocations = wgX * wgY;
  if (n < wgX * tn) {
    tn = Math.min(tn, 4 * Math.ceil(Math.max(n, 1) / 4));
    wgX = Math.min(wgX, pow2Ceil(Math.ceil(n / tn)));
    wgY = Math.max(1, Math.floor(invocations / wgX));
  }
  if (m < wgY * tm) {
    tm = Math.max(1, Math.min(tm, m));
    wgY = Math.min(wgY, pow2Ceil(Math.ceil(m / tm)));
  }
  return { wgX, wgY, tm, tn };
}

function pow2Ceil(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}

/** Placeholder value of an operand an entry point does not use. */
const UNBOUND = 'unbound';

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly eps = 2 ** -24;
  readonly stats: BackendStats = {
    submits: 0,
    dispatches: 0,
    readbacks: 0,
    bytesLive: 0,
    buffersLive: 0,
  };
  readonly tuning: WebGpuTuning;
  /** The kernel host; exposed for tests and benchmarks. */
  readonly host: KernelHost;
  #buffers = new Set<GpuBuf>();
  #ownsDevice: boolean;

  /**
   * A backend on an existing device (a browser app passes its own). The
   * device stays the caller's: `destroy` frees the backend's buffers only,
   * unless `ownsDevice`.
   */
  constructor(
    readonly device: GPUDevice,
    readonly info = 'WebGPU device',
    opts: { tuning?: Partial<WebGpuTuning>; ownsDevice?: boolean } = {},
  ) {
    this.tuning = { ...DEFAULT_TUNING, ...opts.tuning };
    const { workgroupSize: wg } = this.tuning.reduce;
    if (this.tuning.matmul.tn % 4 !== 0)
      throw new ArgumentError(
        `tuning: matmul.tn must be a multiple of 4, got ${this.tuning.matmul.tn}`,
      );
    if (!Number.isInteger(Math.log2(wg)))
      throw new ArgumentError(`tuning: reduce.workgroupSize must be a power of two, got ${wg}`);
    this.host = new KernelHost(device, SHADER_SOURCES, this.stats);
    this.#ownsDevice = opts.ownsDevice ?? false;
  }

  /** Requests an adapter and device (runtime.ts) and builds a backend on them. */
  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const { device, info } = await requestGpu(opts);
    return new WebGpuBackend(device, info, { tuning: opts.tuning, ownsDevice: true });
  }

  // ---- buffers ----

  createBuffer(length: number, label = 'buffer'): Buf {
    if (!Number.isInteger(length) || length < 0)
      throw new ArgumentError(`createBuffer: length must be a non-negative integer, got ${length}`);
    const b = new GpuBuf(this.host.allocate(length * 4, STORAGE(), label), length, label);
    this.#buffers.add(b);
    return b;
  }

  write(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    const b = this.#span(buf, offset, data.length, 'write');
    this.host.check();
    if (data.length === 0) return;
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    this.device.queue.writeBuffer(b.buffer, offset * 4, f32);
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
    const b = this.#span(buf, offset, length, 'read');
    this.#checkOps(ops, 'runRead');
    this.host.check();
    this.stats.readbacks++;
    this.stats.submits++;
    if (length === 0) {
      if (ops.length) this.stats.dispatches += this.host.run(ops as readonly GpuOp[]);
      return new Float64Array(0);
    }
    const bytes = length * 4;
    const staging = this.host.takeStaging(bytes);
    this.stats.dispatches += this.host.run(ops as readonly GpuOp[], (encoder) =>
      encoder.copyBufferToBuffer(b.buffer, offset * 4, staging, 0, bytes),
    );
    try {
      await this.host.unlessLost(staging.mapAsync(GPUMapMode.READ, 0, bytes));
      const out = new Float64Array(new Float32Array(staging.getMappedRange(0, bytes)));
      staging.unmap();
      this.host.giveStaging(staging);
      this.host.check();
      return out;
    } catch (e) {
      this.host.release(staging);
      throw await this.host.lostOr(e);
    }
  }

  destroyBuffer(buf: Buf): void {
    const b = buf as GpuBuf;
    if (!(b instanceof GpuBuf) || b.destroyed || !this.#buffers.delete(b)) return;
    b.destroyed = true;
    this.host.release(b.buffer);
  }

  // ---- ops ----

  matmul(s: MatmulSpec): Op {
    const { m, n, k } = s;
    for (const [name, v] of [
      ['m', m],
      ['n', n],
      ['k', k],
    ] as const)
      if (!Number.isInteger(v) || v < 0)
        throw new ArgumentError(`matmul: ${name} must be a non-negative integer, got ${v}`);
    const a = this.#span(s.a, s.aOffset ?? 0, m * k, 'matmul A');
    const b = this.#span(s.b, s.bOffset ?? 0, k * n, 'matmul B');
    const c = this.#span(s.c, s.cOffset ?? 0, m * n, 'matmul C');
    const bias = s.bias ? this.#span(s.bias, s.biasOffset ?? 0, n, 'matmul bias') : undefined;
    const t = matmulTiles(m, n, this.tuning.matmul);
    const label = s.label ?? 'matmul';
    const gx = Math.ceil(n / (t.wgX * t.tn));
    const gy = Math.ceil(m / (t.wgY * t.tm));
    const max = this.host.limits.maxComputeWorkgroupsPerDimension;
    if (gx > max || gy > max)
      throw new ShapeError(
        `${label}: a ${m}×${n} result needs ${gx}×${gy} workgroups, past the device's ${max} per dimension`,
      );
    return this.host.op({
      family: 'matmul',
      label,
      operands: { A: a.buffer, B: b.buffer, C: c.buffer, BIAS: (bias ?? c).buffer },
      params: [
        ['u32', m],
        ['u32', n],
        ['u32', k],
        ['u32', s.aOffset ?? 0],
        ['u32', s.bOffset ?? 0],
        ['u32', s.cOffset ?? 0],
        ['u32', s.biasOffset ?? 0],
        ['f32', s.alpha ?? 1],
      ],
      passes: [
        {
          entry: 'matmulBlocked',
          defines: {
            WG_X: t.wgX,
            WG_Y: t.wgY,
            TM: t.tm,
            TN: t.tn,
            TRANS_A: !!s.transA,
            TRANS_B: !!s.transB,
            HAS_BIAS: !!bias,
            ACCUMULATE: !!s.accumulate,
          },
          grid: [gx, gy],
        },
      ],
      uses: bias ? [a, b, c, bias] : [a, b, c],
    });
  }

  activation(s: ActivationSpec): Op {
    const { n } = s;
    const z = this.#span(s.z, 0, n, 'activation z');
    const out = this.#span(s.out, 0, n, 'activation out');
    const operands: Record<string, GPUBuffer> = { Z: z.buffer, OUT: out.buffer };
    const uses = [z, out];
    let entry: string;
    const mode = { VALUE: false, DERIV_MUL: false, TANGENT_BACKWARD: false };
    const names = { G: UNBOUND, GDOT: UNBOUND, ZDOT: UNBOUND };
    switch (s.mode) {
      case 'value':
        entry = 'activationValue';
        mode.VALUE = true;
        break;
      case 'derivMul': {
        entry = 'activationDerivMul';
        mode.DERIV_MUL = true;
        const g = this.#span(s.g, 0, n, 'activation g');
        operands.G = g.buffer;
        uses.push(g);
        break;
      }
      case 'tangentBackward': {
        entry = 'activationTangentBackward';
        mode.TANGENT_BACKWARD = true;
        for (const [role, buf] of [
          ['ZDOT', s.zdot],
          ['G', s.g],
          ['GDOT', s.gdot],
        ] as const) {
          const b = this.#span(buf, 0, n, `activation ${role.toLowerCase()}`);
          operands[role] = b.buffer;
          uses.push(b);
        }
        break;
      }
    }
    for (const role of Object.keys(operands)) delete names[role as keyof typeof names];
    const label = s.label ?? `act.${s.mode}`;
    const wg = this.tuning.workgroupSize;
    return this.host.op({
      family: 'activation',
      label,
      operands,
      params: [
        ['u32', n],
        ['f32', s.act.kind === 'leaky_relu' ? s.act.slope : 0],
      ],
      passes: [
        {
          entry,
          defines: {
            WG: wg,
            LEAKY_RELU: s.act.kind === 'leaky_relu',
            TANH: s.act.kind === 'tanh',
            ...mode,
            ...names,
          },
          grid: this.host.grid(Math.ceil(n / wg), label),
        },
      ],
      uses,
    });
  }

  axpby(s: AxpbySpec): Op {
    const { n } = s;
    const label = s.label ?? 'axpby';
    const z = this.#span(s.z, s.zOffset ?? 0, n, 'axpby z');
    const readX = s.a !== 0;
    const readY = s.b !== 0;
    const x = readX && s.x ? this.#span(s.x, s.xOffset ?? 0, n, 'axpby x') : undefined;
    const y = readY ? this.#span(s.y, s.yOffset ?? 0, n, 'axpby y') : undefined;
    const a = this.#coef(s.a, 'axpby a');
    const b = this.#coef(s.b, 'axpby b');
    const operands: Record<string, GPUBuffer> = { Z: z.buffer };
    if (x) operands.X = x.buffer;
    if (y) operands.Y = y.buffer;
    if (a.buf) operands.A_BUF = a.buf.buffer;
    if (b.buf) operands.B_BUF = b.buf.buffer;
    const names = { X: UNBOUND, Y: UNBOUND, A_BUF: UNBOUND, B_BUF: UNBOUND };
    for (const role of Object.keys(operands)) delete names[role as keyof typeof names];
    const wg = this.tuning.workgroupSize;
    return this.host.op({
      family: 'vector',
      label,
      operands,
      params: [
        ['u32', n],
        ['u32', s.xOffset ?? 0],
        ['u32', s.yOffset ?? 0],
        ['u32', s.zOffset ?? 0],
        ['f32', a.value],
        ['f32', b.value],
        ['u32', a.index],
        ['u32', b.index],
      ],
      passes: [
        {
          entry: 'axpby',
          defines: {
            WG: wg,
            READ_X: readX,
            HAS_X: !!x,
            READ_Y: readY,
            A_FROM_BUF: !!a.buf,
            B_FROM_BUF: !!b.buf,
            ...names,
          },
          grid: this.host.grid(Math.ceil(n / wg), label),
        },
      ],
      uses: [z, x, y, a.buf, b.buf].filter((u): u is GpuBuf => u !== undefined),
    });
  }

  reduce(s: ReduceSpec): Op {
    if (s.sqrt && s.accumulate)
      throw new ArgumentError('reduce: sqrt and accumulate exclude each other');
    const { n } = s;
    const xo = s.xOffset ?? 0;
    const x = this.#span(s.x, xo, n, 'reduce x');
    const y = s.y ? this.#span(s.y, s.yOffset ?? 0, n, 'reduce y') : x;
    const oi = s.outIndex ?? 0;
    const out = this.#span(s.out, oi, 1, 'reduce out');
    return this.#twoPass({
      label: s.label ?? 'reduce',
      n,
      entry: 'dotPartials',
      operands: { X: x.buffer, Y: y.buffer, OUT: out.buffer },
      params: {
        xOffset: xo,
        yOffset: s.y ? (s.yOffset ?? 0) : xo,
        outIndex: oi,
        scale: s.scale ?? 1,
      },
      defines: { DOT: true, CG_UPDATE: false, SQRT: !!s.sqrt, ACCUMULATE: !!s.accumulate },
      uses: [x, y, out],
    });
  }

  cgScalar(s: CgScalarSpec): Op {
    const st = this.#span(s.state, 0, CG.STOP + 1, 'cgScalar state');
    const modes = { INIT: false, START: false, ALPHA: false, BETA: false };
    modes[s.mode.toUpperCase() as keyof typeof modes] = true;
    const entry = `cg${s.mode[0].toUpperCase()}${s.mode.slice(1)}`;
    return this.host.op({
      family: 'cg',
      label: s.label ?? `cg.${s.mode}`,
      operands: { STATE: st.buffer },
      params: [
        ['f32', s.rtol],
        ['f32', s.atol],
        ['f32', s.radius],
        ['f32', s.maxIter],
      ],
      passes: [{ entry, defines: modes, grid: [1, 1] }],
      uses: [st],
    });
  }

  cgUpdate(s: CgUpdateSpec): Op {
    const { n } = s;
    const bufs = {
      X: this.#span(s.x, 0, n, 'cgUpdate x'),
      P: this.#span(s.p, 0, n, 'cgUpdate p'),
      R: this.#span(s.r, 0, n, 'cgUpdate r'),
      AP: this.#span(s.ap, 0, n, 'cgUpdate ap'),
      STATE: this.#span(s.state, 0, CG.STOP + 1, 'cgUpdate state'),
    };
    return this.#twoPass({
      label: s.label ?? 'cg.update',
      n,
      entry: 'cgUpdatePartials',
      operands: {
        X: bufs.X.buffer,
        P: bufs.P.buffer,
        R: bufs.R.buffer,
        AP: bufs.AP.buffer,
        STATE: bufs.STATE.buffer,
        OUT: bufs.STATE.buffer,
      },
      params: { xOffset: 0, yOffset: 0, outIndex: CG.RR_NEW, scale: 1 },
      defines: {
        DOT: false,
        CG_UPDATE: true,
        SQRT: false,
        ACCUMULATE: false,
        STEP_INDEX: CG.STEP,
        Y: UNBOUND,
      },
      uses: Object.values(bufs),
    });
  }

  gumbel(s: GumbelSpec): Op {
    checkGumbelSpec(s);
    const n = s.rows * s.k;
    const what = s.label ?? `gumbel.${s.pass}`;
    const out = this.#span(s.out, 0, n, `${what} out`);
    const operands: Record<string, GPUBuffer> = { OUT: out.buffer };
    const uses = [out];
    const bind = (role: string, buf: Buf | undefined) => {
      const b = this.#span(buf, 0, n, `${what} ${role.toLowerCase()}`);
      operands[role] = b.buffer;
      uses.push(b);
    };
    let seed = 0;
    let tau = 1;
    if (s.pass === 'uniform' || s.pass === 'noise') seed = s.seed;
    else {
      bind('Z', s.logits);
      if (s.noise) bind('NOISE', s.noise);
      if (s.pass !== 'forward') bind('DIR', s.direction);
      seed = s.seed ?? 0;
      tau = s.tau;
    }
    const names = { Z: UNBOUND, NOISE: UNBOUND, DIR: UNBOUND };
    for (const role of Object.keys(operands)) delete names[role as keyof typeof names];
    const passes = {
      uniform: ['gumbelSample', 'SAMPLE'],
      noise: ['gumbelSample', 'SAMPLE'],
      forward: ['gumbelForward', 'FORWARD'],
      backward: ['gumbelJacobianProduct', 'JACOBIAN'],
      tangent: ['gumbelJacobianProduct', 'JACOBIAN'],
    } as const;
    const [entry, define] = passes[s.pass];
    const modes = { SAMPLE: false, FORWARD: false, JACOBIAN: false };
    modes[define] = true;
    const wg = this.tuning.workgroupSize;
    return this.host.op({
      family: 'gumbel',
      label: what,
      operands,
      params: [
        ['u32', s.rows],
        ['u32', s.k],
        ['u32', seed],
        ['f32', tau],
      ],
      passes: [
        {
          entry,
          defines: {
            WG: wg,
            ...modes,
            NOISE_PASS: s.pass === 'noise',
            SOFTMAX: modes.FORWARD || modes.JACOBIAN,
            FROM_SEED: s.pass !== 'uniform' && s.pass !== 'noise' && s.seed !== undefined,
            HARD: s.pass === 'forward' && s.hard,
            ...names,
          },
          grid: this.host.grid(Math.ceil(s.rows / wg), what),
        },
      ],
      uses,
    });
  }

  /**
   * A reduction of n elements (reduce.wgsl): pass 1 (`entry`) leaves one
   * partial sum per workgroup in a buffer the op owns, pass 2 (finishSum)
   * sums them in one workgroup into OUT[outIndex].
   */
  #twoPass(r: {
    label: string;
    n: number;
    entry: string;
    operands: Record<string, GPUBuffer>;
    params: { xOffset: number; yOffset: number; outIndex: number; scale: number };
    defines: Record<string, string | number | boolean>;
    uses: GpuBuf[];
  }): Op {
    const { workgroupSize: wg, items } = this.tuning.reduce;
    const grid = this.host.grid(Math.ceil(r.n / (wg * items)), r.label);
    const partialCount = grid[0] * grid[1];
    const partials = this.host.allocate(partialCount * 4, STORAGE(), `${r.label} partials`);
    const all = ['X', 'Y', 'P', 'R', 'AP', 'STATE', 'STEP_INDEX'];
    const unbound = Object.fromEntries(
      all.filter((k) => !(k in r.operands) && !(k in r.defines)).map((k) => [k, UNBOUND]),
    );
    const defines = { WG: wg, ITEMS: items, ...r.defines, ...unbound };
    try {
      return this.host.op({
        family: 'reduce',
        label: r.label,
        operands: { ...r.operands, PARTIALS: partials },
        params: [
          ['u32', r.n],
          ['u32', r.params.xOffset],
          ['u32', r.params.yOffset],
          ['u32', partialCount],
          ['u32', r.params.outIndex],
          ['f32', r.params.scale],
        ],
        passes: [
          { entry: r.entry, defines, grid },
          { entry: 'finishSum', defines, grid: [1, 1] },
        ],
        owned: [partials],
        uses: r.uses,
      });
    } catch (e) {
      this.host.release(partials);
      throw e;
    }
  }

  run(ops: readonly Op[]): void {
    this.#checkOps(ops, 'run');
    this.stats.dispatches += this.host.run(ops as readonly GpuOp[]);
    this.stats.submits++;
  }

  #checkOps(ops: readonly Op[], what: string): void {
    for (const op of ops) {
      if (!(op instanceof GpuOp))
        throw new ArgumentError(`${what}: op ${op.label} belongs to another backend`);
      if (op.destroyed) throw new DestroyedError(`${what}: op ${op.label} was destroyed`);
      for (const b of op.uses)
        if (b.destroyed)
          throw new DestroyedError(
            `${what}: op ${op.label} uses buffer ${b.label}, which was destroyed`,
          );
    }
  }

  async sync(): Promise<void> {
    this.host.check();
    await this.host.unlessLost(this.device.queue.onSubmittedWorkDone());
    await this.host.settled();
  }

  destroy(): void {
    for (const b of [...this.#buffers]) this.destroyBuffer(b);
    this.host.destroy();
    if (this.#ownsDevice) this.device.destroy();
  }

  // ---- checks ----

  /** Checks that [offset, offset + n) lies inside buf (as cpu.ts's span). */
  #span(buf: Buf | undefined, offset: number, n: number, what: string): GpuBuf {
    if (!buf) throw new ArgumentError(`${what}: buffer missing`);
    const b = buf as GpuBuf;
    if (!(b instanceof GpuBuf) || !this.#buffers.has(b)) {
      if (b instanceof GpuBuf && b.destroyed)
        throw new DestroyedError(`${what}: buffer ${buf.label} was destroyed`);
      throw new ArgumentError(`${what}: buffer ${buf.label} belongs to another backend`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + n > b.length)
      throw new ShapeError(
        `${what}: needs elements [${offset}, ${offset + n}) of buffer ${buf.label}, which has ${b.length}`,
      );
    return b;
  }

  /** A coefficient as a uniform value (the scale, for a buffer element) and its buffer. */
  #coef(c: Coef, what: string): { value: number; buf?: GpuBuf; index: number } {
    if (typeof c === 'number') return { value: c, index: 0 };
    return { value: c.scale ?? 1, buf: this.#span(c.buf, c.index, 1, what), index: c.index };
  }
}
