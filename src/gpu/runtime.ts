// Obtains a WebGPU adapter and device, in a browser (navigator.gpu) or in
// Node (Dawn, through the `webgpu` package), and describes what it found.
// Everything else in src/gpu/ takes the device this returns.

import { NoAdapterError } from '../errors.js';

/** Where Debian's chromium package puts the SwiftShader (CPU) Vulkan driver. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface RequestGpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Accept a fallback (software) adapter; default true. */
  allowFallback?: boolean;
}

export interface Gpu {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** "vendor architecture (description), fallback adapter" and the like. */
  info: string;
}

const NO_ADAPTER_HELP =
  'no WebGPU adapter found. In a browser, use Chrome/Chromium with WebGPU enabled ' +
  '(on Linux: --enable-unsafe-webgpu). In Node, Dawn needs a Vulkan driver: ' +
  'apt-get install chromium libvulkan1 provides the SwiftShader CPU driver, used through ' +
  `VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (tried automatically when the variable is unset).`;

/** The limits the kernels need, raised up to what the adapter allows. */
function wantedLimits(adapter: GPUAdapter): Record<string, number> {
  const a = adapter.limits;
  return {
    maxBufferSize: a.maxBufferSize,
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
}

export function describeAdapter(adapter: GPUAdapter): string {
  const i = adapter.info;
  const parts = [i.vendor, i.architecture, i.device].filter((s) => s && s.length > 0);
  let s = parts.length > 0 ? parts.join(' ') : 'unknown adapter';
  if (i.description) s += ` (${i.description})`;
  // isFallbackAdapter moved from GPUAdapter to GPUAdapterInfo; read either.
  const fallback =
    (i as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  return fallback ? `${s}, fallback adapter` : s;
}

/** Node without a navigator.gpu of its own (Node 21+ has a navigator, but no gpu). */
function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && !globalThis.navigator?.gpu;
}

/** Dawn's GPU object in Node, with the WebGPU globals (GPUBufferUsage, ...) installed. */
async function nodeGpu(): Promise<GPU> {
  // A variable module name keeps vite's browser build from bundling Dawn.
  const name = 'webgpu';
  const mod = (await import(/* @vite-ignore */ name)) as {
    create(flags: string[]): GPU;
    globals: object;
  };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  // Dawn's instance must outlive every adapter and device made from it: if
  // the garbage collector takes it, Dawn aborts the process (seen as a
  // pthread mutex assertion on the next readback). Keep each one for good.
  nodeInstances.push(gpu);
  return gpu;
}
const nodeInstances: GPU[] = [];

async function adapterFrom(gpu: GPU, opts: RequestGpuOptions): Promise<GPUAdapter | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) return null;
  if (opts.allowFallback === false && describeAdapter(adapter).endsWith('fallback adapter'))
    return null;
  return adapter;
}

async function findAdapter(opts: RequestGpuOptions): Promise<GPUAdapter> {
  if (!isNode()) {
    const gpu = globalThis.navigator?.gpu;
    const adapter = gpu ? await adapterFrom(gpu, opts) : null;
    if (!adapter) throw new NoAdapterError(NO_ADAPTER_HELP);
    return adapter;
  }
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } })
    .process.env;
  let adapter = await adapterFrom(await nodeGpu(), opts);
  if (!adapter && env.VK_ICD_FILENAMES === undefined) {
    // Dawn reads the Vulkan loader's variable when an instance is created, so
    // setting it now and creating a second instance finds SwiftShader.
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    adapter = await adapterFrom(await nodeGpu(), opts);
  }
  if (!adapter) throw new NoAdapterError(NO_ADAPTER_HELP);
  return adapter;
}

/** An adapter and a device with the limits the kernels need. */
export async function requestGpu(opts: RequestGpuOptions = {}): Promise<Gpu> {
  const adapter = await findAdapter(opts);
  const device = await adapter.requestDevice({
    label: 'hypergrad',
    requiredLimits: wantedLimits(adapter),
  });
  return { adapter, device, info: describeAdapter(adapter) };
}
