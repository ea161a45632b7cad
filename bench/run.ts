// `npm run bench`: the whole benchmark in one run. Node: our costs on the
// float64 CPU backend and on WebGPU through Dawn, the growth grid, and the
// PyTorch peer (bench/torch_hypergrad.py, when /usr/bin/python3 has torch).
// Headless Chromium (playwright-core + a vite-served page, bench/browser/):
// our WebGPU backend beside jax-js and tfjs-backend-webgpu on one adapter.
// Writes bench/results/<date>.json and .md (or under $OUT/bench-results when
// OUT is set).
//
// Flags: --quick (smaller sizes, for a smoke test or a slow machine),
// --large (adds n = 100,000 and width 512 to the growth grid: minutes per
// HVP on SwiftShader, seconds on a real GPU), --node-only (no browser),
// --no-torch, --browser-only (only the Chromium half, for working on it).

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, WebGpuBackend, type Backend } from '../src/index.js';
import { generatedRows, hvpDirection, relDiff, type CaseB } from './measure.js';
import { renderMarkdown } from './report.js';
import * as S from './suite.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick') || process.env.BENCH_QUICK === '1';
const nodeOnly = args.has('--node-only');
const large = args.has('--large') || process.env.BENCH_LARGE === '1';
const PYTHON = '/usr/bin/python3';

/** Sizes of everything, chosen so a full run fits ~10 minutes on SwiftShader. */
const SIZES = quick
  ? {
      bigRows: 2000,
      matmulRows: 1000,
      cgMemoryIterations: 500,
      growth: [
        { rows: 25, width: 64 },
        { rows: 1000, width: 64 },
        { rows: 1000, width: 16 },
      ],
    }
  : {
      bigRows: 10_000,
      matmulRows: 10_000,
      cgMemoryIterations: 5000,
      growth: [
        { rows: 25, width: 64 },
        { rows: 1000, width: 64 },
        { rows: 10_000, width: 64 },
        ...(large ? [{ rows: 100_000, width: 64 }] : []),
        { rows: 1000, width: 16 },
        { rows: 1000, width: 256 },
        ...(large ? [{ rows: 1000, width: 512 }] : []),
      ],
    };

const started = performance.now();
const log = (msg: string) =>
  console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);

const caseB: CaseB = S.caseBFromJson(
  JSON.parse(readFileSync(join(root, 'test/fixtures/reference/caseB_mlp_leakyrelu.json'), 'utf8')),
);
const big = generatedRows(SIZES.bigRows, caseB.sizes[0]);
const v = hvpDirection(caseB.wStar.length);
const matmulShapes = S.mlpMatmulShapes(SIZES.matmulRows);

/** Part 1 on one backend; the GPU also gets the growth grid (part 2). */
async function ownCosts(b: Backend, name: string) {
  log(`${name}: matmul`);
  const matmul = await S.matmulCosts(b, matmulShapes);
  const derivatives = [];
  for (const data of [caseB.train, big]) {
    log(`${name}: gradient and HVP at ${data.n} rows`);
    derivatives.push(
      await S.derivativeCosts(
        b,
        caseB.sizes,
        caseB.wStar,
        caseB.alpha,
        data,
        data.n > 1000 ? 0 : 1500,
      ),
    );
  }
  log(`${name}: CG (${SIZES.cgMemoryIterations} iterations for memory)`);
  const cg = await S.cgCosts(b, caseB, SIZES.cgMemoryIterations);
  log(`${name}: hypergradient`);
  const hypergradient = await S.hypergradientCosts(b, caseB);
  const hypergradientValidationSide = await S.hypergradientCosts(b, caseB, 'validation');
  log(`${name}: HOAG step`);
  const hoagStep = await S.hoagStepCosts(b, caseB);
  let growth: S.GrowthPoint[] | undefined;
  if (b.kind === 'webgpu') {
    growth = await S.growth(b, SIZES.growth, (p) =>
      log(
        `${name}: growth rows ${p.rows} width ${p.width}: HVP ${p.hvp.medianMs.toFixed(1)} ms, ${(p.bytesLive / 2 ** 20).toFixed(1)} MiB`,
      ),
    );
  }
  return {
    backend: name,
    info: b.info,
    matmul,
    derivatives,
    cg,
    hypergradient,
    hypergradientValidationSide,
    hoagStep,
    growth,
  };
}

/** PyTorch on the same data and weights, or why it was skipped. */
function torchPeer(): { skipped: string } | Record<string, unknown> {
  if (args.has('--no-torch')) return { skipped: '--no-torch given' };
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return {
      skipped: `${PYTHON} has no torch (apt-get install -y python3-torch): ${probe.stderr?.trim().split('\n').pop() ?? probe.error}`,
    };
  const input = join(tmpdir(), `hypergrad-bench-torch-${process.pid}.json`);
  writeFileSync(
    input,
    JSON.stringify({
      sizes: caseB.sizes,
      slope: caseB.slope,
      alpha: caseB.alpha,
      nugget: caseB.nugget,
      w: caseB.wStar,
      v,
      train: caseB.train,
      val: caseB.val,
      big,
      cgRtol: 1e-10,
      cgMaxIter: caseB.wStar.length,
      threads: 1,
    }),
  );
  log('torch: gradient, HVP, CG, hypergradient');
  const out = execFileSync(PYTHON, [join(here, 'torch_hypergrad.py'), input], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out);
}

async function browserPeers() {
  const { createServer } = await import('vite');
  const { chromium } = await import('playwright-core');
  const server = await createServer({
    root: join(here, 'browser'),
    configFile: false,
    logLevel: 'error',
    // No watcher and no HMR: other work editing src/ mid-run must not reload
    // the page under a running benchmark (seen as "execution context was
    // destroyed").
    server: { port: 0, host: '127.0.0.1', fs: { allow: [root] }, hmr: false, watch: null },
    optimizeDeps: {
      include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@jax-js/jax'],
    },
  });
  await server.listen();
  const url = server.resolvedUrls!.local[0];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--enable-unsafe-webgpu'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => m.text().startsWith('[browser]') && log(m.text()));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction('globalThis.benchReady === true', undefined, { timeout: 120_000 });
    page.setDefaultTimeout(0);
    const input = { caseB, big, v, matmulShapes };
    return await page.evaluate(
      (i) => (globalThis as unknown as { runBench(x: unknown): Promise<unknown> }).runBench(i),
      input,
    );
  } finally {
    await browser.close();
    await server.close();
  }
}

// ---- the run ----

const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  quick,
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  },
  sizes: SIZES,
};

const browserOnly = args.has('--browser-only');
if (!browserOnly) {
  const cpu = new CpuBackend();
  result.cpu = await ownCosts(cpu, 'cpu f64');
  cpu.destroy();
  const gpu = await WebGpuBackend.create();
  result.webgpu = await ownCosts(gpu, 'webgpu (Node, Dawn)');
  gpu.destroy();
}

const torch = browserOnly ? { skipped: '--browser-only given' } : torchPeer();
result.torch = torch;
if ('train' in torch) {
  // Check the numbers agree before any timing is compared.
  const ours = (result.cpu as Awaited<ReturnType<typeof ownCosts>>).derivatives;
  const t = torch as {
    train: { hv: number[]; grad: number[] };
    big: { hv: number[]; grad: number[] };
  };
  result.torchAgreement = {
    hv25: relDiff(t.train.hv, ours[0].hv),
    grad25: relDiff(t.train.grad, ours[0].grad),
    hvBig: relDiff(t.big.hv, ours[1].hv),
    gradBig: relDiff(t.big.grad, ours[1].grad),
  };
  for (const k of ['train', 'big'] as const) {
    delete (t[k] as Partial<typeof t.train>).hv;
    delete (t[k] as Partial<typeof t.train>).grad;
  }
}

if (nodeOnly) result.browser = { skipped: '--node-only given' };
else {
  try {
    result.browser = await browserPeers();
  } catch (e) {
    result.browser = { skipped: `browser run failed: ${(e as Error).message}` };
    log(`browser run failed: ${(e as Error).stack}`);
  }
}
result.seconds = (performance.now() - started) / 1000;

// Vectors were needed only for the checks above.
type WithVectors = { derivatives?: { hv?: unknown; grad?: unknown }[] };
for (const side of [result.cpu, result.webgpu, result.browser] as WithVectors[])
  for (const d of side?.derivatives ?? []) {
    delete d.hv;
    delete d.grad;
  }

const outDir = process.env.OUT ? join(process.env.OUT, 'bench-results') : join(here, 'results');
mkdirSync(outDir, { recursive: true });
const stamp = (result.date as string).slice(0, 10);
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(result, null, 2) + '\n');
if (!browserOnly) writeFileSync(join(outDir, `${stamp}.md`), renderMarkdown(result));
log(`wrote ${join(outDir, stamp)}.json and .md`);
process.exit(0);
