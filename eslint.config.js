// ESLint for the TypeScript sources and tests, and the Node scripts.
// `npm run lint` runs it.
//
// TypeScript: typescript-eslint `recommended` (syntax rules) plus
// `recommendedTypeChecked` (rules that ask the type checker). The type-checked
// set is what catches the bugs this code base is prone to: a promise nobody
// awaits (no-floating-promises), an async callback handed to an event emitter
// that ignores its promise (no-misused-promises), `await` on a non-promise
// (await-thenable), and `any` leaking from untyped input such as JSON.parse
// (no-unsafe-*). The whole set costs one TypeScript program for the repository,
// built from tsconfig.json (which includes every linted .ts file): about the
// work of `tsc --noEmit`, affordable (some 45 s of CPU, 0.6 GB). `project`
// rather than `projectService`: same findings, 0.6 GB instead of 0.9 GB.
// One rule of the set is off: no-unnecessary-type-assertion. The byte and
// token readers index arrays with `buf[i]!`, written for
// `noUncheckedIndexedAccess`; with that flag off the rule wants every such `!`
// removed (some 370), which is the wrong direction. Turn it on together with
// `noUncheckedIndexedAccess`.
// Unused code is tsc's job (noUnusedLocals, noUnusedParameters in
// tsconfig.json), so the ESLint rule of the same name stays off.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'bench/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'types/**/*.d.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // An async function without await is how this code implements an
      // interface that returns a promise (a throw becomes a rejection).
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
