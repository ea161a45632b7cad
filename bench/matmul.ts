// Matmul throughput of the WebGPU backend at 512×512×512 (and any size given
// as `m n k` arguments): median GFLOP/s over repeats after a warm-up, one
// submit and one sync per repeat. Run with `npm run bench:matmul`; tuning as
// JSON in MATMUL_TUNING, e.g. '{"wgX":16,"wgY":16,"tm":4,"tn":4}'.

import { WebGpuBackend } from '../src/backend/webgpu.js';

const [m, n, k] = process.argv.length >= 5 ? process.argv.slice(2, 5).map(Number) : [512, 512, 512];
const repeats = Number(process.env.REPEATS ?? 7);
const matmul = process.env.MATMUL_TUNING ? JSON.parse(process.env.MATMUL_TUNING) : undefined;

const gpu = await WebGpuBackend.create({ tuning: matmul ? { matmul } : undefined });
const a = gpu.createBuffer(m * k, 'A');
const b = gpu.createBuffer(k * n, 'B');
const c = gpu.createBuffer(m * n, 'C');
gpu.write(
  a,
  Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 13) / 13 - 0.5),
);
gpu.write(
  b,
  Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 11) / 11 - 0.5),
);
const op = gpu.matmul({ m, n, k, a, b, c });

// Warm-up: pipeline compilation and first-touch costs.
gpu.run([op]);
await gpu.sync();

const seconds: number[] = [];
for (let i = 0; i < repeats; i++) {
  const t0 = performance.now();
  gpu.run([op]);
  await gpu.sync();
  seconds.push((performance.now() - t0) / 1000);
}
seconds.sort((x, y) => x - y);
const median = seconds[Math.floor(seconds.length / 2)];
const gflops = (2 * m * n * k) / median / 1e9;
console.log(
  JSON.stringify({
    adapter: gpu.info,
    shape: [m, n, k],
    tuning: gpu.tuning.matmul,
    repeats,
    medianMs: +(median * 1000).toFixed(2),
    gflops: +gflops.toFixed(3),
  }),
);
gpu.destroy();
