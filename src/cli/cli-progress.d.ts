// The part of cli-progress (a CommonJS package without bundled types) that
// the CLI uses: one bar, its options, and the built-in presets.

declare module 'cli-progress' {
  export interface Options {
    stream?: NodeJS.WritableStream;
    format?: string;
    hideCursor?: boolean | null;
    clearOnComplete?: boolean;
    forceRedraw?: boolean;
    barsize?: number;
  }
  export interface Preset {
    barCompleteChar: string;
    barIncompleteChar: string;
    format: string;
  }
  export class SingleBar {
    constructor(options: Options, preset?: Preset);
    start(total: number, start: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    setTotal(total: number): void;
    stop(): void;
  }
  export const Presets: {
    shades_classic: Preset;
    shades_grey: Preset;
    legacy: Preset;
    rect: Preset;
  };
  const cliProgress: { SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default cliProgress;
}
