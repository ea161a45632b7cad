// Live line charts on uPlot: a chart keeps its own x and y arrays, the page
// replaces them as messages arrive, and redraws happen at most once per
// animation frame however many messages come in.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtTick } from './format.js';

export interface SeriesSpec {
  label: string;
  color: string;
  /** Markers without connecting lines (for a few discrete values). */
  pointsOnly?: boolean;
  /** Larger rings instead of dots, so a dot on the same spot stays visible. */
  hollow?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic y axis; non-positive values are left out. */
  logY?: boolean;
  /** Integer ticks on x (steps, iterations, indices). */
  integerX?: boolean;
  /** Half a unit of room left and right of the data (for a few discrete points). */
  padX?: boolean;
  series: SeriesSpec[];
}

export const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

export class LiveChart {
  readonly #el: HTMLElement;
  readonly #plot: uPlot;
  readonly #logY: boolean;
  #data: uPlot.AlignedData;
  #frame = 0;

  constructor(el: HTMLElement, spec: ChartSpec) {
    this.#el = el;
    this.#logY = !!spec.logY;
    this.#data = [[], ...spec.series.map(() => [])];
    el.replaceChildren();
    const opts: uPlot.Options = {
      title: spec.title,
      ...this.#size(),
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: spec.padX
          ? { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }
          : { time: false },
        y: spec.logY ? { distr: 3 } : { auto: true },
      },
      axes: [
        {
          label: spec.xLabel,
          incrs: spec.integerX ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] : undefined,
        },
        {
          label: spec.yLabel,
          size: 70,
          values: (_u, splits) => splits.map((v) => (v == null ? '' : fmtTick(v))),
        },
      ],
      series: [
        { label: spec.xLabel },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.pointsOnly ? 0 : 2,
          paths: s.pointsOnly ? () => null : undefined,
          points: s.hollow
            ? { show: true, size: 13, width: 2, stroke: s.color, fill: 'transparent' }
            : { show: true, size: s.pointsOnly ? 7 : 5, fill: s.color },
          spanGaps: true,
        })),
      ],
    };
    this.#plot = new uPlot(opts, this.#data, el);
  }

  #size(): { width: number; height: number } {
    return { width: Math.max(240, this.#el.clientWidth), height: 220 };
  }

  setTitle(title: string): void {
    const t = this.#el.querySelector('.u-title');
    if (t) t.textContent = title;
  }

  /** New data: x and one array per series (null where a series has no value). */
  setData(x: number[], ys: (number | null)[][]): void {
    const clean = this.#logY ? ys.map((y) => y.map((v) => (v !== null && v > 0 ? v : null))) : ys;
    this.#data = [x, ...clean] as uPlot.AlignedData;
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#plot.setData(this.#data);
    });
  }

  resize(): void {
    this.#plot.setSize(this.#size());
  }

  destroy(): void {
    cancelAnimationFrame(this.#frame);
    this.#plot.destroy();
  }
}
