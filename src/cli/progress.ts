// Progress of the outer loop: a cli-progress bar on stderr (drawn only when
// stderr is a terminal) and one line per step on stdout. Before each line
// the bar's line is cleared, so the two never interleave on one terminal.

import cliProgress, { type SingleBar } from 'cli-progress';

export class StepProgress {
  readonly #bar: SingleBar | undefined;

  constructor(total: number, label: string) {
    if (!process.stderr.isTTY) return;
    this.#bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {value}/{total} steps | F {F} | {eta_formatted} left`,
        hideCursor: true,
        clearOnComplete: true,
        forceRedraw: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(total, 0, { F: '–' });
  }

  /** Prints `line` to stdout and moves the bar to `done` steps. */
  step(done: number, line: string, F: string): void {
    if (this.#bar) process.stderr.write('\r\x1b[K');
    process.stdout.write(line + '\n');
    this.#bar?.update(done, { F });
  }

  stop(): void {
    this.#bar?.stop();
  }
}
