// The WebGPU backend's plumbing rather than its arithmetic: submit and
// dispatch counts, memory that stays flat under replay and readback, empty
// sizes, limits, compile errors, and device loss (kernels.test.ts checks the
// numbers).

import { describe, expect, test } from 'vitest';
import { CG, CG_STATE_LENGTH } from '../src/backend/types.js';
import { matmulTiles, WebGpuBackend } from '../src/backend/webgpu.js';
import {
  ArgumentError,
  DestroyedError,
  DeviceLimitError,
  DeviceLostError,
  ShaderCompileError,
  ShapeError,
} from '../src/errors.js';
import { KernelHost } from '../src/gpu/kernel-host.js';
import { getBackends, poison } from './helpers/backends.js';

describe('WebGPU backend runtime', () => {
  test('matmul tiles narrow to thin results and still cover C', () => {
    const base = { wgX: 8, wgY: 8, tm: 4, tn: 8 };
    for (const m of [1, 2, 5, 31, 32, 33, 294, 1000])
      for (const n of [1, 3, 4, 5, 17, 63, 64, 65, 300]) {
        const t = matmulTiles(m, n, base);
        expect(t.tn % 4, `${m}×${n}`).toBe(0);
        expect(t.wgX * t.wgY).toBeLessThanOrEqual(64);
        // A tile wider (taller) than C is at most twice C, rounded up to a vec4.
        const cols = t.wgX * t.tn;
        const rows = t.wgY * t.tm;
        if (cols > n) expect(cols, `${m}×${n} columns`).toBeLessThanOrEqual(Math.max(4, 2 * n));
        if (rows > m) expect(rows, `${m}×${n} rows`).toBeLessThanOrEqual(2 * m);
        if (n >= 64 && m >= 32) expect(t).toEqual(base);
      }
    // The MLP's output layer, 294 × 1: one column of 4, not 64.
    expect(matmulTiles(294, 1, base)).toMatchObject({ wgX: 1, tn: 4 });
    expect(matmulTiles(1, 64, base)).toMatchObject({ wgY: 1, tm: 1 });
  });

  test('describes its adapter', async () => {
    const { gpu } = await getBackends();
    expect(gpu.kind).toBe('webgpu');
    expect(gpu.eps).toBe(2 ** -24);
    expect(gpu.info.length).toBeGreaterThan(0);
  });

  test('runRead records the ops and the readback copy into one submit', async () => {
    const { gpu } = await getBackends();
    const x = gpu.createBuffer(300);
    const out = gpu.createBuffer(2);
    const ops = [
      gpu.axpby({ n: 300, a: 2, b: 0, z: x }),
      gpu.reduce({ n: 300, x, out, outIndex: 1 }),
    ];
    const before = { ...gpu.stats };
    const r = await gpu.runRead(ops, out);
    expect(gpu.stats.submits - before.submits).toBe(1);
    expect(gpu.stats.readbacks - before.readbacks).toBe(1);
    expect(gpu.stats.dispatches - before.dispatches).toBe(3);
    expect(Array.from(r)).toEqual([0, 1200]);
    for (const op of ops) op.destroy();
    gpu.destroyBuffer(x);
    gpu.destroyBuffer(out);
  });

  test('run records every op into one submit', async () => {
    const { gpu } = await getBackends();
    const x = gpu.createBuffer(1000);
    const out = gpu.createBuffer(1);
    const ops = [
      gpu.axpby({ n: 1000, a: 1, b: 0, z: x }),
      gpu.reduce({ n: 1000, x, out }),
      gpu.matmul({ m: 1, n: 1, k: 1000, a: x, b: x, c: out, accumulate: true }),
    ];
    const before = { ...gpu.stats };
    gpu.run(ops);
    expect(gpu.stats.submits - before.submits).toBe(1);
    // axpby 1, reduce 2 (partials + final pass), matmul 1.
    expect(gpu.stats.dispatches - before.dispatches).toBe(4);
    expect(Array.from(await gpu.read(out))).toEqual([2000]);
    for (const op of ops) op.destroy();
    gpu.destroyBuffer(x);
    gpu.destroyBuffer(out);
  });

  test('replaying ops and reading back allocate nothing', async () => {
    const { gpu } = await getBackends();
    const state = gpu.createBuffer(CG_STATE_LENGTH);
    const [x, p, r, ap] = [0, 1, 2, 3].map(() => gpu.createBuffer(5000));
    const loop = [
      gpu.cgScalar({ state, mode: 'alpha', rtol: 1e-6, atol: 0, radius: 0, maxIter: 100 }),
      gpu.cgUpdate({ n: 5000, x, p, r, ap, state }),
      gpu.cgScalar({ state, mode: 'beta', rtol: 1e-6, atol: 0, radius: 0, maxIter: 100 }),
    ];
    gpu.run(loop);
    await gpu.read(state, CG.RR, 1);
    const live = { bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive };
    for (let i = 0; i < 50; i++) {
      gpu.run(loop);
      if (i % 5 === 0) await gpu.read(state, CG.RR, 1);
    }
    await gpu.sync();
    expect({ bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive }).toEqual(live);

    // Destroying the ops and buffers returns every byte.
    for (const op of loop) op.destroy();
    for (const b of [state, x, p, r, ap]) gpu.destroyBuffer(b);
    expect(gpu.stats.bytesLive).toBeLessThan(live.bytes);
  });

  test('memory returns to its baseline after ops and buffers are destroyed', async () => {
    const { gpu } = await getBackends();
    await gpu.sync();
    const base = { bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive };
    const a = gpu.createBuffer(100);
    const c = gpu.createBuffer(100);
    const op = gpu.reduce({ n: 100, x: a, out: c });
    expect(gpu.stats.buffersLive).toBe(base.buffers + 4); // a, c, uniform, partials
    op.destroy();
    gpu.destroyBuffer(a);
    gpu.destroyBuffer(c);
    expect({ bytes: gpu.stats.bytesLive, buffers: gpu.stats.buffersLive }).toEqual(base);
    expect(() => gpu.run([op])).toThrow(DestroyedError);
  });

  test('empty sizes: n = 0 is a no-op, an empty sum is 0', async () => {
    const { gpu } = await getBackends();
    const out = gpu.createBuffer(2);
    poison(gpu, out);
    const empty = gpu.createBuffer(0);
    const state = gpu.createBuffer(CG_STATE_LENGTH);
    poison(gpu, state);
    const act = { kind: 'tanh' } as const;
    gpu.run([
      gpu.axpby({ n: 0, a: 1, x: empty, b: 1, y: empty, z: empty }),
      gpu.activation({ act, mode: 'value', n: 0, z: empty, out: empty }),
      gpu.matmul({ m: 0, n: 2, k: 3, a: empty, b: state, c: empty }),
      gpu.reduce({ n: 0, x: empty, out, outIndex: 1 }),
      gpu.cgUpdate({ n: 0, x: empty, p: empty, r: empty, ap: empty, state }),
    ]);
    expect((await gpu.read(out))[1]).toBe(0);
    expect((await gpu.read(state, CG.RR_NEW, 1))[0]).toBe(0);
    expect((await gpu.read(empty)).length).toBe(0);

    // k = 0: C = bias (the empty product is 0).
    const bias = gpu.createBuffer(2);
    gpu.write(bias, [3, -4]);
    const c = gpu.createBuffer(4);
    poison(gpu, c);
    gpu.run([gpu.matmul({ m: 2, n: 2, k: 0, a: empty, b: empty, c, bias })]);
    expect(Array.from(await gpu.read(c))).toEqual([3, -4, 3, -4]);
  });

  test('operands outside their buffers or from another backend are refused', async () => {
    const { cpu, gpu } = await getBackends();
    const a = gpu.createBuffer(6);
    expect(() => gpu.matmul({ m: 2, n: 2, k: 2, a, aOffset: 3, b: a, c: a })).toThrow(ShapeError);
    expect(() => gpu.axpby({ n: 2, a: 1, x: cpu.createBuffer(2), b: 0, z: a })).toThrow(
      ArgumentError,
    );
    expect(() => gpu.reduce({ n: 1, x: a, out: a, sqrt: true, accumulate: true })).toThrow(
      ArgumentError,
    );
    gpu.destroyBuffer(a);
    await expect(gpu.read(a)).rejects.toThrow(DestroyedError);
  });

  test('buffers past the device limits throw DeviceLimitError', async () => {
    const { gpu } = await getBackends();
    const limit = gpu.device.limits.maxStorageBufferBindingSize;
    const n = Math.floor(limit / 4) + 1;
    expect(() => gpu.createBuffer(n, 'huge')).toThrow(DeviceLimitError);
    expect(() => gpu.createBuffer(n, 'huge')).toThrow(String(limit));
  });

  test('compile errors show the compiler messages and the numbered source', async () => {
    const { gpu } = await getBackends();
    const stats = { submits: 0, dispatches: 0, readbacks: 0, bytesLive: 0, buffersLive: 0 };
    const host = new KernelHost(
      gpu.device,
      { broken: 'fn f() -> f32 {\n  return undefinedName;\n}' },
      stats,
    );
    host.pipeline('broken', 'f', {}, 0);
    const err = await host.settled().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect(String((err as Error).message)).toContain('undefinedName');
    expect(String((err as Error).message)).toMatch(/\n\s*3:   return undefinedName;/);
    host.destroy();
  });

  test('a lost device rejects pending and later calls instead of hanging', async () => {
    const gpu = await WebGpuBackend.create();
    const b = gpu.createBuffer(1000);
    gpu.run([gpu.axpby({ n: 1000, a: 2, b: 0, z: b })]);
    const pending = gpu.read(b);
    gpu.device.destroy();
    await expect(pending).rejects.toThrow(DeviceLostError);
    await expect(gpu.read(b)).rejects.toThrow(DeviceLostError);
    await expect(gpu.sync()).rejects.toThrow(DeviceLostError);
    expect(() => gpu.run([])).toThrow(DeviceLostError);
    expect(() => gpu.createBuffer(4)).toThrow(DeviceLostError);
    gpu.destroy();
  });

  test('a backend on a caller-owned device leaves the device alive', async () => {
    const { gpu } = await getBackends();
    const mine = new WebGpuBackend(gpu.device, 'shared device');
    const x = mine.createBuffer(3);
    mine.write(x, [1, 2, 3]);
    expect(Array.from(await mine.read(x))).toEqual([1, 2, 3]);
    mine.destroy();
    expect(mine.stats.buffersLive).toBe(0);
    const y = gpu.createBuffer(1);
    expect(Array.from(await gpu.read(y))).toEqual([0]);
    gpu.destroyBuffer(y);
  });
});
