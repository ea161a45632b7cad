// The demo page: reads the form, hands the job to the worker (worker.ts),
// and turns its messages into the summary, the step table and four live
// charts. The page itself computes nothing heavy, so it stays responsive;
// the longest main-thread stall during a run is measured and shown.

import {
  CARS_FEATURES,
  CARS_TARGET,
  isNumericColumn,
  loadCars,
  parseCsv,
  parseJsonRecords,
  type HoagStep,
  type Table,
} from 'hypergrad-webgpu';
import { COLORS, LiveChart } from './charts.js';
import { fmt, fmtList } from './format.js';
import { DEFAULT_ALPHA0, DEFAULT_SETTINGS } from './job.js';
import type {
  CgProgress,
  DemoSettings,
  FdCheck,
  FromWorker,
  ModelInfo,
  ToWorker,
} from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const select = (id: string) => $<HTMLSelectElement>(id);

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);

// ---- data: the bundled cars table or the user's file ----

let table: Table = loadCars();

function showTable(t: Table, target: string, features: readonly string[]): void {
  table = t;
  const numeric = t.columns.filter((_, j) => isNumericColumn(t, j));
  const targetSel = select('target');
  targetSel.replaceChildren(...numeric.map((c) => new Option(c, c)));
  targetSel.value = numeric.includes(target) ? target : (numeric[numeric.length - 1] ?? '');
  const wanted = new Set(features);
  $('features').replaceChildren(
    ...numeric.map((c) => {
      const box = Object.assign(document.createElement('input'), { type: 'checkbox', value: c });
      box.checked = features.length === 0 || wanted.has(c);
      const label = document.createElement('label');
      label.append(box, ` ${c}`);
      return label;
    }),
  );
  syncFeatures();
  const other = t.columns.filter((c) => !numeric.includes(c));
  $('data-note').textContent =
    `${t.source}: ${t.rows.length} rows, ${t.columns.length} columns` +
    (other.length ? `; not numeric: ${other.join(', ')}` : '');
}

/** The target cannot be a feature too. */
function syncFeatures(): void {
  const target = select('target').value;
  for (const box of $('features').querySelectorAll<HTMLInputElement>('input')) {
    const isTarget = box.value === target;
    if (isTarget) box.checked = false;
    else if (box.parentElement!.hidden) box.checked = true;
    box.parentElement!.hidden = isTarget;
  }
}

async function loadFile(file: File): Promise<void> {
  try {
    const text = await file.text();
    const t = /\.json$/i.test(file.name)
      ? parseJsonRecords(text, file.name)
      : parseCsv(text, file.name);
    showTable(t, '', []);
    select('dataset').value = 'file';
  } catch (err) {
    $('data-note').textContent = `Could not read ${file.name}: ${(err as Error).message}`;
  }
}

select('dataset').addEventListener('change', () => {
  const cars = select('dataset').value === 'cars';
  $('drop').hidden = cars;
  if (cars) showTable(loadCars(), CARS_TARGET, CARS_FEATURES);
});
select('target').addEventListener('change', syncFeatures);
input('file').addEventListener('change', () => {
  const f = input('file').files?.[0];
  if (f) void loadFile(f);
});
for (const ev of ['dragover', 'drop'] as const)
  document.addEventListener(ev, (e) => {
    e.preventDefault();
    const f = e instanceof DragEvent ? e.dataTransfer?.files[0] : undefined;
    if (ev === 'drop' && f && !running) {
      $('drop').hidden = false;
      void loadFile(f);
    }
  });

// ---- model and tuning fields ----

function syncModel(resetAlpha: boolean): void {
  const mlp = select('model').value === 'mlp';
  for (const el of document.querySelectorAll<HTMLElement>('.mlp-only')) el.hidden = !mlp;
  // One α per layer only means something with more than one layer.
  const perLayer = select('penalty').querySelector<HTMLOptionElement>('option[value=perLayer]')!;
  perLayer.disabled = !mlp;
  if (!mlp) select('penalty').value = 'scalar';
  if (resetAlpha) input('alpha0').value = String(DEFAULT_ALPHA0[mlp ? 'mlp' : 'linear']);
}
select('model').addEventListener('change', () => syncModel(true));

function readSettings(): DemoSettings {
  const num = (id: string, what: string, ok: (x: number) => boolean) => {
    const x = Number(input(id).value);
    if (!ok(x)) throw new Error(`${what}: '${input(id).value}' is out of range`);
    return x;
  };
  const hidden = input('hidden')
    .value.split(',')
    .map((w) => Number(w.trim()));
  const features = [...$('features').querySelectorAll<HTMLInputElement>('input:checked')].map(
    (b) => b.value,
  );
  const model = select('model').value as DemoSettings['model'];
  if (model === 'mlp' && !hidden.every((w) => Number.isInteger(w) && w >= 1))
    throw new Error(`hidden widths: '${input('hidden').value}' is not a list of positive integers`);
  if (features.length === 0) throw new Error('choose at least one feature');
  return {
    backend: select('backend').value as DemoSettings['backend'],
    target: select('target').value,
    features,
    model,
    hidden,
    activation: select('activation').value as DemoSettings['activation'],
    perLayer: select('penalty').value === 'perLayer',
    alpha0: num('alpha0', 'initial α', (x) => x > 0 && Number.isFinite(x)),
    steps: num('steps', 'outer steps', (x) => Number.isInteger(x) && x >= 1),
    seed: num('seed', 'split seed', (x) => Number.isInteger(x) && x >= 0),
    valFraction: num('val-fraction', 'validation share', (x) => x > 0 && x < 1),
    nugget: num('nugget', 'CG nugget', (x) => x >= 0),
    fdEnd: input('fd-end').checked,
    fdStart: input('fd-start').checked,
    cgCheckEvery: num('cg-every', 'CG readback interval', (x) => Number.isInteger(x) && x >= 1),
  };
}

function applySettings(s: DemoSettings): void {
  select('backend').value = s.backend;
  select('model').value = s.model;
  input('hidden').value = s.hidden.join(', ');
  select('activation').value = s.activation;
  select('penalty').value = s.perLayer ? 'perLayer' : 'scalar';
  input('alpha0').value = String(s.alpha0);
  input('steps').value = String(s.steps);
  input('seed').value = String(s.seed);
  input('val-fraction').value = String(s.valFraction);
  input('nugget').value = String(s.nugget);
  input('cg-every').value = String(s.cgCheckEvery);
  input('fd-end').checked = s.fdEnd;
  input('fd-start').checked = s.fdStart;
  syncModel(false);
}

// ---- run state ----

let running = false;
let stallTimer = 0;
let maxStall = 0;

function setState(state: 'idle' | 'running' | 'cancelling', text: string): void {
  running = state !== 'idle';
  const status = $('status');
  status.dataset.state = state;
  status.textContent = text;
  $<HTMLFieldSetElement>('fields').disabled = running;
  $<HTMLButtonElement>('run').disabled = running;
  $<HTMLButtonElement>('cancel').disabled = state !== 'running';
}

/**
 * Two measures of how free the page stayed during a run: the longest gap
 * between 50 ms ticks beyond 50 ms (anything that delayed the page, the
 * operating system's scheduling included), and the longest task on the main
 * thread (Chromium's Long Tasks API: work of the page's own that blocked it).
 */
let stallObserver: PerformanceObserver | undefined;
let longestTask = 0;

function watchStalls(on: boolean): void {
  clearInterval(stallTimer);
  stallObserver?.disconnect();
  if (!on) return;
  maxStall = 0;
  longestTask = 0;
  let last = performance.now();
  stallTimer = window.setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last - 50);
    last = now;
  }, 50);
  if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
    stallObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longestTask = Math.max(longestTask, e.duration);
    });
    stallObserver.observe({ type: 'longtask' });
  }
}

function setValue(id: string, text: string, value?: unknown): void {
  const el = $(id);
  el.textContent = text;
  if (value === undefined) delete el.dataset.value;
  else el.dataset.value = JSON.stringify(value);
}

// ---- charts and tables of one run ----

interface RunView {
  lambda: LiveChart;
  loss: LiveChart;
  cg: LiveChart;
  fd: LiveChart;
  steps: HoagStep[];
  cgKey: string;
  cgSolves: Map<number, number>[];
  model?: ModelInfo;
}
let view: RunView | undefined;

function newView(m: ModelInfo): RunView {
  view?.lambda.destroy();
  view?.loss.destroy();
  view?.cg.destroy();
  view?.fd.destroy();
  const alphaNames = m.nHyper === 1 ? ['α'] : Array.from({ length: m.nHyper }, (_, i) => `α${i}`);
  const solves = m.solveSide === 'hyper' ? alphaNames.map((a) => `solve for ${a}`) : ['solve'];
  return {
    model: m,
    steps: [],
    cgKey: '',
    cgSolves: [],
    lambda: new LiveChart($('chart-lambda'), {
      title: 'α per outer step',
      xLabel: 'step',
      yLabel: 'α',
      logY: true,
      integerX: true,
      series: alphaNames.map((label, i) => ({ label, color: COLORS[i % COLORS.length] })),
    }),
    loss: new LiveChart($('chart-loss'), {
      title: 'Loss per outer step',
      xLabel: 'step',
      yLabel: 'loss',
      logY: true,
      integerX: true,
      series: [
        { label: 'train (penalised)', color: COLORS[0] },
        { label: 'validation F', color: COLORS[1] },
      ],
    }),
    cg: new LiveChart($('chart-cg'), {
      title: 'CG residual ‖r‖/‖b‖, latest solve',
      xLabel: 'CG iteration',
      yLabel: '‖r‖/‖b‖',
      logY: true,
      integerX: true,
      series: solves.map((label, i) => ({ label, color: COLORS[i % COLORS.length] })),
    }),
    fd: new LiveChart($('chart-fd'), {
      title: 'Hypergradient against finite differences',
      xLabel: 'check',
      yLabel: '∂F/∂α',
      integerX: true,
      padX: true,
      series: [
        { label: 'implicit', color: COLORS[0], pointsOnly: true, hollow: true },
        { label: 'finite difference', color: COLORS[3], pointsOnly: true },
      ],
    }),
  };
}

function onStep(v: RunView, s: HoagStep): void {
  v.steps.push(s);
  const x = v.steps.map((t) => t.k);
  v.lambda.setData(
    x,
    s.lambda.map((_, i) => v.steps.map((t) => t.lambda[i])),
  );
  v.loss.setData(x, [v.steps.map((t) => t.trainLoss), v.steps.map((t) => t.value)]);
  const row = document.createElement('tr');
  if (!s.accepted) row.className = 'rejected';
  const verdict = s.accepted
    ? s.reason
      ? `accepted (warning: ${s.reason})`
      : 'accepted'
    : `rejected: ${s.reason}`;
  const cells = [
    String(s.k),
    fmtList(s.lambda),
    fmt(s.value),
    fmt(s.trainLoss),
    fmtList(s.hypergradient),
    String(s.innerIterations),
    String(s.cgIterations),
    s.seconds.toFixed(2),
  ];
  for (const c of cells) row.insertCell().textContent = c;
  const last = row.insertCell();
  last.textContent = s.accepted ? (s.reason ? '⚠' : '✓') : '✗';
  last.title = verdict;
  $('steps-table').querySelector('tbody')!.append(row);
  setValue('final-lambda', `${fmtList(s.lambda)} (step ${s.k})`);
  $('status').textContent =
    `Running: step ${s.k + 1} of ${Number(input('steps').value)} done, F = ${fmt(s.value)}`;
}

const PHASE_TITLE: Record<CgProgress['phase'], string> = {
  'fd-start': 'FD check, initial α',
  hoag: 'HOAG step',
  'fd-end': 'FD check, tuned α',
};

function onCg(v: RunView, p: CgProgress): void {
  const key = `${p.phase}:${p.call}`;
  if (key !== v.cgKey) {
    v.cgKey = key;
    v.cgSolves = [];
    v.cg.setTitle(
      `CG residual, latest solve (${p.phase === 'hoag' ? `${PHASE_TITLE.hoag} ${p.call}` : PHASE_TITLE[p.phase]})`,
    );
  }
  (v.cgSolves[p.solve] ??= new Map()).set(p.iterations, p.relativeResidual);
  const nSeries = v.model!.solveSide === 'hyper' ? v.model!.nHyper : 1;
  const its = [...new Set(v.cgSolves.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  v.cg.setData(
    its,
    Array.from({ length: nSeries }, (_, k) => its.map((i) => v.cgSolves[k]?.get(i) ?? null)),
  );
}

function onFd(v: RunView, checks: FdCheck[]): void {
  v.fd.setData(
    checks.map((_, i) => i),
    [checks.map((c) => c.hypergradient), checks.map((c) => c.finiteDifference)],
  );
  const n = v.model!.nHyper;
  const body = $('fd-table').querySelector('tbody')!;
  body.replaceChildren(
    ...checks.map((c, i) => {
      const row = document.createElement('tr');
      row.dataset.when = c.when;
      row.dataset.index = String(c.index);
      row.dataset.value = JSON.stringify({
        hypergradient: c.hypergradient,
        finiteDifference: c.finiteDifference,
      });
      const name = n === 1 ? '' : `α${c.index}: `;
      for (const t of [
        `${i} ${c.when}`,
        `${name}${fmt(c.lambda)}`,
        fmt(c.hypergradient),
        fmt(c.finiteDifference),
        fmt(c.relativeError),
      ])
        row.insertCell().textContent = t;
      return row;
    }),
  );
}

function resetOutput(): void {
  for (const id of [
    'out-backend',
    'out-data',
    'out-model',
    'final-lambda',
    'val-before',
    'val-after',
    'out-iterations',
    'out-time',
  ])
    setValue(id, '–');
  $('steps-table').querySelector('tbody')!.replaceChildren();
  $('fd-table').querySelector('tbody')!.replaceChildren();
  $('warnings').hidden = true;
  delete $('status').dataset.outcome;
  delete $('status').dataset.maxStallMs;
  delete $('status').dataset.longestTaskMs;
}

function showWarnings(lines: string[]): void {
  $('warnings').hidden = lines.length === 0;
  $('warnings').replaceChildren(
    ...lines.map((l) => Object.assign(document.createElement('p'), { textContent: l })),
  );
}

worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'probe':
      $('adapter').textContent = m.available ? `Adapter: ${m.info}` : 'No WebGPU adapter.';
      if (!m.available) offerCpu(`WebGPU is not available here (${m.info}).`);
      return;
    case 'data': {
      const d = m.data;
      const dropped = d.droppedRows ? `, ${d.droppedRows} dropped (missing values)` : '';
      setValue(
        'out-data',
        `${d.source}: ${d.target} from ${d.features.length} features; ${d.nTrain} train / ${d.nVal} validation rows${dropped}`,
      );
      return;
    }
    case 'backend':
      setValue(
        'out-backend',
        `${m.kind === 'cpu' ? 'CPU float64' : 'WebGPU f32'}: ${m.info}`,
        m.kind,
      );
      if (m.kind === 'webgpu') $('adapter').textContent = `Adapter: ${m.info}`;
      return;
    case 'model':
      if (!view?.model) view = newView(m.model);
      setValue(
        'out-model',
        `${m.model.description}; ${m.model.nParams} parameters, ${m.model.nHyper} α`,
      );
      return;
    case 'cg':
      if (view?.model) onCg(view, m.progress);
      return;
    case 'step':
      if (view?.model) onStep(view, m.step);
      return;
    case 'fd':
      if (view?.model) onFd(view, m.checks);
      return;
  }

  // The run is over and its buffers are released.
  watchStalls(false);
  const status = $('status');
  status.dataset.outcome = m.type;
  status.dataset.maxStallMs = maxStall.toFixed(0);
  status.dataset.longestTaskMs = longestTask.toFixed(0);
  status.dataset.buffersLeft = String(m.released.afterBackend);
  const stall = `page: longest task ${longestTask.toFixed(0)} ms, longest stall ${maxStall.toFixed(0)} ms`;
  if (m.type === 'done') {
    const r = m.result;
    setValue('final-lambda', fmtList(r.lambda), r.lambda);
    setValue('val-before', fmt(r.initialValue), r.initialValue);
    setValue('val-after', fmt(r.value), r.value);
    setValue(
      'out-iterations',
      `${r.steps} outer steps (stopped by ${r.stoppedBy}), ${r.innerIterations} fit, ${r.cgIterations} CG`,
    );
    setValue(
      'out-time',
      `${m.seconds.toFixed(1)} s (HOAG ${r.hoagSeconds.toFixed(1)} s); ${stall}`,
    );
    showWarnings(r.warnings);
    setState('idle', 'Done. Ready for another run.');
  } else if (m.type === 'cancelled') {
    setState('idle', `Cancelled; device buffers released. Ready. (${stall})`);
  } else {
    setState('idle', `${m.name}: ${m.message}`);
    if (m.noAdapter) offerCpu(`WebGPU has no adapter here: ${m.message}`);
  }
});

function offerCpu(text: string): void {
  $('gpu-notice-text').textContent = text;
  $('gpu-notice').hidden = false;
}

$('use-cpu').addEventListener('click', () => {
  select('backend').value = 'cpu';
  $('gpu-notice').hidden = true;
});

$<HTMLFormElement>('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  if (running) return;
  let settings: DemoSettings;
  try {
    settings = readSettings();
  } catch (err) {
    $('status').textContent = (err as Error).message;
    return;
  }
  resetOutput();
  if (view) view.model = undefined;
  setState('running', 'Running…');
  watchStalls(true);
  send({ type: 'run', settings, table });
});

$('cancel').addEventListener('click', () => {
  if (!running) return;
  setState('cancelling', 'Cancelling…');
  send({ type: 'cancel' });
});

window.addEventListener('resize', () => {
  for (const c of [view?.lambda, view?.loss, view?.cg, view?.fd]) c?.resize();
});

// ---- start ----

applySettings(DEFAULT_SETTINGS);
// Empty axes until the first run says how many α there are.
view = newView({ description: '', nParams: 0, nHyper: 1, solveSide: 'validation' });
view.model = undefined;
showTable(table, DEFAULT_SETTINGS.target, DEFAULT_SETTINGS.features);
if (!('gpu' in navigator)) offerCpu('This browser has no WebGPU (navigator.gpu is missing).');
send({ type: 'probe' });
