// Renders one benchmark result (bench/run.ts) as the markdown tables of
// bench/results/<date>.md: our costs, growth, and each peer comparison with
// the ratio measured side by side in the same run and the check that both
// sides computed the same numbers.

/* eslint-disable @typescript-eslint/no-explicit-any -- the result is plain JSON */
type J = any;

const ms = (t: J) =>
  t?.medianMs === undefined ? '—' : t.medianMs < 10 ? t.medianMs.toFixed(2) : t.medianMs.toFixed(1);
const sci = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? '—' : x.toExponential(1);
const mib = (b: number) => (b / 2 ** 20).toFixed(2);
const work = (w: J) => (w ? `${w.submits} / ${w.dispatches} / ${w.readbacks}` : '—');

/** peer time / our time: > 1 means ours is faster. */
function ratio(ours: J, peer: J): string {
  if (!ours?.medianMs || !peer?.medianMs) return '—';
  const r = peer.medianMs / ours.medianMs;
  return r >= 1
    ? `${r.toFixed(2)} (ours faster)`
    : `${r.toFixed(2)} (peer ${(1 / r).toFixed(2)}× faster)`;
}

export function renderMarkdown(r: J): string {
  const L: string[] = [];
  const sides = [r.cpu, r.webgpu].filter(Boolean);
  const br = r.browser?.skipped ? undefined : r.browser;
  L.push(`# Benchmark ${r.date}${r.quick ? ' (quick sizes)' : ''}`, '');
  L.push(
    `Machine: ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}. ` +
      `Adapters: Node ${r.webgpu?.info}; Chromium ${br?.adapter ?? '(' + r.browser?.skipped + ')'}. ` +
      `Total ${r.seconds.toFixed(0)} s. Times are medians (ms) over ≥ 3 runs after a warm-up.`,
    '',
  );

  L.push('## Our costs', '');
  L.push(
    '| measure | cpu f64 (Node) | webgpu f32 (Node, Dawn) | webgpu f32 (Chromium) | goal |',
    '|---|---|---|---|---|',
  );
  const row = (name: string, f: (s: J) => string, fb: string, goal = '') =>
    L.push(`| ${name} | ${sides.map(f).join(' | ')} | ${fb} | ${goal} |`);
  r.cpu.matmul.forEach((m: J, i: number) =>
    row(
      `matmul ${m.shape.name}, ms (GFLOP/s)`,
      (s) => `${ms(s.matmul[i].time)} (${s.matmul[i].gflops.toFixed(2)})`,
      br ? `${ms(br.matmul[i].time)} (${br.matmul[i].gflops.toFixed(2)})` : '—',
    ),
  );
  r.cpu.derivatives.forEach((d: J, i: number) => {
    const b = br?.derivatives[i];
    row(`gradient, ${d.rows} rows`, (s) => ms(s.derivatives[i].gradient), ms(b?.gradient));
    row(`HVP, ${d.rows} rows`, (s) => ms(s.derivatives[i].hvp), ms(b?.hvp));
    row(
      `HVP / gradient, ${d.rows} rows`,
      (s) => s.derivatives[i].ratio.toFixed(2),
      b ? b.ratio.toFixed(2) : '—',
      '≤ 2.5',
    );
    row(
      `dispatches per gradient / HVP, ${d.rows} rows`,
      (s) => `${s.derivatives[i].gradientWork.dispatches} / ${s.derivatives[i].hvpWork.dispatches}`,
      b ? `${b.gradientWork.dispatches} / ${b.hvpWork.dispatches}` : '—',
    );
  });
  row('one CG iteration (case B, 25 rows)', (s) => ms(s.cg.perIteration), '—');
  row(
    'per CG iteration: submits / dispatches / readbacks',
    (s) =>
      `${s.cg.submitsPerIteration.toFixed(3)} / ${s.cg.dispatchesPerIteration.toFixed(1)} / ${s.cg.readbacksPerIteration.toFixed(3)} (k = ${s.cg.checkEvery})`,
    '—',
    '≤ 1 submit, ≤ 1/k readbacks',
  );
  row(
    'device memory before → after CG iterations',
    (s) =>
      `${s.cg.memory.bytesBefore} → ${s.cg.memory.bytesAfter} B (${s.cg.memory.iterations} it., ${s.cg.memory.solves} solves)`,
    '—',
    'equal',
  );
  row(
    'hypergradient, case B at w*, cold CG (hyper side)',
    (s) =>
      `${ms(s.hypergradient.time)} (CG ${s.hypergradient.cgIterations} it.; value ${s.hypergradient.value.toPrecision(10)}, rel. err ${sci(s.hypergradient.relErrorVsReference)})`,
    '—',
  );
  row(
    'hypergradient, validation side (as the notebook)',
    (s) =>
      `${ms(s.hypergradientValidationSide.time)} (CG ${s.hypergradientValidationSide.cgIterations} it.; rel. err ${sci(s.hypergradientValidationSide.relErrorVsReference)})`,
    '—',
  );
  row('submits / dispatches / readbacks per hypergradient', (s) => work(s.hypergradient.work), '—');
  row(
    'one HOAG outer step (refit from w*(1) at λ = 0.9)',
    (s) =>
      `${ms(s.hoagStep.time)} (${s.hoagStep.innerIterations} inner, ${s.hoagStep.cgIterations} CG it.)`,
    '—',
  );
  L.push('');

  if (r.webgpu?.growth) {
    L.push('## Growth (webgpu, Node): 10 → w → w → 1, HVP at random weights', '');
    L.push(
      '| rows n | width w | HVP ms | peak device MiB (bytesLive) | bytes / (n·w·4) |',
      '|---|---|---|---|---|',
    );
    for (const p of r.webgpu.growth)
      L.push(
        `| ${p.rows} | ${p.width} | ${ms(p.hvp)} | ${mib(p.bytesLive)} | ${p.perRowWidth.toFixed(1)} |`,
      );
    L.push(
      '',
      'The constant is the last column where n·w dominates (large n): the per-row buffers of the objective ' +
        '(Z, dZ, Ż, dŻ per layer and H, dH, Ḣ, dḢ per hidden layer), plus O(w²) weights, scratch and uniforms.',
      '',
    );
  }

  L.push('## Peers, side by side in this run', '');
  L.push(
    'Ratio = peer time / our time (> 1: ours faster). "check" = ‖peer − ours‖/‖ours‖ of the computed vector or value. Work = submits / dispatches / readbacks per call.',
    '',
  );
  L.push(
    '| comparison | ours ms | peer ms | ratio | check | work ours | work peer |',
    '|---|---|---|---|---|---|---|',
  );
  const t = r.torch;
  if (t?.skipped) L.push(`| PyTorch (CPU) | — | — | skipped: ${t.skipped} | | | |`);
  else if (t) {
    const a = r.torchAgreement;
    const tr = `torch ${t.torch} ${t.dtype}, ${t.threads} thread`;
    for (const [i, k, g, h] of [
      [0, 'train', a.grad25, a.hv25],
      [1, 'big', a.gradBig, a.hvBig],
    ] as const) {
      const d = r.cpu.derivatives[i];
      L.push(
        `| gradient ${d.rows} rows: cpu f64 vs ${tr} | ${ms(d.gradient)} | ${ms(t[k].gradient)} | ${ratio(d.gradient, t[k].gradient)} | ${sci(g)} | | |`,
      );
      L.push(
        `| HVP ${d.rows} rows: cpu f64 vs ${tr} (double backward, graph kept) | ${ms(d.hvp)} | ${ms(t[k].hvp)} | ${ratio(d.hvp, t[k].hvp)} | ${sci(h)} | | |`,
      );
      L.push(
        `| HVP ${d.rows} rows: cpu f64 vs ${tr} (graph rebuilt per HVP) | ${ms(d.hvp)} | ${ms(t[k].hvpWithGraph)} | ${ratio(d.hvp, t[k].hvpWithGraph)} | | | |`,
      );
    }
    L.push(
      `| one CG iteration, case B: cpu f64 vs ${tr} | ${ms(r.cpu.cg.perIteration)} | ${ms(t.cgIteration)} | ${ratio(r.cpu.cg.perIteration, t.cgIteration)} | | | |`,
    );
    for (const s of sides) {
      const h = s.hypergradientValidationSide;
      L.push(
        `| hypergradient case B (validation side, as the notebook): ${s.backend} vs ${tr} | ${ms(h.time)} | ${ms(t.hypergradient.time)} | ${ratio(h.time, t.hypergradient.time)} | ${sci(Math.abs(h.value - t.hypergradient.value) / Math.abs(t.hypergradient.value))} (CG ${h.cgIterations} vs ${t.hypergradient.cgIterations} it.) | ${work(h.work)} | |`,
      );
    }
  }
  if (!br) L.push(`| jax-js, tfjs (Chromium) | — | — | skipped: ${r.browser?.skipped} | | | |`);
  else {
    for (const j of br.jax) {
      if (j.skipped) {
        L.push(`| jax-js ${j.device} | — | — | skipped: ${j.skipped} | | | |`);
        continue;
      }
      const i = br.derivatives.findIndex((d: J) => d.rows === j.rows);
      const oursSide = j.device === 'webgpu' ? br.derivatives[i] : r.cpu.derivatives[i];
      const oursName = j.device === 'webgpu' ? 'ours webgpu (Chromium)' : 'ours cpu f64 (Node)';
      const peer = `jax-js ${j.device} f32`;
      const wk = (x: J) => (j.device === 'webgpu' ? work(x) : '');
      L.push(
        `| gradient ${j.rows} rows: ${oursName} vs ${peer} | ${ms(oursSide.gradient)} | ${ms(j.gradient)} | ${ratio(oursSide.gradient, j.gradient)} | | ${wk(oursSide.gradientWork)} | ${wk(j.gradientWork)} |`,
      );
      L.push(
        `| HVP ${j.rows} rows: ${oursName} vs ${peer} jvp(grad) | ${ms(oursSide.hvp)} | ${ms(j.hvp)} | ${ratio(oursSide.hvp, j.hvp)} | ${sci(j.relDiffVsOurs)} | ${wk(oursSide.hvpWork)} | ${wk(j.hvpWork)} |`,
      );
      L.push(
        `| HVP / gradient ${j.rows} rows: ${oursName} vs ${peer} | ${oursSide.ratio.toFixed(2)} | ${j.ratio.toFixed(2)} | | | | |`,
      );
    }
    br.tfjs.forEach((m: J, i: number) => {
      const o = br.matmul[i];
      L.push(
        `| matmul ${m.shape}: ours vs tfjs-backend-webgpu (Chromium) | ${ms(o.time)} | ${ms(m.time)} | ${ratio(o.time, m.time)} | ${sci(m.relDiffVsOurs)} | ${work(o.work)} | ${work(m.work)} |`,
      );
    });
  }
  L.push('');
  return L.join('\n');
}
