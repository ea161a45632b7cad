// Vite config of the browser demo (`npm run demo`, `npm run build`). The demo
// imports the package by its name, 'hypergrad-webgpu', as a user would; the
// `source` condition of package.json's `exports` map points that name at
// src/index.ts, so no built dist/ is needed and edits to src/ show up live.

import { fileURLToPath } from 'node:url';
import { defineConfig, defaultClientConditions } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs: the static build works from any folder or sub-path.
  base: './',
  resolve: { conditions: ['source', ...defaultClientConditions] },
  // The worker is an ES module (WebGPU runs in dedicated workers in Chromium).
  worker: { format: 'es' },
  server: { host: '127.0.0.1', fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
  preview: { host: '127.0.0.1' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
