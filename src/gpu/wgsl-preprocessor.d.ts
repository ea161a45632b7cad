// Types for wgsl-preprocessor, which ships none: a template-literal tag that
// resolves #if/#elif/#else/#endif on the interpolated values.
declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  export function wgsl(strings: readonly string[], ...values: unknown[]): string;
}
