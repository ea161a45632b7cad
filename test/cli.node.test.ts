// The command-line job end to end: each test spawns `src/cli/main.ts` in a
// child process (through tsx) and checks its exit code, output and JSON
// report. Runs are kept small: the CPU backend, the linear model or a tiny
// MLP, few steps.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import caseA from './fixtures/reference/caseA_linear_ridge.json';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args`; `onStdout` may act on output as it arrives (e.g. send SIGINT). */
function cli(
  args: string[],
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
const at = (name: string) => join(dir, name);

/** A clean CSV: y = x1 − 2·x2 + noise-free wiggle, 40 rows. */
function goodCsv(rows = 40): string {
  const lines = ['x1,x2,x3,y'];
  for (let i = 0; i < rows; i++) {
    const [x1, x2, x3] = [i % 7, (i * 3) % 11, Math.sin(i)];
    lines.push(
      `${x1},${x2},${x3.toFixed(6)},${(x1 - 2 * x2 + 0.5 * x3 + Math.cos(3 * i)).toFixed(6)}`,
    );
  }
  return lines.join('\n') + '\n';
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hypergrad-cli-'));
  writeFileSync(at('good.csv'), goodCsv());
  writeFileSync(at('val.csv'), goodCsv(12));
  const bad = (name: string, row: number, col: string, value: string) => {
    const lines = goodCsv().split('\n');
    const header = lines[0].split(',');
    const cells = lines[row].split(',');
    cells[header.indexOf(col)] = value;
    lines[row] = cells.join(',');
    writeFileSync(at(name), lines.join('\n'));
  };
  bad('text.csv', 5, 'x2', 'abc');
  bad('nan.csv', 7, 'x1', 'NaN');
  bad('inf.csv', 3, 'x3', 'Inf');
  writeFileSync(at('few.csv'), 'x1,y\n1,2\n');
  writeFileSync(
    at('const.csv'),
    goodCsv().replace(/^([^,\n]+),/gm, (m, a) => (a === 'x1' ? m : '5,')),
  );
  const shapes = structuredClone(caseA);
  shapes.instances[0].w_star = shapes.instances[0].w_star.slice(0, 9);
  writeFileSync(at('badshape.json'), JSON.stringify(shapes));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cli', () => {
  test('--help lists the options', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const opt of [
      '--backend',
      '--data',
      '--target',
      '--problem',
      '--json',
      '--per-layer',
      '--steps',
    ])
      expect(r.stdout).toContain(opt);
  });

  test('linear HOAG on the cars table lowers the validation loss and writes the history', async () => {
    const json = at('cars-linear.json');
    const r = await cli([
      ...['--backend', 'cpu', '--model', 'linear', '--steps', '6', '--tol0', '1e-4'],
      ...['--json', json],
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('14 dropped for missing values');
    expect(r.stdout).toMatch(/294 training \/ 98 validation rows \(seed 0/);
    expect(r.stdout).toMatch(/finite-difference check/);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.result.value).toBeLessThanOrEqual(report.result.initialValue);
    expect(report.history).toHaveLength(6);
    expect(report.history[0]).toMatchObject({ k: 0, lambda: [1], accepted: true });
    expect(report.options.tol0).toBe(1e-4);
    expect(r.stdout).toMatch(/inner tolerance ε₀ = 0.0001/);
    const c = report.finiteDifferenceCheck[0];
    expect(c.relativeError).toBeLessThan(1e-2);
    // The three re-solves are reported, converged, and printed.
    for (const f of [c.fits.at, c.fits.minus, c.fits.plus]) expect(f.converged).toBe(true);
    expect(r.stdout).toMatch(/re-solves: λ converged .*; λ − h converged .*; λ \+ h converged/);
    expect(r.stdout).not.toMatch(/did not converge/);
    expect(report.data).toMatchObject({ totalRows: 406, droppedRows: 14, nTrain: 294, nVal: 98 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('on WebGPU the check re-solves and differences in float64 and reports the f32 hypergradient there', async () => {
    const json = at('cars-linear-gpu.json');
    const r = await cli([
      '--backend',
      'webgpu',
      '--model',
      'linear',
      '--steps',
      '3',
      '--json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/F differenced in float64 on the CPU/);
    const c = JSON.parse(readFileSync(json, 'utf8')).finiteDifferenceCheck[0];
    expect(c.differencedOn).toBe('oracle');
    // float64 implicit against float64 central differences (h = 1e-3·λ).
    // The inner fit is exact (a quadratic), so what separates them is the
    // nugget: (H + cI)⁻¹ instead of H⁻¹ moves the implicit value by about
    // c/λ_min(H) ≤ c/α relative (ridge: H ⪰ αI), 3.4e-6 at this α; the FD
    // truncation is ~1e-7. Measured 2.2e-6, the same at h = 1e-4 and 1e-5.
    const alpha = c.lambda;
    expect(Math.abs(c.oracleHypergradient - c.finiteDifference)).toBeLessThan(
      (1.5e-6 / alpha + 1e-6) * Math.abs(c.finiteDifference),
    );
    // The f32 hypergradient at the float64 w*: f32 gradient and CG (rtol
    // 1e-6) on a 5-weight ridge system with condition number < 1e2: 1e-4.
    expect(c.relativeError).toBeLessThan(1e-4);
  });

  test('user CSV with a given validation file, per-layer α, tiny MLP', async () => {
    const json = at('user.json');
    const r = await cli([
      '--backend',
      'cpu',
      '--data',
      at('good.csv'),
      '--target',
      'y',
      '--features',
      'x1,x2,x3',
      '--val',
      at('val.csv'),
      '--hidden',
      '4',
      '--per-layer',
      '--steps',
      '2',
      '--no-check',
      '--json',
      json,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.model.sizes).toEqual([3, 4, 1]);
    expect(report.result.lambda).toHaveLength(2);
    expect(report.data).toMatchObject({ nTrain: 40, nVal: 12, validation: { kind: 'file' } });
  });

  test('--problem caseA --no-fit matches the stored hypergradients to 1e-9 (float64)', async () => {
    const file = 'test/fixtures/reference/caseA_linear_ridge.json';
    for (const k of [0, 1]) {
      const r = await cli([
        '--backend',
        'cpu',
        '--problem',
        file,
        '--instance',
        String(k),
        '--no-fit',
      ]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      const res = caseA.instances[k].results;
      for (const v of ['plain', 'penalised'] as const) {
        const ours = out.variants[v];
        const ref = res[`val_${v}`].hypergradient;
        expect(ours.reference).toEqual([ref]);
        expect(Math.abs(ours.hypergradient[0] - ref) / Math.abs(ref)).toBeLessThan(1e-9);
        expect(ours.relativeDifference).toBeLessThan(1e-9);
        expect(ours.valid).toBe(true);
        expect(ours.fit).toBeNull();
      }
    }
  });

  test('Ctrl-C aborts the run, exits non-zero and writes no report', async () => {
    const json = at('interrupted.json');
    let sent = false;
    const r = await cli(
      ['--backend', 'cpu', '--hidden', '16', '--steps', '200', '--json', json],
      (out, child) => {
        if (!sent && out.includes('step   0')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    );
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(existsSync(json)).toBe(false);
  });

  // Each bad input: exit code 1, one `error:` line naming the culprit, no report.
  const linear = ['--model', 'linear'];
  const ref = 'test/fixtures/reference/caseA_linear_ridge.json';
  const cases: [string, () => string[], RegExp][] = [
    [
      'missing file',
      () => [...linear, '--data', at('nope.csv'), '--target', 'y'],
      /nope\.csv: no such file/,
    ],
    [
      'unknown column',
      () => [...linear, '--data', at('good.csv'), '--target', 'mpg'],
      /good\.csv: unknown target column 'mpg'/,
    ],
    [
      'unknown feature',
      () => [...linear, '--data', at('good.csv'), '--target', 'y', '--features', 'x1,zz'],
      /good\.csv: unknown feature column 'zz'/,
    ],
    [
      'non-numeric value',
      () => [...linear, '--data', at('text.csv'), '--target', 'y', '--features', 'x1,x2'],
      /text\.csv row 5, column x2: 'abc' is not a number/,
    ],
    [
      'NaN',
      () => [...linear, '--data', at('nan.csv'), '--target', 'y'],
      /nan\.csv row 7, column x1: 'NaN' is not a finite number/,
    ],
    [
      'Inf',
      () => [...linear, '--data', at('inf.csv'), '--target', 'y'],
      /inf\.csv row 3, column x3: 'Inf' is not a finite number/,
    ],
    [
      'too few rows',
      () => [...linear, '--data', at('few.csv'), '--target', 'y'],
      /few\.csv: 1 data rows, at least 2 needed/,
    ],
    [
      'constant column',
      () => [...linear, '--data', at('const.csv'), '--target', 'y'],
      /const\.csv, column x1: every value is 5/,
    ],
    [
      'w_star length',
      () => ['--problem', at('badshape.json'), '--no-fit'],
      /badshape\.json: instances\[0\]\.w_star: 9 values.*10 parameters/,
    ],
    [
      'instance out of range',
      () => ['--problem', ref, '--instance', '9'],
      /--instance 9 is out of range/,
    ],
    ['--data without --target', () => ['--data', at('good.csv')], /--data needs --target/],
  ];
  test.concurrent.each(cases)('bad input: %s', async (name, args, message) => {
    const json = at(`${name.replace(/\W+/g, '_')}.json`);
    const r = await cli(['--backend', 'cpu', ...args(), '--json', json]);
    expect(r.code).toBe(1);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(json)).toBe(false);
  });

  test('--backend webgpu runs the linear job on the GPU path', async () => {
    const r = await cli(['--backend', 'webgpu', '--model', 'linear', '--steps', '2']);
    // Dawn's Vulkan loader prints 'error: XDG_RUNTIME_DIR is invalid ...' when
    // the variable is unset; that line is not ours.
    expect(r.stderr).not.toMatch(/^error: (?!XDG_RUNTIME_DIR)/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: webgpu \(f32\): /m);
    expect(r.stdout).toMatch(/tuned λ/);
  });
});
