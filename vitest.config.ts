// Two projects run every test file: `node` (Dawn through the `webgpu`
// package, on SwiftShader when no GPU driver is installed) and `browser`
// (Chromium's WebGPU through Playwright). Files named *.node.test.ts need
// Node APIs (fs, child processes) and run in the node project only.

import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
// @ts-expect-error: a plain .mjs script, without types
import { generateShaders } from './scripts/gen-shaders.mjs';

// Tests import src/gpu/shaders.gen.ts; regenerate it so a shader edit is
// always picked up, even when vitest is started directly.
generateShaders();

// SwiftShader's Vulkan driver, shipped with Debian's chromium package; Dawn
// reads the variable when the first instance is created (runtime.ts also
// falls back to it on its own).
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

// Software rasterisers run kernels at ~1 GFLOP/s: give tests room.
const testTimeout = 120_000;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          testTimeout,
          hookTimeout: testTimeout,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.node.test.ts'],
          testTimeout,
          hookTimeout: testTimeout,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: '/usr/bin/chromium',
                args: ['--enable-unsafe-webgpu'],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
