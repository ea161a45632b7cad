#!/usr/bin/env node
// The `hypergrad` command of package.json "bin": runs main.ts through tsx,
// since this private package runs from its TypeScript sources, not a build.
// src/gpu/shaders.gen.ts must exist (npm install runs `prepare`, which makes it).
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
