// The one place that turns WGSL into pipelines and pipelines into replayable
// dispatches: specialises and compiles shaders (cached by family, entry point
// and defines), owns the bind-group layouts, allocates and counts every device
// buffer, and watches for device loss and compile errors. The WebGPU backend
// (src/backend/webgpu.ts) builds its ops from the pieces here.

import {
  DestroyedError,
  DeviceLimitError,
  DeviceLostError,
  ShaderCompileError,
} from '../errors.js';
import type { BackendStats, Buf } from '../backend/types.js';
import { numberLines, specialize, type Defines } from './preprocess.js';

/** A device buffer of f32 elements. */
export class GpuBuf implements Buf {
  destroyed = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly length: number,
    readonly label: string,
  ) {}
}

/** Fields of a shader's uniform `Params` struct, in declaration order. */
export type ParamField = ['u32' | 'f32', number];

/** One dispatch of a prepared op: its pipeline, bind group and grid. */
interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number];
}

export interface PassSpec {
  /** The entry point of the family's .wgsl file. */
  entry: string;
  /** Placeholder values beyond the operand names. */
  defines: Defines;
  /** Workgroups in x and y; a zero-sized grid is skipped. */
  grid: [number, number];
}

export interface KernelSpec {
  /** Shader family: the name of its shaders/*.wgsl file. */
  family: string;
  label: string;
  /** Operand placeholder (A, X, OUT, ...) → buffer; shared buffers are bound once. */
  operands: Record<string, GPUBuffer>;
  params: ParamField[];
  passes: PassSpec[];
  /** Buffers the op allocated for itself (partials) and frees with it. */
  owned?: GPUBuffer[];
  /** User buffers the op reads or writes, checked before each replay. */
  uses: GpuBuf[];
}

export class GpuOp {
  destroyed = false;
  constructor(
    readonly label: string,
    readonly dispatches: Dispatch[],
    readonly owned: GPUBuffer[],
    readonly uses: GpuBuf[],
    private readonly host: KernelHost,
  ) {}
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.owned) this.host.release(b);
    this.host.forget(this);
  }
}

/** How long a failed read waits to learn whether the device was lost. */
const LOST_GRACE_MS = 200;

/** Largest number of staging buffers kept for reuse by `read`. */
const MAX_POOLED_STAGING = 16;

export class KernelHost {
  readonly limits: GPUSupportedLimits;
  #pipelines = new Map<string, GPUComputePipeline>();
  #layouts = new Map<number, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  #buffers = new Set<GPUBuffer>();
  #ops = new Set<GpuOp>();
  #staging = new Map<number, GPUBuffer[]>();
  #stagingCount = 0;
  #checks = new Set<Promise<void>>();
  #error: Error | undefined;
  #lost: DeviceLostError | undefined;
  #lostPromise: Promise<never>;
  #destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly sources: Readonly<Record<string, string>>,
    readonly stats: BackendStats,
  ) {
    this.limits = device.limits;
    this.#lostPromise = device.lost.then((info) => {
      this.#lost ??= new DeviceLostError(
        `the GPU device was lost (${info.reason}): ${info.message || 'no message'}`,
      );
      throw this.#lost;
    });
    // Nobody may await it; keep an unobserved rejection from being reported.
    this.#lostPromise.catch(() => {});
    device.addEventListener('uncapturederror', (e) => {
      this.#error ??= new Error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
  }

  /** Throws if the device is gone or an earlier error is pending. */
  check(): void {
    if (this.#destroyed) throw new DestroyedError('the WebGPU backend was destroyed');
    if (this.#lost) throw this.#lost;
    if (this.#error) throw this.#error;
  }

  /** Resolves once every compile check so far is done; rejects like `check`. */
  async settled(): Promise<void> {
    await Promise.all([...this.#checks]);
    this.check();
  }

  /** Rejects with DeviceLostError instead of waiting forever on a lost device. */
  unlessLost<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.#lostPromise]);
  }

  /**
   * The DeviceLostError when `error` came from losing the device, else
   * `error`. Chromium rejects a pending mapAsync ("unmapped before mapping was
   * resolved") a moment before device.lost resolves, so wait briefly for it.
   */
  async lostOr(error: unknown): Promise<unknown> {
    if (!this.#lost) {
      const pause = new Promise((resolve) => setTimeout(resolve, LOST_GRACE_MS));
      await Promise.race([this.#lostPromise, pause]).catch(() => {});
    }
    return this.#lost ?? error;
  }

  // ---- buffers ----

  /** A device buffer, counted in stats; throws DeviceLimitError past the limits. */
  allocate(bytes: number, usage: GPUBufferUsageFlags, label: string, binding = true): GPUBuffer {
    this.check();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const lim = binding
      ? Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize)
      : this.limits.maxBufferSize;
    if (size > lim) {
      const which =
        binding && lim === this.limits.maxStorageBufferBindingSize
          ? 'maxStorageBufferBindingSize'
          : 'maxBufferSize';
      throw new DeviceLimitError(
        `buffer ${label}: ${size} bytes exceed the device's ${which} of ${lim} bytes`,
      );
    }
    const buffer = this.device.createBuffer({ size, usage, label });
    this.#buffers.add(buffer);
    this.stats.buffersLive++;
    this.stats.bytesLive += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.#buffers.delete(buffer)) return;
    this.stats.buffersLive--;
    this.stats.bytesLive -= buffer.size;
    buffer.destroy();
  }

  /** A MAP_READ buffer of `bytes`, reused from the pool when one is free. */
  takeStaging(bytes: number): GPUBuffer {
    const free = this.#staging.get(bytes);
    const b = free?.pop();
    if (b) {
      this.#stagingCount--;
      return b;
    }
    return this.allocate(
      bytes,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      `staging ${bytes}`,
      false,
    );
  }

  giveStaging(buffer: GPUBuffer): void {
    if (!this.#buffers.has(buffer)) return;
    if (this.#stagingCount >= MAX_POOLED_STAGING) return this.release(buffer);
    const list = this.#staging.get(buffer.size) ?? [];
    list.push(buffer);
    this.#staging.set(buffer.size, list);
    this.#stagingCount++;
  }

  // ---- pipelines ----

  #layout(slots: number) {
    let l = this.#layouts.get(slots);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ];
      for (let i = 0; i < slots; i++)
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: 'storage' },
        });
      const group = this.device.createBindGroupLayout({ label: `${slots} storage`, entries });
      const pipeline = this.device.createPipelineLayout({ bindGroupLayouts: [group] });
      l = { group, pipeline };
      this.#layouts.set(slots, l);
    }
    return l;
  }

  /**
   * The pipeline of `entry` in `family` specialised with `defines`, compiled
   * once. The storage bindings buf0..buf{slots-1} are declared here, ahead of
   * the family's source. Compile errors surface as a ShaderCompileError from
   * the next run, read or sync (WebGPU reports them asynchronously).
   */
  pipeline(family: string, entry: string, defines: Defines, slots: number): GPUComputePipeline {
    const key = `${family}/${entry}/${slots}/${JSON.stringify(defines)}`;
    const cached = this.#pipelines.get(key);
    if (cached) return cached;
    const source = this.sources[family];
    if (source === undefined) throw new ShaderCompileError(`no shader family ${family}`);
    const header = Array.from(
      { length: slots },
      (_, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> buf${i}: array<f32>;`,
    ).join('\n');
    const code = `${header}\n${specialize(source, defines, `${family}.wgsl`)}`;
    const label = `${family}.${entry}`;
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.#layout(slots).pipeline,
      compute: { module, entryPoint: entry },
    });
    const check = this.device.popErrorScope().then(async (err) => {
      if (!err) return;
      const info = await module.getCompilationInfo();
      const messages = info.messages
        .map((m) => `${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`)
        .join('\n');
      this.#error ??= new ShaderCompileError(
        `${label} with ${JSON.stringify(defines)} failed to compile:\n` +
          `${messages || err.message}\n${numberLines(code)}`,
      );
    });
    this.#checks.add(check);
    check.finally(() => this.#checks.delete(check));
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  // ---- ops ----

  /** Builds a replayable op: one uniform buffer and bind group per op. */
  op(spec: KernelSpec): GpuOp {
    this.check();
    // Each distinct buffer gets one binding; operands name their binding.
    const slots: GPUBuffer[] = [];
    const names: Record<string, string> = {};
    for (const [role, buffer] of Object.entries(spec.operands)) {
      let i = slots.indexOf(buffer);
      if (i < 0) i = slots.push(buffer) - 1;
      names[role] = `buf${i}`;
    }
    const uniform = this.#uniform(spec.params, spec.label);
    const layout = this.#layout(slots.length);
    const bindGroup = this.device.createBindGroup({
      label: spec.label,
      layout: layout.group,
      entries: [uniform, ...slots].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const dispatches = spec.passes.map((p) => ({
      pipeline: this.pipeline(spec.family, p.entry, { ...p.defines, ...names }, slots.length),
      bindGroup,
      grid: p.grid,
    }));
    const op = new GpuOp(spec.label, dispatches, [uniform, ...(spec.owned ?? [])], spec.uses, this);
    this.#ops.add(op);
    return op;
  }

  #uniform(fields: ParamField[], label: string): GPUBuffer {
    const data = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
    const u32 = new Uint32Array(data);
    const f32 = new Float32Array(data);
    fields.forEach(([type, v], i) => {
      if (type === 'u32') u32[i] = v;
      else f32[i] = v;
    });
    const buffer = this.allocate(
      data.byteLength,
      GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      `${label} params`,
      false,
    );
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  forget(op: GpuOp): void {
    this.#ops.delete(op);
  }

  /** Records the dispatches of `ops` into one encoder and submits once. */
  run(ops: readonly GpuOp[], after?: (encoder: GPUCommandEncoder) => void): number {
    this.check();
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    let count = 0;
    for (const op of ops) {
      for (const d of op.dispatches) {
        if (d.grid[0] === 0 || d.grid[1] === 0) continue;
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.grid[0], d.grid[1]);
        count++;
      }
    }
    pass.end();
    after?.(encoder);
    this.device.queue.submit([encoder.finish()]);
    return count;
  }

  /**
   * A grid of at least `groups` workgroups within the per-dimension limit:
   * one row when it fits, else as square as needed (kernels index by
   * wid.y · groups.x + wid.x and skip what lies past the end).
   */
  grid(groups: number, what: string): [number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= max) return [groups, 1];
    const rows = Math.ceil(groups / max);
    if (rows > max)
      throw new DeviceLimitError(
        `${what}: ${groups} workgroups exceed the device's ${max}×${max} grid`,
      );
    return [Math.ceil(groups / rows), rows];
  }

  /** Frees every buffer and op; the device itself is the caller's. */
  destroy(): void {
    for (const op of [...this.#ops]) op.destroy();
    for (const b of [...this.#buffers]) this.release(b);
    this.#staging.clear();
    this.#stagingCount = 0;
    this.#pipelines.clear();
    this.#destroyed = true;
  }
}
