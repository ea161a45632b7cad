// Typed errors of the package. Each message says what was expected and what
// was found, so a caller can act on it without reading the source.

/** Base class: every error this package throws on purpose is one of these. */
export class HypergradError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Arrays or buffers whose sizes do not fit together. */
export class ShapeError extends HypergradError {}

/** Input data that cannot be used: NaN/Inf, empty, constant column, ... */
export class DataError extends HypergradError {}

/** No WebGPU adapter could be obtained. */
export class NoAdapterError extends HypergradError {}

/** The GPU device was lost (destroyed, driver reset, ...). */
export class DeviceLostError extends HypergradError {}

/** A request exceeds a limit of the device (buffer size, workgroups, ...). */
export class DeviceLimitError extends HypergradError {}

/** A WGSL shader failed to compile; the message holds the compiler output. */
export class ShaderCompileError extends HypergradError {}

/** An option or argument outside its allowed range. */
export class ArgumentError extends HypergradError {}

/** Use of an object after destroy(). */
export class DestroyedError extends HypergradError {}

/** Thrown when an AbortSignal fires; mirrors the DOM AbortError name. */
export class AbortError extends HypergradError {
  constructor(message = 'the operation was aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}
