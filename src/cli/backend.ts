// Chooses the compute backend for a CLI run: WebGPU (f32) when an adapter
// exists, the float64 CPU backend on request or as the fallback of 'auto'.

import { CpuBackend } from '../backend/cpu.js';
import type { Backend, Buf } from '../backend/types.js';
import { WebGpuBackend } from '../backend/webgpu.js';
import { NoAdapterError } from '../errors.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface ChosenBackend {
  backend: Backend;
  /** 'webgpu' or 'cpu', and the adapter or implementation in words. */
  kind: Backend['kind'];
  description: string;
  /** Set when 'auto' fell back to the CPU: why. */
  fallbackReason?: string;
}

/**
 * 'webgpu' fails with NoAdapterError when there is no adapter; 'auto' then
 * falls back to the CPU and says so in `fallbackReason`.
 */
export async function chooseBackend(choice: BackendChoice): Promise<ChosenBackend> {
  if (choice === 'cpu') return describe(cpuBackend());
  try {
    return describe(await WebGpuBackend.create());
  } catch (err) {
    if (choice === 'auto' && err instanceof NoAdapterError)
      return { ...describe(cpuBackend()), fallbackReason: err.message };
    throw err;
  }
}

/** The float64 CPU backend as the CLI runs it (interruptible, see below). */
export function cpuBackend(): CpuBackend {
  return new InterruptibleCpuBackend();
}

/**
 * The CPU backend with a turn of the event loop before each read. CpuBackend
 * computes synchronously and its reads resolve at once, so a whole HOAG run
 * is one chain of microtasks: a SIGINT handler (a macrotask) would not run
 * until the end, and Ctrl-C could not abort. Reads happen a few times per
 * inner iteration, so the yield costs nothing measurable.
 */
class InterruptibleCpuBackend extends CpuBackend {
  override async read(buf: Buf, offset?: number, length?: number): Promise<Float64Array> {
    await new Promise((resolve) => setImmediate(resolve));
    return super.read(buf, offset, length);
  }
}

function describe(backend: Backend): ChosenBackend {
  const precision = backend.kind === 'cpu' ? 'float64' : 'f32';
  return {
    backend,
    kind: backend.kind,
    description: `${backend.kind} (${precision}): ${backend.info}`,
  };
}
